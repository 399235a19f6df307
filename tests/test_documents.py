"""Reading record files into blocks of text: real .docx, .odt, .pdf and .xlsx files written
into tmp_path, legacy fonts converted, and every kind of unreadable file named (.ods, .pptx,
.txt and .md: tests/test_readers_more.py)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import unicodedata
import zipfile
from pathlib import Path

import docx
import pytest
from docs_factory import (
    Para,
    Run,
    Slide,
    Table,
    bloated_docx,
    encrypt_docx,
    lesson_plan,
    make_docx,
    make_ods,
    make_odt,
    make_pdf,
    make_pptx,
    make_raw_docx,
    make_scanned_pdf,
    make_xlsx,
    tcvn3,
    texts,
    unreadable,
    vni,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.documents.legacy import (
    MAX_PART_BYTES,
    MAX_PART_RATIO,
    MAX_UNPACKED_BYTES,
    RATIO_FROM_BYTES,
    encode,
)
from agent.documents.model import (
    Block,
    Legacy,
    Limit,
    TooComplex,
    Unreadable,
    UnreadableReason,
)
from agent.documents.readers import read_document
from agent.documents.sandbox import DEFAULT_LIMITS, shared

# --- Word -----------------------------------------------------------------------------------


def test_docx_blocks_come_in_reading_order_with_tables_where_they_stand(tmp_path: Path) -> None:
    path = make_docx(
        tmp_path / "Bài 5.docx",
        [
            ("KẾ HOẠCH BÀI DẠY", "Title", None, True),
            ("I. Yêu cầu cần đạt", "Heading 1", None, False),
            "Học sinh đọc đúng.",
            Table(
                (
                    ("Hoạt động của giáo viên", "Hoạt động của học sinh"),
                    (["GV nêu câu hỏi.", "GV nhận xét."], Table((("lồng 1", "lồng 2"),))),
                )
            ),
            ("IV. Điều chỉnh sau bài dạy", "Heading 2", None, False),
            "",
            "   ",
            "Không có.",
        ],
    )
    document = read_document(path)
    assert document.format == "docx"
    assert texts(document) == [
        "KẾ HOẠCH BÀI DẠY",
        "I. Yêu cầu cần đạt",
        "Học sinh đọc đúng.",
        "Hoạt động của giáo viên",
        "Hoạt động của học sinh",
        "GV nêu câu hỏi.",
        "GV nhận xét.",
        "lồng 1",
        "lồng 2",
        "IV. Điều chỉnh sau bài dạy",
        "Không có.",
    ]
    assert [b.heading_level for b in document.blocks] == [0, 1] + [None] * 7 + [2, None]
    assert [b.in_table for b in document.blocks] == [False] * 3 + [True] * 6 + [False] * 2
    assert document.legacy_encodings == frozenset()


def test_docx_text_is_nfc(tmp_path: Path) -> None:
    nfd = unicodedata.normalize("NFD", "Rút kinh nghiệm sau tiết dạy")
    document = read_document(make_docx(tmp_path / "nfd.docx", [nfd]))
    assert texts(document) == ["Rút kinh nghiệm sau tiết dạy"]
    assert unicodedata.is_normalized("NFC", document.blocks[0].text)


def test_docx_bold_means_every_visible_run_bold(tmp_path: Path) -> None:
    path = make_docx(
        tmp_path / "bold.docx",
        [
            Para((Run("IV. ", bold=True), Run("Rút kinh nghiệm", bold=True), Run("  "))),
            Para((Run("IV. ", bold=True), Run("Rút kinh nghiệm"))),
            ("Heading style is bold", "Heading 1", None, False),
            "plain",
        ],
    )
    assert [b.bold for b in read_document(path).blocks] == [True, False, True, False]


def test_docx_tcvn3_vni_and_capitals_fonts_are_converted(tmp_path: Path) -> None:
    path = make_docx(
        tmp_path / "cũ.docx",
        [
            tcvn3("kế hoạch bài dạy", ".VnTimeH", bold=True),
            tcvn3("Rút kinh nghiệm"),
            tcvn3("Người dạy", ".VnArial", shy=True),  # "ư" stored as <w:softHyphen/>
            vni("Điều chỉnh sau bài dạy"),
            Table(((tcvn3("Hoạt động của giáo viên"), vni("Hoạt động của học sinh")),)),
        ],
    )
    document = read_document(path)
    assert document.blocks == (
        Block("KẾ HOẠCH BÀI DẠY", bold=True, legacy=Legacy.TCVN3),
        Block("Rút kinh nghiệm", legacy=Legacy.TCVN3),
        Block("Người dạy", legacy=Legacy.TCVN3),
        Block("Điều chỉnh sau bài dạy", legacy=Legacy.VNI),
        Block("Hoạt động của giáo viên", in_table=True, legacy=Legacy.TCVN3),
        Block("Hoạt động của học sinh", in_table=True, legacy=Legacy.VNI),
    )
    assert document.legacy_encodings == {Legacy.TCVN3, Legacy.VNI}


def test_docx_mixed_unicode_and_legacy_runs(tmp_path: Path) -> None:
    path = make_docx(
        tmp_path / "mixed.docx",
        [
            Para((Run("Môn học: "), tcvn3("Tiếng Việt"), Run(" – lớp 3"))),
            "Tên bài học: Ngày hội rừng xanh",
            Para((Run("Người soạn: ", font="Times New Roman"), vni("Lê Thị Bình"))),
        ],
    )
    document = read_document(path)
    assert texts(document) == [
        "Môn học: Tiếng Việt – lớp 3",
        "Tên bài học: Ngày hội rừng xanh",
        "Người soạn: Lê Thị Bình",
    ]
    assert [b.legacy for b in document.blocks] == [Legacy.TCVN3, None, Legacy.VNI]


def test_docx_legacy_font_inherited_from_the_normal_style(tmp_path: Path) -> None:
    path = make_docx(
        tmp_path / "inherited.docx",
        [encode("Điều chỉnh sau bài dạy", Legacy.TCVN3), Run("Rút kinh nghiệm", "Times New Roman")],
        default_font=".VnTime",
    )
    document = read_document(path)
    assert texts(document) == ["Điều chỉnh sau bài dạy", "Rút kinh nghiệm"]
    assert [b.legacy for b in document.blocks] == [Legacy.TCVN3, None]


def test_docx_unicode_text_in_a_legacy_font_is_not_converted(tmp_path: Path) -> None:
    # The font was left at .VnTime but the teacher typed Unicode (Unikey): keep the text.
    path = make_docx(tmp_path / "f.docx", [Run("Rút kinh nghiệm", ".VnTime")])
    assert read_document(path).blocks == (Block("Rút kinh nghiệm"),)


def test_docx_legacy_text_without_a_legacy_font_is_guessed(tmp_path: Path) -> None:
    path = make_docx(
        tmp_path / "guess.docx",
        [
            Run(encode("Điều chỉnh sau bài dạy", Legacy.TCVN3), "Times New Roman"),
            Run(encode("Hoạt động của học sinh", Legacy.VNI)),
            "Rút kinh nghiệm sau tiết dạy",
            "The café was naïve; Noël à l'école",
            "Môn Toán",
        ],
    )
    document = read_document(path)
    assert texts(document) == [
        "Điều chỉnh sau bài dạy",
        "Hoạt động của học sinh",
        "Rút kinh nghiệm sau tiết dạy",
        "The café was naïve; Noël à l'école",
        "Môn Toán",
    ]
    assert [b.legacy for b in document.blocks] == [Legacy.TCVN3, Legacy.VNI, None, None, None]


W_STYLES = """
<w:docDefaults><w:rPrDefault><w:rPr><w:rFonts w:ascii="Arial" w:hAnsi="Arial"/></w:rPr>
</w:rPrDefault></w:docDefaults>
<w:style w:type="paragraph" w:default="1" w:styleId="Normal"><w:name w:val="Normal"/></w:style>
<w:style w:type="paragraph" w:styleId="u1"><w:name w:val="Đề mục 1"/></w:style>
<w:style w:type="paragraph" w:styleId="Muc"><w:name w:val="Mục lớn"/><w:basedOn w:val="H2"/>
</w:style>
<w:style w:type="paragraph" w:styleId="H2"><w:name w:val="heading 2"/><w:basedOn w:val="Loop"/>
<w:rPr><w:b/></w:rPr></w:style>
<w:style w:type="paragraph" w:styleId="Loop"><w:name w:val="Loop"/><w:basedOn w:val="Muc"/>
</w:style>
<w:style w:type="paragraph" w:styleId="Old"><w:name w:val="Old"/>
<w:rPr><w:rFonts w:ascii=".VnTime" w:hAnsi=".VnTime"/></w:rPr></w:style>
<w:style w:type="character" w:styleId="Caps"><w:name w:val="Caps"/>
<w:rPr><w:rFonts w:ascii=".VnTimeH" w:hAnsi=".VnTimeH"/><w:b w:val="0"/></w:rPr></w:style>
"""


def _p(text: str, ppr: str = "", rpr: str = "") -> str:
    run = f'<w:r><w:rPr>{rpr}</w:rPr><w:t xml:space="preserve">{text}</w:t></w:r>'
    return f"<w:p><w:pPr>{ppr}</w:pPr>{run}</w:p>"


def test_a_chain_of_60000_styles_costs_little(tmp_path: Path) -> None:
    # Each paragraph's style walked its whole chain anew: the worker's 20 s limit for 300 KB.
    styles = "".join(
        f'<w:style w:type="paragraph" w:styleId="s{i}"><w:name w:val="s{i}"/>'
        f'<w:basedOn w:val="s{i + 1}"/></w:style>'
        for i in range(60_000)
    )
    body = "".join(_p("Bài", f'<w:pStyle w:val="s{i}"/>') for i in range(0, 60_000, 100))
    path = make_raw_docx(tmp_path / "kiểu.docx", body, styles)
    tight = shared(dataclasses.replace(DEFAULT_LIMITS, cpu_seconds=3))
    assert [block.text for block in tight.read(path).blocks] == ["Bài"] * 600


def test_docx_structures_python_docx_cannot_write(tmp_path: Path) -> None:
    body = "".join(
        [
            _p("Dàn ý", '<w:outlineLvl w:val="2"/>'),
            _p("Đề mục tiếng Việt", '<w:pStyle w:val="u1"/>'),
            _p("Kế thừa", '<w:pStyle w:val="Muc"/>'),  # based on heading 2, via a loop
            _p("Thân bài", '<w:pStyle w:val="Muc"/><w:outlineLvl w:val="9"/>'),
            '<w:p><w:hyperlink w:anchor="x"><w:r><w:t>liên kết</w:t></w:r></w:hyperlink>'
            '<w:sdt><w:sdtContent><w:r><w:t xml:space="preserve"> và ô nhập</w:t></w:r>'
            "</w:sdtContent></w:sdt><w:del><w:r><w:delText>đã xoá</w:delText></w:r></w:del>"
            '<w:ins><w:r><w:t xml:space="preserve"> thêm</w:t></w:r></w:ins>'
            "<w:r><w:tab/><w:t>cuối</w:t></w:r></w:p>",
            "<w:sdt><w:sdtContent>" + _p("trong khối") + "</w:sdtContent></w:sdt>",
            _p(encode("Điều chỉnh sau bài dạy", Legacy.TCVN3), '<w:pStyle w:val="Old"/>'),
            '<w:p><w:r><w:rPr><w:rStyle w:val="Caps"/></w:rPr>'
            f"<w:t>{encode('rút kinh nghiệm', Legacy.TCVN3)}</w:t></w:r></w:p>",
            # the theme font wins over the ascii font: "café" stays (in TCVN3 it is "cafộ")
            _p("café", rpr='<w:rFonts w:ascii=".VnTime" w:hAnsiTheme="minorHAnsi"/>'),
        ]
    )
    document = read_document(make_raw_docx(tmp_path / "raw.docx", body, W_STYLES))
    assert document.blocks == (
        Block("Dàn ý", heading_level=3),
        Block("Đề mục tiếng Việt", heading_level=1),
        Block("Kế thừa", heading_level=2, bold=True),
        Block("Thân bài", bold=True),
        Block("liên kết và ô nhập thêm\tcuối"),
        Block("trong khối"),
        Block("Điều chỉnh sau bài dạy", legacy=Legacy.TCVN3),
        Block("RÚT KINH NGHIỆM", legacy=Legacy.TCVN3),
        Block("café"),
    )


def test_docx_without_styles_part_and_docm_dotx(tmp_path: Path) -> None:
    raw = make_raw_docx(tmp_path / "bare.docx", _p("Một đoạn"))
    assert texts(read_document(raw)) == ["Một đoạn"]
    plan = make_docx(tmp_path / "plan.docx", lesson_plan())
    for suffix in (".docm", ".dotx", ".DOCX"):
        copy = shutil.copy(plan, tmp_path / f"copy{suffix}")
        assert read_document(Path(copy)).blocks == read_document(plan).blocks


def test_a_lesson_plan_reads_whole(tmp_path: Path) -> None:
    document = read_document(make_docx(tmp_path / "khbd.docx", lesson_plan(activity_rows=3)))
    headings = [b.text for b in document.blocks if b.heading_level is not None]
    assert headings == [
        "KẾ HOẠCH BÀI DẠY",
        "I. Yêu cầu cần đạt",
        "II. Đồ dùng dạy học",
        "III. Các hoạt động dạy học chủ yếu",
        "IV. Điều chỉnh sau bài dạy",
    ]
    assert sum(b.in_table for b in document.blocks) == 8
    assert document.blocks[-1].text.startswith("Học sinh hiểu bài")


# --- OpenDocument ---------------------------------------------------------------------------


def test_odt_headings_paragraphs_tables_and_legacy_spans(tmp_path: Path) -> None:
    path = make_odt(
        tmp_path / "Bài 5.odt",
        [
            ("I. Yêu cầu cần đạt", 1),
            "Học sinh đọc đúng.",
            Table((("Giáo viên", "Học sinh"), (tcvn3("Rút kinh nghiệm"), "Ô thường"))),
            ("IV. Điều chỉnh sau bài dạy", 2),
            Para((Run("Môn: "), vni("Tiếng Việt", bold=True))),
            tcvn3("kế hoạch", ".VnTimeH"),
            Para((Run("Đậm", bold=True),)),
            unicodedata.normalize("NFD", "Người dạy"),
        ],
    )
    document = read_document(path)
    assert document.format == "odt"
    assert document.blocks == (
        Block("I. Yêu cầu cần đạt", heading_level=1),
        Block("Học sinh đọc đúng."),
        Block("Giáo viên", in_table=True),
        Block("Học sinh", in_table=True),
        Block("Rút kinh nghiệm", in_table=True, legacy=Legacy.TCVN3),
        Block("Ô thường", in_table=True),
        Block("IV. Điều chỉnh sau bài dạy", heading_level=2),
        Block("Môn: Tiếng Việt", legacy=Legacy.VNI),
        Block("KẾ HOẠCH", legacy=Legacy.TCVN3),
        Block("Đậm", bold=True),
        Block("Người dạy"),
    )


def test_odt_that_is_not_a_text_document_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "x.odt"
    with zipfile.ZipFile(path, "w") as package:
        package.writestr("mimetype", "application/vnd.oasis.opendocument.text")
        package.writestr("content.xml", "<office:document-content/>")
    assert unreadable(path) is UnreadableReason.CORRUPT


# --- PDF ------------------------------------------------------------------------------------


def test_pdf_text_layer_one_block_per_line(tmp_path: Path) -> None:
    path = make_pdf(
        tmp_path / "Bài 5.pdf", ["KẾ HOẠCH BÀI DẠY", "", "Rút kinh nghiệm: học sinh hiểu bài."]
    )
    document = read_document(path)
    assert document.format == "pdf"
    assert texts(document) == ["KẾ HOẠCH BÀI DẠY", "Rút kinh nghiệm: học sinh hiểu bài."]


def test_pdf_without_text_is_no_text(tmp_path: Path) -> None:
    assert unreadable(make_scanned_pdf(tmp_path / "scan.pdf")) is UnreadableReason.NO_TEXT


def test_pdf_with_a_password_is_encrypted(tmp_path: Path) -> None:
    locked = make_pdf(tmp_path / "locked.pdf", ["Bí mật"], password="matkhau")
    assert unreadable(locked) is UnreadableReason.ENCRYPTED


def test_pdf_with_an_empty_user_password_is_read(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "owner-only.pdf", ["Chỉ hạn chế in"], password="")
    assert texts(read_document(path)) == ["Chỉ hạn chế in"]


# --- Excel ----------------------------------------------------------------------------------


def test_xlsx_one_block_per_non_empty_cell(tmp_path: Path) -> None:
    path = make_xlsx(
        tmp_path / "Điểm.xlsx",
        [
            ["Họ và tên", "Toán", None],
            ["Nguyễn Văn An", 9, ""],
            [tcvn3("Lê Thị Bình"), 7.5, Run("Đạt", bold=True)],
        ],
    )
    document = read_document(path)
    assert document.format == "xlsx"
    assert document.blocks == (
        Block("Họ và tên", in_table=True),
        Block("Toán", in_table=True),
        Block("Nguyễn Văn An", in_table=True),
        Block("9", in_table=True),
        Block("Lê Thị Bình", in_table=True, legacy=Legacy.TCVN3),
        Block("7.5", in_table=True),
        Block("Đạt", bold=True, in_table=True),
    )


# --- Unreadable files -----------------------------------------------------------------------


@pytest.fixture
def plan_docx(tmp_path: Path) -> Path:
    return make_docx(tmp_path / "plan.docx", lesson_plan(activity_rows=2))


def test_password_protected_docx_is_encrypted(tmp_path: Path, plan_docx: Path) -> None:
    locked = encrypt_docx(plan_docx, tmp_path / "locked.docx", "mật khẩu")
    assert unreadable(locked) is UnreadableReason.ENCRYPTED
    renamed = shutil.copy(locked, tmp_path / "locked.xlsx")
    assert unreadable(Path(renamed)) is UnreadableReason.ENCRYPTED
    ole_as_odt = shutil.copy(locked, tmp_path / "locked.odt")
    assert unreadable(Path(ole_as_odt)) is UnreadableReason.CORRUPT


@pytest.mark.parametrize("size", [0, 10, 1000, -200])
def test_truncated_docx_is_corrupt(tmp_path: Path, plan_docx: Path, size: int) -> None:
    data = plan_docx.read_bytes()
    broken = tmp_path / "broken.docx"
    broken.write_bytes(data[:size] if size >= 0 else data[: len(data) + size])
    assert unreadable(broken) is UnreadableReason.CORRUPT


@pytest.mark.parametrize("suffix", [".doc", ".xls", ".ppt", ".DOC"])
def test_binary_office_files_are_legacy_format(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"Giáo án cũ{suffix}"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504))
    assert unreadable(path) is UnreadableReason.LEGACY_FORMAT


@pytest.mark.parametrize("suffix", [".pdf", ".docx", ".odt", ".xlsx"])
def test_random_bytes_are_corrupt(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"random{suffix}"
    path.write_bytes(os.urandom(4096))
    assert unreadable(path) is UnreadableReason.CORRUPT


@pytest.mark.parametrize("name", ["slides.odp", "notes.rtf", "page.html", "README"])
def test_other_formats_are_unsupported(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("Rút kinh nghiệm", encoding="utf-8")
    assert unreadable(path) is UnreadableReason.UNSUPPORTED


def too_complex(path: Path) -> Limit:
    with pytest.raises(TooComplex) as raised:
        read_document(path)
    return raised.value.limit


def test_zip_bomb_is_refused_before_parsing(tmp_path: Path, plan_docx: Path) -> None:
    bomb = tmp_path / "bomb.docx"
    shutil.copy(plan_docx, bomb)
    chunk = bytes(1024 * 1024)
    with (
        zipfile.ZipFile(bomb, "a", zipfile.ZIP_DEFLATED) as package,
        package.open("word/media/zeros.bin", "w", force_zip64=True) as entry,
    ):
        for _ in range(MAX_UNPACKED_BYTES // len(chunk) + 1):
            entry.write(chunk)
    assert bomb.stat().st_size < 2 * 1024 * 1024
    assert too_complex(bomb) is Limit.SIZE


def test_a_part_past_the_size_cap_is_refused_unopened(tmp_path: Path) -> None:
    bomb = bloated_docx(tmp_path / "bomb.docx", MAX_PART_BYTES + 1024 * 1024)
    assert bomb.stat().st_size < MAX_PART_BYTES // 100
    assert too_complex(bomb) is Limit.SIZE


def test_a_large_part_compressed_past_the_ratio_cap_is_refused(tmp_path: Path) -> None:
    dense = bloated_docx(tmp_path / "dense.docx", RATIO_FROM_BYTES + 1024 * 1024)
    with zipfile.ZipFile(dense) as package:
        info = package.getinfo("word/document.xml")
    assert info.file_size < MAX_PART_BYTES and info.file_size > MAX_PART_RATIO * info.compress_size
    assert too_complex(dense) is Limit.SIZE


def test_a_main_part_under_another_name_is_capped_too(tmp_path: Path) -> None:
    # _rels/.rels may name any part as the document: the cap applies to what is read.
    bomb = bloated_docx(tmp_path / "renamed.docx", MAX_PART_BYTES + 1024 * 1024)
    with zipfile.ZipFile(bomb) as package:
        parts = {i.filename: package.read(i) for i in package.infolist()}
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as package:
        for name, data in parts.items():
            if name == "_rels/.rels":
                data = data.replace(b"word/document.xml", b"word/document.bin")
            package.writestr("word/document.bin" if name == "word/document.xml" else name, data)
    assert too_complex(bomb) is Limit.SIZE


@pytest.mark.parametrize(
    "body",
    [
        "<w:p><w:r><w:t>unclosed</w:r></w:p>",
        '<w:p><w:r><w:t xmlns:w="x">wrong namespace</w:t></w:r></w:p><w:body>',
    ],
)
def test_broken_xml_is_corrupt(tmp_path: Path, body: str) -> None:
    assert unreadable(make_raw_docx(tmp_path / "bad.docx", body)) is UnreadableReason.CORRUPT


def test_xml_entities_are_refused(tmp_path: Path, plan_docx: Path) -> None:
    path = tmp_path / "laughs.docx"
    with zipfile.ZipFile(plan_docx) as source, zipfile.ZipFile(path, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "word/document.xml":
                data = (
                    b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "ha"><!ENTITY b "&a;&a;&a;">]>'
                    + data.split(b"?>", 1)[1]
                )
            target.writestr(info, data)
    assert unreadable(path) is UnreadableReason.CORRUPT


def test_package_without_a_document_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "empty.docx"
    with zipfile.ZipFile(path, "w") as package:
        package.writestr("hello.txt", "xin chào")
    assert unreadable(path) is UnreadableReason.CORRUPT


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("samples")
    files = [
        make_docx(folder / "a.docx", lesson_plan(activity_rows=2)),
        make_odt(folder / "b.odt", [("Mục", 1), "đoạn", Table((("a", tcvn3("bài")),))]),
        make_pdf(folder / "c.pdf", ["Rút kinh nghiệm"]),
        make_xlsx(folder / "d.xlsx", [["Họ tên", 9]]),
        make_ods(folder / "e.ods", [["Họ tên", tcvn3("bài")], [9, None]]),
        make_pptx(folder / "f.pptx", [Slide(title="Bài 1", body=(tcvn3("Rút kinh nghiệm"),))]),
    ]
    text = folder / "g.txt"
    text.write_text("Rút kinh nghiệm\nHọc sinh", encoding="utf-16")
    return {f.suffix: f.read_bytes() for f in [*files, text]}


@settings(max_examples=80, deadline=None)
@given(
    suffix=st.sampled_from([".docx", ".odt", ".pdf", ".xlsx", ".ods", ".pptx", ".txt"]),
    flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), max_size=8),
    keep=st.floats(0.05, 1),
)
def test_damaged_files_raise_only_unreadable(
    samples: dict[str, bytes],
    tmp_path_factory: pytest.TempPathFactory,
    suffix: str,
    flips: list[tuple[float, int]],
    keep: float,
) -> None:
    data = bytearray(samples[suffix])
    for where, value in flips:
        data[int(where * len(data))] = value
    path = tmp_path_factory.mktemp("damaged") / f"damaged{suffix}"
    path.write_bytes(data[: max(1, int(keep * len(data)))])
    try:
        document = read_document(path)
    except Unreadable as exc:
        assert exc.reason in (UnreadableReason.CORRUPT, UnreadableReason.NO_TEXT)
    except TooComplex as exc:  # a flipped size in the zip directory
        assert exc.limit is Limit.SIZE
    else:
        assert all(unicodedata.is_normalized("NFC", b.text) for b in document.blocks)


def test_a_missing_file_is_the_callers_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_document(tmp_path / "gone.docx")


def test_reading_never_changes_the_file(tmp_path: Path, plan_docx: Path) -> None:
    before = plan_docx.read_bytes(), plan_docx.stat().st_mtime_ns
    read_document(plan_docx)
    assert (plan_docx.read_bytes(), plan_docx.stat().st_mtime_ns) == before
    assert docx.Document(str(plan_docx)).paragraphs[0].text == "KẾ HOẠCH BÀI DẠY"
