"""The handover minutes ("biên bản bàn giao") of the school mailbox: every field of DOMAIN.md,
the layout of an administrative document, no password, NFC text, never an overwrite; read back
with python-docx from the real file."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import time
import unicodedata
import zipfile
from datetime import date, datetime
from pathlib import Path

import docx
import pytest
from docs_factory import link_picture, red_png
from docx.document import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Pt
from docx.table import Table
from pypdf import PdfReader

from plugins.handover import minutes as minutes_module
from plugins.handover.minutes import (
    BLANK,
    MOTTO,
    MOTTO_LINE,
    PASSWORD_LINE,
    SEAL_HINT,
    SIGN_HINT,
    TITLE,
    MinutesFacts,
    Person,
    convert_to_pdf,
    vietnamese_date,
    write_minutes,
)

FACTS = MinutesFacts(
    school="Trường Tiểu học Bình Chánh",
    governing_body="Phòng Giáo dục và Đào tạo huyện Bình Chánh",
    number="05/BB-THBC",
    place="Bình Chánh",
    when=datetime(2026, 11, 29, 14, 30),
    decision="Quyết định số 15/QĐ-THBC ngày 05/09/2026 của Hiệu trưởng",
    giver=Person("Nguyễn Văn An", "Giáo viên"),
    receiver=Person("Trần Thị Bích", "Giáo viên Tin học"),
    witness=Person("Lê Hoàng Cường", "Hiệu trưởng"),
    address="thbinhchanh@hcm.edu.vn",
    provider="Google Workspace for Education",
    login_url="https://accounts.google.com",
    recovery_moved="Số điện thoại khôi phục 0909 123 456, email khôi phục và xác minh 2 bước "
    "đã chuyển sang Bên nhận",
    password_changed_note="Người nhận đổi mật khẩu lúc 15 giờ 05 phút ngày 29/11/2026",
    giver_key="FEZS-GJCZ-MRPZ-L7U3",
    receiver_key="ABCD-EFGH-IJKL-MNOP",
)
NO_LIBREOFFICE = shutil.which("soffice") is None and shutil.which("libreoffice") is None
SLEEP = shutil.which("sleep")


@pytest.fixture
def without_libreoffice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PATH on which no LibreOffice can be found, whatever this machine has installed."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def converter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> None:
    """A ``soffice`` of the test's own, alone on PATH: a fault that real conversions show."""
    folder = tmp_path / "converter-bin"
    folder.mkdir()
    program = folder / "soffice"
    program.write_text(f"#!/bin/sh\n{script}\n", encoding="utf-8")
    program.chmod(0o755)
    monkeypatch.setenv("PATH", str(folder))


@pytest.fixture
def minutes(tmp_path: Path, without_libreoffice: None) -> Path:
    out = tmp_path / "out" / "Biên bản bàn giao email trường.docx"
    out.parent.mkdir()
    assert write_minutes(out, FACTS) == [out]
    return out


def lines_of(path: Path) -> list[str]:
    """Every paragraph's text in reading order, table cells included."""
    document = docx.Document(str(path))
    lines: list[str] = []
    for child in document.element.body.iterchildren():
        if child.tag == qn("w:p"):
            lines.append("".join(t.text or "" for t in child.iter(qn("w:t"))))
        elif child.tag == qn("w:tbl"):
            for row in Table(child, document).rows:
                for cell in row.cells:
                    lines.extend(p.text for p in cell.paragraphs)
    return lines


def tables_of(path: Path) -> list[Table]:
    return list(docx.Document(str(path)).tables)


def test_every_field_of_the_minutes_is_present(minutes: Path) -> None:
    text = "\n".join(lines_of(minutes))
    expected = [
        "PHÒNG GIÁO DỤC VÀ ĐÀO TẠO HUYỆN BÌNH CHÁNH",
        "TRƯỜNG TIỂU HỌC BÌNH CHÁNH",
        MOTTO,
        MOTTO_LINE,
        "Số: 05/BB-THBC",
        "Bình Chánh, ngày 29 tháng 11 năm 2026",
        TITLE,
        # legal basis
        "Căn cứ Quyết định số 15/QĐ-THBC ngày 05/09/2026 của Hiệu trưởng",
        "Căn cứ Công văn số 2174/GDĐT-TH",
        # time and place
        "vào lúc 14 giờ 30 phút, ngày 29 tháng 11 năm 2026, tại Trường Tiểu học Bình Chánh",
        # parties with positions
        "Bên giao (cán bộ phụ trách email trường trước đây): Ông/Bà Nguyễn Văn An; "
        "chức vụ: Giáo viên.",
        "Bên nhận (cán bộ được phân công phụ trách email trường): Ông/Bà Trần Thị Bích; "
        "chức vụ: Giáo viên Tin học.",
        "Người chứng kiến: Ông/Bà Lê Hoàng Cường; chức vụ: Hiệu trưởng.",
        # what is handed over
        "Google Workspace for Education",
        "https://accounts.google.com",
        FACTS.recovery_moved,
        # statements
        "Bên giao không còn giữ mật khẩu",
        "Người nhận đổi mật khẩu lúc 15 giờ 05 phút ngày 29/11/2026.",
        "Bên nhận chịu trách nhiệm hoàn toàn về tính bảo mật và tính toàn vẹn của hộp thư",
        # signatures
        SIGN_HINT,
        SEAL_HINT,
    ]
    missing = [item for item in expected if item not in text]
    assert missing == []


def test_the_handed_over_table_names_the_account_and_the_mailbox_checks(minutes: Path) -> None:
    table = tables_of(minutes)[1]
    rows = {row.cells[1].text: row.cells[2].text for row in table.rows}
    assert rows["Địa chỉ hộp thư"] == "thbinhchanh@hcm.edu.vn"
    assert rows["Tên đăng nhập"] == "thbinhchanh@hcm.edu.vn"
    assert rows["Nhà cung cấp dịch vụ"] == "Google Workspace for Education"
    assert rows["Trang đăng nhập"] == "https://accounts.google.com"
    # The mailbox state is checked on the day: blanks to fill in by hand.
    assert rows["Dung lượng đã dùng / tổng dung lượng"] == BLANK
    assert rows["Quy tắc chuyển tiếp thư, bộ lọc"] == f"Đã kiểm tra: {BLANK}"
    assert rows["Thiết bị đang đăng nhập"] == f"Đã kiểm tra, đăng xuất: {BLANK}"
    assert rows["Mật khẩu ứng dụng, ứng dụng được cấp quyền"] == f"Đã kiểm tra, thu hồi: {BLANK}"
    assert rows["Các dịch vụ đăng ký bằng địa chỉ hộp thư"] == BLANK
    assert rows["Bản sao xuất toàn bộ hộp thư"] == f"Tệp: {BLANK}\nSHA-256: {BLANK}"
    assert rows["Mã nhận dạng khóa bàn giao (hoso)"] == (
        "Bên giao: FEZS-GJCZ-MRPZ-L7U3\nBên nhận: ABCD-EFGH-IJKL-MNOP"
    )
    assert [row.cells[0].text for row in table.rows][1:] == [str(n) for n in range(1, 13)]


def test_the_password_line_says_it_is_not_written(minutes: Path) -> None:
    password_lines = [line for line in lines_of(minutes) if line.startswith("Mật khẩu:")]
    assert password_lines == [PASSWORD_LINE]
    assert "không ghi trong biên bản" in PASSWORD_LINE
    # Nowhere else in the file either (document properties, styles, …).
    with zipfile.ZipFile(minutes) as archive:
        raw = b"".join(archive.read(name) for name in archive.namelist())
    assert raw.count("Mật khẩu:".encode()) == 1


def test_no_fact_can_carry_the_password() -> None:
    # The only way to keep the password out of the minutes for good: nothing to put it in.
    names = {field.name for field in dataclasses.fields(MinutesFacts)}
    suspicious = {n for n in names if any(w in n for w in ("password", "secret", "pass", "token"))}
    assert suspicious == {"password_changed_note"}


def test_the_header_is_a_two_column_table_with_the_motto(minutes: Path) -> None:
    header = tables_of(minutes)[0]
    left, right = header.rows[0].cells
    governing_body, school = left.paragraphs
    assert not governing_body.runs[0].bold
    assert school.runs[0].bold
    motto, motto_line = right.paragraphs
    assert (motto.text, motto.runs[0].bold) == (MOTTO, True)
    assert (motto_line.text, motto_line.runs[0].bold, motto_line.runs[0].underline) == (
        MOTTO_LINE,
        True,
        True,
    )
    number, place_date = header.rows[1].cells
    assert number.text == "Số: 05/BB-THBC"
    assert place_date.paragraphs[0].runs[0].italic


def test_the_title_is_bold_centred_and_larger(minutes: Path) -> None:
    title = next(p for p in docx.Document(str(minutes)).paragraphs if p.text == TITLE)
    assert title.alignment == WD_ALIGN_PARAGRAPH.CENTER
    assert (title.runs[0].bold, title.runs[0].font.size) == (True, Pt(14))


def test_a4_times_new_roman_13_in_vietnamese(minutes: Path) -> None:
    document: Document = docx.Document(str(minutes))
    section = document.sections[0]
    assert (round(section.page_width.mm), round(section.page_height.mm)) == (210, 297)
    margins = [section.top_margin, section.bottom_margin, section.left_margin]
    assert [round(m.mm) for m in [*margins, section.right_margin]] == [20, 20, 30, 20]
    normal = document.styles["Normal"]
    assert (normal.font.name, normal.font.size) == ("Times New Roman", Pt(13))
    defaults = document.styles.element.find(qn("w:docDefaults")).find(qn("w:rPrDefault"))
    fonts = defaults.find(qn("w:rPr")).find(qn("w:rFonts"))
    assert not any("heme" in key for key in fonts.attrib)  # no Calibri theme font left
    assert fonts.get(qn("w:hAnsi")) == "Times New Roman"
    assert defaults.find(qn("w:rPr")).find(qn("w:lang")).get(qn("w:val")) == "vi-VN"
    # No run overrides the font with another face.
    runs = [run for paragraph in document.paragraphs for run in paragraph.runs]
    assert {run.font.name for run in runs} <= {None, "Times New Roman"}


def test_the_document_properties_name_the_school_not_the_library(minutes: Path) -> None:
    properties = docx.Document(str(minutes)).core_properties
    assert (properties.title, properties.author) == (TITLE, FACTS.school)
    assert "python-docx" not in (properties.last_modified_by or "")


def test_three_signatures_names_lined_up_and_the_seal(minutes: Path) -> None:
    signatures = tables_of(minutes)[-1]
    cells = signatures.rows[0].cells
    headings = [cell.paragraphs[0].text for cell in cells]
    assert headings == ["BÊN GIAO", "BÊN NHẬN", "NGƯỜI CHỨNG KIẾN"]
    assert [cell.text.count(SIGN_HINT) for cell in cells] == [1, 1, 1]
    assert [cell.text.count(SEAL_HINT) for cell in cells] == [0, 0, 1]
    assert "HIỆU TRƯỞNG" in cells[2].text
    names = [cell.paragraphs[-1].text for cell in cells]
    assert names == ["Nguyễn Văn An", "Trần Thị Bích", "Lê Hoàng Cường"]
    # Room to sign, and the three names on the same line of the printed page.
    assert len({len(cell.paragraphs) for cell in cells}) == 1
    assert all(p.text == "" for p in cells[0].paragraphs[-5:-1])


def test_missing_facts_leave_blanks_to_fill_in_by_hand(
    tmp_path: Path, without_libreoffice: None
) -> None:
    facts = dataclasses.replace(
        FACTS,
        number="",
        decision=" ",
        witness=None,
        recovery_moved="",
        password_changed_note="",
    )
    out = tmp_path / "bb.docx"
    write_minutes(out, facts)
    lines = lines_of(out)
    assert "Số: ……/BB-……" in lines
    assert any(line.startswith("Căn cứ Quyết định số …… của Hiệu trưởng") for line in lines)
    assert f"3. Người chứng kiến: Ông/Bà {BLANK}; chức vụ: {BLANK}." in lines
    assert any("Bên nhận đổi mật khẩu lúc …… giờ …… phút" in line for line in lines)
    handed_over = {row.cells[1].text: row.cells[2].text for row in tables_of(out)[1].rows}
    recovery = "Số điện thoại, email khôi phục và xác minh 2 bước (đã chuyển sang Bên nhận)"
    assert handed_over[recovery] == BLANK
    witness_column = tables_of(out)[-1].rows[0].cells[2]
    assert "HIỆU TRƯỞNG" in witness_column.text
    assert witness_column.paragraphs[-1].text == BLANK


def test_decomposed_input_is_written_in_nfc(tmp_path: Path, without_libreoffice: None) -> None:
    # Names typed on a Mac or with Unikey's "Unicode tổ hợp" arrive decomposed (NFD).
    def nfd(text: str) -> str:
        return unicodedata.normalize("NFD", text)

    facts = dataclasses.replace(
        FACTS,
        school=nfd(FACTS.school),
        giver=Person(nfd("Nguyễn Văn An"), nfd("Giáo viên")),
        recovery_moved=nfd(FACTS.recovery_moved),
    )
    assert facts.giver.name != "Nguyễn Văn An"  # the test really feeds NFD
    out = tmp_path / "bb.docx"
    write_minutes(out, facts)
    lines = lines_of(out)
    assert all(unicodedata.is_normalized("NFC", line) for line in lines)
    assert "Nguyễn Văn An" in lines  # the signature line, findable by search
    assert docx.Document(str(out)).core_properties.author == "Trường Tiểu học Bình Chánh"


def test_an_existing_minutes_file_is_never_replaced(
    minutes: Path, without_libreoffice: None
) -> None:
    before = minutes.read_bytes()
    with pytest.raises(FileExistsError):
        write_minutes(minutes, dataclasses.replace(FACTS, number="06/BB-THBC"))
    assert minutes.read_bytes() == before
    assert sorted(p.name for p in minutes.parent.iterdir()) == [minutes.name]


def test_an_existing_pdf_of_that_name_stops_before_anything_is_written(
    tmp_path: Path, without_libreoffice: None
) -> None:
    out = tmp_path / "bb.docx"
    stale = tmp_path / "bb.pdf"
    stale.write_bytes(b"%PDF-1.4 an older handover")
    with pytest.raises(FileExistsError):
        write_minutes(out, FACTS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bb.pdf", "empty-bin"]
    assert stale.read_bytes() == b"%PDF-1.4 an older handover"


def test_without_libreoffice_only_the_docx_and_no_temp_files(minutes: Path) -> None:
    assert [p.name for p in minutes.parent.iterdir()] == [minutes.name]
    assert minutes.read_bytes()[:2] == b"PK"


@pytest.mark.parametrize(
    ("day", "written"),
    [
        (date(2026, 11, 29), "ngày 29 tháng 11 năm 2026"),
        (date(2026, 2, 5), "ngày 05 tháng 02 năm 2026"),
        (date(2026, 9, 5), "ngày 05 tháng 9 năm 2026"),
        (date(2027, 1, 10), "ngày 10 tháng 01 năm 2027"),
    ],
)
def test_dates_are_written_the_administrative_way(day: date, written: str) -> None:
    assert vietnamese_date(day) == written


@pytest.mark.skipif(NO_LIBREOFFICE, reason="LibreOffice (soffice) is not installed here")
def test_with_libreoffice_a_pdf_is_written_next_to_the_docx(tmp_path: Path) -> None:
    out = tmp_path / "Biên bản bàn giao.docx"
    written = write_minutes(out, FACTS)
    pdf = out.with_suffix(".pdf")
    assert written == [out, pdf]
    text = "".join(page.extract_text() for page in PdfReader(pdf).pages)
    assert FACTS.address in text
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([out.name, pdf.name])


@pytest.mark.skipif(
    NO_LIBREOFFICE or shutil.which("pdfimages") is None,
    reason="needs LibreOffice (soffice) and poppler-utils",
)
def test_the_pdf_does_not_pull_in_a_file_the_docx_links_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LibreOffice runs with hoso's hardened profile (agent/office.py), as for `hoso print`:
    a picture that is only a link to a file elsewhere on the computer is not loaded into the
    PDF (minutes edited by hand, or opened from the shared folder, are not to be trusted)."""
    outside = tmp_path / "outside.png"
    outside.write_bytes(red_png())
    out = tmp_path / "out" / "bb.docx"
    out.parent.mkdir()
    with monkeypatch.context() as no_libreoffice:  # the .docx alone first
        no_libreoffice.setenv("PATH", str(out.parent))
        assert write_minutes(out, FACTS) == [out]
    link_picture(out, outside.as_uri())
    pdf = out.with_suffix(".pdf")
    assert convert_to_pdf(out, pdf) == pdf
    text = "".join(page.extract_text() for page in PdfReader(pdf).pages)
    assert FACTS.address in text
    images = subprocess.run(
        ["pdfimages", "-list", str(pdf)], capture_output=True, text=True, check=True
    ).stdout.splitlines()[2:]
    assert images == []
    assert sorted(p.name for p in out.parent.iterdir()) == ["bb.docx", "bb.pdf"]


def test_a_failed_conversion_leaves_the_docx_alone_and_no_work_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    converter(tmp_path, monkeypatch, "exit 1")
    out = tmp_path / "out" / "bb.docx"
    out.parent.mkdir()
    assert write_minutes(out, FACTS) == [out]
    assert [p.name for p in out.parent.iterdir()] == ["bb.docx"]


@pytest.mark.skipif(SLEEP is None or not hasattr(os, "killpg"), reason="needs POSIX sleep")
def test_a_hanging_conversion_is_killed_with_its_children(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # soffice is a launcher whose worker is a child process: the whole group must go.
    pid_file = tmp_path / "worker.pid"
    converter(tmp_path, monkeypatch, f"{SLEEP} 600 &\necho $! > '{pid_file}'\nwait")
    monkeypatch.setattr(minutes_module, "CONVERT_TIMEOUT", 1.0)
    out = tmp_path / "out" / "bb.docx"
    out.parent.mkdir()
    assert write_minutes(out, FACTS) == [out]
    assert [p.name for p in out.parent.iterdir()] == ["bb.docx"]
    worker = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while _alive(worker) and time.monotonic() < deadline:
        os.sched_yield()
    assert not _alive(worker)


def _alive(pid: int) -> bool:
    """True while the process runs (a zombie waiting to be reaped counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_the_pdf_takes_the_docx_name_in_the_same_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Stands in for LibreOffice's command line (absent here): writes <stem>.pdf into --outdir.
    script = "\n".join(
        [
            'while [ "$1" != "--outdir" ]; do shift; done',
            'name="${3##*/}"; name="${name%.docx}"',  # no basename: PATH holds only this
            "printf '%%PDF-1.4 stand-in' > \"$2/$name.pdf\"",
        ]
    )
    converter(tmp_path, monkeypatch, script)
    out = tmp_path / "out" / "Biên bản bàn giao.docx"
    out.parent.mkdir()
    pdf = out.with_suffix(".pdf")
    assert write_minutes(out, FACTS) == [out, pdf]
    assert pdf.read_bytes() == b"%PDF-1.4 stand-in"
    assert sorted(p.name for p in out.parent.iterdir()) == sorted([out.name, pdf.name])


def test_a_pdf_that_appears_during_the_conversion_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The stand-in converter also puts a file at the PDF's final name, as a teacher saving a
    # PDF of that name meanwhile would: it is never replaced.
    out = tmp_path / "out" / "bb.docx"
    out.parent.mkdir()
    script = "\n".join(
        [
            f"printf 'the teacher' > '{out.with_suffix('.pdf')}'",
            'while [ "$1" != "--outdir" ]; do shift; done',
            "printf '%%PDF-1.4 stand-in' > \"$2/bb.pdf\"",
        ]
    )
    converter(tmp_path, monkeypatch, script)
    with pytest.raises(FileExistsError):
        write_minutes(out, FACTS)
    assert out.with_suffix(".pdf").read_bytes() == b"the teacher"
    assert sorted(p.name for p in out.parent.iterdir()) == ["bb.docx", "bb.pdf"]


def test_the_docx_gets_the_usual_permissions(minutes: Path) -> None:
    umask = os.umask(0)
    os.umask(umask)
    assert minutes.stat().st_mode & 0o777 == 0o666 & ~umask
