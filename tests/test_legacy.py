"""Legacy Vietnamese encodings: the TCVN3 and VNI tables, detection by font and by content,
and the Unicode copy of a .docx."""

from __future__ import annotations

import hashlib
import unicodedata
import zipfile
from pathlib import Path

import docx
import pytest
from docs_factory import Para, Run, Table, encrypt_docx, make_docx, tcvn3, vni
from hypothesis import given
from hypothesis import strategies as st

from agent.documents.model import Legacy, Unreadable, UnreadableReason
from agent.documents.readers import read_document
from agent.documents.legacy import (
    UNICODE_FONT,
    convert_docx,
    decode,
    decode_pieces,
    encode,
    font_encoding,
    guess_encoding,
    has_unicode_vietnamese,
    is_capitals_font,
    is_syllable,
    plan_runs,
)

TONES = "\u0300\u0301\u0309\u0303\u0323"
BASES = "aăâeêioôơuưy"
LOWER = sorted({unicodedata.normalize("NFC", b + t) for b in BASES for t in ["", *TONES]} | {"đ"})
ALL_LETTERS = LOWER + [c.upper() for c in LOWER]
TCVN3_CAPITALS = list("ĂÂĐÊÔƠƯ")  # the only capitals outside ASCII a plain ABC font has
OTHER = list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:!?()-–“”…")

# Lines teachers write; each is detected in both encodings with no font to say so.
VIETNAMESE_LINES = [
    "Rút kinh nghiệm",
    "Điều chỉnh sau bài dạy",
    "Kế hoạch bài dạy môn Tiếng Việt lớp 3",
    "Yêu cầu cần đạt",
    "Đồ dùng dạy học",
    "Các hoạt động dạy học chủ yếu",
    "Học sinh đọc đúng, rõ ràng các từ ngữ trong bài.",
    "Giáo viên tổ chức cho học sinh thảo luận nhóm đôi.",
    "Nhận xét, rút kinh nghiệm sau tiết dạy",
    "Sổ ghi chép sinh hoạt chuyên môn và dự giờ",
    "Phòng Giáo dục và Đào tạo huyện Bình Chánh",
    "Người dạy: Nguyễn Thị Lan",
]
# Text that must never be taken for a legacy encoding.
NOT_LEGACY = [
    "Rút kinh nghiệm sau tiết dạy",  # Unicode Vietnamese
    unicodedata.normalize("NFD", "Điều chỉnh sau bài dạy"),  # the same, decomposed (macOS)
    "Môn Toán",  # Unicode Vietnamese with only Latin-1 letters
    "Hoà bình và Toán học",
    "Thoát",
    "The lesson plan ends with a reflection section.",
    "Il est né à Paris. Où est la gare ? Il a été là, déjà.",
    "Le café est très bon ; l'élève a fêté Noël à l'école.",
    "Größe, Mädchen und schöne Grüße aus Köln.",
    "El niño comió con su mamá en la ciudad; ¿qué pasó después?",
    "A informação não está disponível; ação e coração.",
    "IOMLÁN LÍON MEAITS IS MOILLE MEÁN AINM PATRÚN",  # Irish: "MEÁN" reads as VNI "MẾN"
    "© 2024 Trường Tiểu học",
    "Kích thước 5 µm × 3 µm",
    "½ tiết, 25 °C, § 3",
]


def test_samples_of_the_domain_notes_decode() -> None:
    assert decode("Rót kinh nghiÖm", Legacy.TCVN3) == "Rút kinh nghiệm"
    assert decode("§iÒu chØnh sau bµi d¹y", Legacy.TCVN3) == "Điều chỉnh sau bài dạy"
    assert decode("\u00ad", Legacy.TCVN3) == "ư"
    assert decode("Ruùt kinh nghieäm", Legacy.VNI) == "Rút kinh nghiệm"
    assert decode("Ñ", Legacy.VNI) == "Đ"


def test_decode_gives_nfc_and_reads_mixed_case_vni() -> None:
    assert decode("Ngöôøi daïy", Legacy.VNI) == "Người dạy"
    assert decode("ÑIEÀU CHÆNH", Legacy.VNI) == "ĐIỀU CHỈNH"
    assert decode("Ñieàu", Legacy.VNI) == "Điều"
    assert decode("Aø", Legacy.VNI) == "À"  # a capital base with a small mark
    for encoding in Legacy:
        text = decode(encode("nghiệm người", encoding), encoding)
        assert text == unicodedata.normalize("NFC", text) == "nghiệm người"


def test_capitals_fonts_show_lower_case_codes_as_capitals() -> None:
    assert decode("kÕ ho¹ch bµi d¹y", Legacy.TCVN3, capitals=True) == "KẾ HOẠCH BÀI DẠY"
    assert encode("KẾ HOẠCH", Legacy.TCVN3, capitals=True) == "kÕ ho¹ch"


def test_every_letter_has_its_own_code() -> None:
    accented = [c for c in LOWER if not c.isascii()]
    tcvn3_codes = [encode(c, Legacy.TCVN3) for c in accented + TCVN3_CAPITALS]
    vni_codes = [encode(c, Legacy.VNI) for c in ALL_LETTERS]
    assert len(accented) == 67  # 12 vowels × 6 tones + đ, less the 6 plain ASCII vowels
    assert len(set(tcvn3_codes)) == len(tcvn3_codes)
    assert all(len(code) == 1 and "\u00a1" <= code <= "\u00fe" for code in tcvn3_codes)
    assert len(set(vni_codes)) == len(vni_codes) == 146
    assert all(1 <= len(code) <= 2 for code in vni_codes)


def test_encode_refuses_what_the_font_cannot_show() -> None:
    with pytest.raises(ValueError):
        encode("Ầ", Legacy.TCVN3)  # accented capitals need an "H" font
    with pytest.raises(ValueError):
        encode("µ", Legacy.TCVN3)  # would read back as "à"
    with pytest.raises(ValueError):
        encode("ø", Legacy.VNI)  # a VNI mark


@given(st.text(alphabet=st.sampled_from(LOWER + TCVN3_CAPITALS + OTHER)))
def test_tcvn3_round_trip(text: str) -> None:
    assert decode(encode(text, Legacy.TCVN3), Legacy.TCVN3) == text


@given(st.text(alphabet=st.sampled_from(ALL_LETTERS + OTHER)))
def test_tcvn3_capitals_round_trip(text: str) -> None:
    encoded = encode(text, Legacy.TCVN3, capitals=True)
    assert decode(encoded, Legacy.TCVN3, capitals=True) == text.upper()


@given(st.text(alphabet=st.sampled_from(ALL_LETTERS + OTHER)))
def test_vni_round_trip(text: str) -> None:
    assert decode(encode(text, Legacy.VNI), Legacy.VNI) == text


@pytest.mark.parametrize(
    ("font", "encoding", "capitals"),
    [
        (".VnTime", Legacy.TCVN3, False),
        (".VnTimeH", Legacy.TCVN3, True),
        (".VnArialH", Legacy.TCVN3, True),
        (".vnarial narrow", Legacy.TCVN3, False),
        (" .VnCentury Schoolbook ", Legacy.TCVN3, False),
        ("VNI-Times", Legacy.VNI, False),
        ("vni-helve-condense", Legacy.VNI, False),
        ("VNI Aptima", Legacy.VNI, False),
        ("Times New Roman", None, False),
        ("VnTime", None, False),  # no dot: not an ABC font
        ("+theme", None, False),
        ("", None, False),
        (None, None, False),
    ],
)
def test_font_names(font: str | None, encoding: Legacy | None, capitals: bool) -> None:
    assert font_encoding(font) is encoding
    assert is_capitals_font(font) is capitals


@pytest.mark.parametrize("line", VIETNAMESE_LINES)
@pytest.mark.parametrize("encoding", list(Legacy))
def test_guess_recognises_legacy_lines(line: str, encoding: Legacy) -> None:
    source = line.lower() if encoding is Legacy.TCVN3 else line  # plain ABC fonts: no Ầ
    assert guess_encoding(encode(source, encoding)) is encoding


@pytest.mark.parametrize("text", NOT_LEGACY)
def test_guess_leaves_other_text_alone(text: str) -> None:
    assert guess_encoding(text) is None


def test_guess_needs_more_than_one_word() -> None:
    assert guess_encoding(encode("nghiệm", Legacy.TCVN3)) is None
    assert guess_encoding(encode("Rút kinh nghiệm", Legacy.TCVN3)) is Legacy.TCVN3


@given(
    st.text(alphabet=st.sampled_from(ALL_LETTERS + OTHER + list("µ¸¶·¹¨»¾¼½©ªÖØÒ§®«¬"))),
    st.sampled_from(list("ăĂđĐĩĨũŨơƠưƯệẠỹ") + ["e\u0301"]),
)
def test_guess_never_fires_on_unicode_vietnamese(text: str, letter: str) -> None:
    assert guess_encoding(text + letter + text) is None


@pytest.mark.parametrize(
    "word", ["nghiêng", "người", "khuỷu", "quốc", "giữa", "hoàng", "tuyết", "ĐIỀU", "oán", "ạ"]
)
def test_syllables(word: str) -> None:
    assert is_syllable(word)
    assert is_syllable(unicodedata.normalize("NFD", word))


@pytest.mark.parametrize("word", ["café", "élève", "straße", "gỏt", "cat", "hàt", "ộtộ", "aian"])
def test_not_syllables(word: str) -> None:
    assert not is_syllable(word)


def test_runs_in_a_legacy_font_are_planned_by_font_unless_already_unicode() -> None:
    plans = plan_runs(
        ["Rót", "nghiệm", "ABC", "bµi"], [".VnTime", ".VnTime", ".VnTimeH", "Times New Roman"]
    )
    assert plans == [(Legacy.TCVN3, False), None, (Legacy.TCVN3, True), None]


def test_runs_without_a_legacy_font_are_guessed_together() -> None:
    texts = ["Rót ", "kinh ", "nghiÖm"]
    assert plan_runs(texts, [None, "Arial", None]) == [(Legacy.TCVN3, False)] * 3
    assert plan_runs(["Rút ", "kinh"], [None, None]) == [None, None]


def test_a_vni_letter_split_between_runs_is_decoded_whole() -> None:
    plan = (Legacy.VNI, False)
    assert decode_pieces(["nghie", "äm"], [plan, plan]) == ["nghi", "ệm"]
    assert decode_pieces(["nghie", "äm"], [plan, None]) == ["nghie", "äm"]


def test_unicode_vietnamese_detection() -> None:
    assert has_unicode_vietnamese("Người")
    assert has_unicode_vietnamese(unicodedata.normalize("NFD", "Tiếng"))
    assert not has_unicode_vietnamese("Môn Toán")  # only Latin-1 letters
    assert not has_unicode_vietnamese("Rót kinh nghiÖm")


# --- convert_docx ---------------------------------------------------------------------------


def _legacy_docx(path: Path) -> Path:
    document_path = make_docx(
        path,
        [
            Para((tcvn3("kế hoạch bài dạy", ".VnTimeH", bold=True),)),
            Para((Run("Môn: "), tcvn3("Tiếng Việt"))),
            ("I. Yêu cầu cần đạt", "Heading 1", None, True),
            vni("Học sinh đọc đúng các từ ngữ."),
            tcvn3("Người dạy tự rút kinh nghiệm.", shy=True),
            Table(((tcvn3("Hoạt động của giáo viên"), vni("Hoạt động của học sinh")),)),
            Run("Rót kinh nghiÖm"),  # no font at all: guessed
        ],
    )
    document = docx.Document(str(document_path))
    document.sections[0].header.paragraphs[0].add_run(
        encode("Trường Tiểu học Bình Chánh", Legacy.TCVN3)
    ).font.name = ".VnArial"
    document.save(str(document_path))
    return document_path


def test_convert_docx_writes_a_unicode_copy_and_leaves_the_source(tmp_path: Path) -> None:
    source = _legacy_docx(tmp_path / "Giáo án.docx")
    before = hashlib.sha256(source.read_bytes()).hexdigest()
    target = tmp_path / "Giáo án (Unicode).docx"

    converted = convert_docx(source, target)

    assert hashlib.sha256(source.read_bytes()).hexdigest() == before
    assert converted == 8  # 7 runs in the body and table, 1 in the header
    copy = read_document(target)
    assert copy.legacy_encodings == frozenset()
    assert [b.text for b in copy.blocks] == [
        "KẾ HOẠCH BÀI DẠY",
        "Môn: Tiếng Việt",
        "I. Yêu cầu cần đạt",
        "Học sinh đọc đúng các từ ngữ.",
        "Người dạy tự rút kinh nghiệm.",
        "Hoạt động của giáo viên",
        "Hoạt động của học sinh",
        "Rút kinh nghiệm",
    ]
    assert copy.blocks[0].bold
    reopened = docx.Document(str(target))
    header = reopened.sections[0].header.paragraphs[0]
    assert header.text == "Trường Tiểu học Bình Chánh"
    assert {run.font.name for run in header.runs} == {UNICODE_FONT}
    assert reopened.paragraphs[1].runs[0].font.name is None  # the Unicode run is untouched
    assert reopened.paragraphs[1].runs[1].font.name == UNICODE_FONT


def test_convert_docx_copies_the_other_parts_byte_for_byte(tmp_path: Path) -> None:
    source = _legacy_docx(tmp_path / "source.docx")
    target = tmp_path / "copy.docx"
    convert_docx(source, target)
    with zipfile.ZipFile(source) as before, zipfile.ZipFile(target) as after:
        assert before.namelist() == after.namelist()
        changed = {n for n in before.namelist() if before.read(n) != after.read(n)}
    assert changed == {"word/document.xml", "word/header1.xml"}


def test_convert_docx_writes_the_copy_whole_for_its_owner_only(tmp_path: Path) -> None:
    source = _legacy_docx(tmp_path / "source.docx")
    target = tmp_path / "copy.docx"
    convert_docx(source, target)
    assert target.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.docx", "source.docx"]


def test_convert_docx_overrides_a_legacy_font_inherited_from_the_style(tmp_path: Path) -> None:
    source = make_docx(
        tmp_path / "old.docx",
        [encode("Điều chỉnh sau bài dạy", Legacy.TCVN3), "abc"],
        default_font=".VnTime",
    )
    assert read_document(source).legacy_encodings == {Legacy.TCVN3}
    assert convert_docx(source, tmp_path / "new.docx") == 2
    copy = read_document(tmp_path / "new.docx")
    assert [b.text for b in copy.blocks] == ["Điều chỉnh sau bài dạy", "abc"]
    assert copy.legacy_encodings == frozenset()


def test_convert_docx_of_a_unicode_file_converts_nothing(tmp_path: Path) -> None:
    source = make_docx(tmp_path / "new.docx", ["Rút kinh nghiệm", "Lesson plan"])
    assert convert_docx(source, tmp_path / "copy.docx") == 0
    assert [b.text for b in read_document(tmp_path / "copy.docx").blocks] == [
        "Rút kinh nghiệm",
        "Lesson plan",
    ]


def test_convert_docx_refuses_to_overwrite_its_source(tmp_path: Path) -> None:
    source = _legacy_docx(tmp_path / "a.docx")
    before = source.read_bytes()
    with pytest.raises(ValueError):
        convert_docx(source, tmp_path / "." / "a.docx")
    assert source.read_bytes() == before


def test_convert_docx_of_unreadable_files(tmp_path: Path) -> None:
    plain = _legacy_docx(tmp_path / "plain.docx")
    locked = encrypt_docx(plain, tmp_path / "locked.docx", "mật khẩu")
    truncated = tmp_path / "truncated.docx"
    truncated.write_bytes(plain.read_bytes()[: plain.stat().st_size // 2])
    for source, reason in (
        (locked, UnreadableReason.ENCRYPTED),
        (truncated, UnreadableReason.CORRUPT),
    ):
        with pytest.raises(Unreadable) as raised:
            convert_docx(source, tmp_path / "out.docx")
        assert raised.value.reason is reason
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "locked.docx",
        "plain.docx",
        "truncated.docx",
    ]
