"""The handover minutes ("biên bản bàn giao") of the school mailbox, as a .docx and, where
LibreOffice is installed, a PDF.

The document carries every field DOMAIN.md lists for these minutes, laid out like a Vietnamese
administrative document (Nghị định 30/2020: Times New Roman 13 pt on A4, margins 2/2/3/2 cm,
header table with the governing body and the national motto). Invariants: the password never
appears, because no fact carries it and its line says so in fixed words; every text written is
NFC; a missing fact leaves a "……" blank to fill in by hand; an existing file is never
replaced, and a file appears whole or not at all.
"""

from __future__ import annotations

import errno
import os
import tempfile
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import cast

from docx import Document as new_document
from docx.document import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.shared import Cm, Pt
from docx.styles.style import ParagraphStyle
from docx.table import Table, _Cell
from docx.text.paragraph import Paragraph
from docx.text.run import Run

from agent.api import (
    ConverterMissing,
    Office,
    a4_page,
    converted_pdf,
    find_soffice,
    fsync_file,
    rename_no_replace,
    save_new,
    use_font,
    vietnamese_defaults,
)

BODY_SIZE = Pt(13)
TITLE_SIZE = Pt(14)
BLANK = "……………………"  # a fact to fill in by hand
SHORT_BLANK = "……"
MOTTO = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
MOTTO_LINE = "Độc lập - Tự do - Hạnh phúc"
TITLE = "BIÊN BẢN BÀN GIAO TÀI KHOẢN HỘP THƯ ĐIỆN TỬ CỦA NHÀ TRƯỜNG"
PASSWORD_LINE = "Mật khẩu: được chuyển riêng qua tệp niêm phong của hoso; không ghi trong biên bản."
LETTER_2174 = (
    "Căn cứ Công văn số 2174/GDĐT-TH ngày 16 tháng 12 năm 2020 của Phòng Giáo dục và Đào tạo "
    "huyện Bình Chánh về hướng dẫn sử dụng hồ sơ sổ sách điện tử trong cơ sở giáo dục tiểu học;"
)
SIGN_HINT = "(Ký, ghi rõ họ tên)"
SEAL_HINT = "(Đóng dấu)"
DEFAULT_NUMBER = f"{SHORT_BLANK}/BB-{SHORT_BLANK}"
DEFAULT_DECISION = f"Quyết định số {SHORT_BLANK} của Hiệu trưởng"
DEFAULT_PASSWORD_CHANGED = (
    f"Bên nhận đổi mật khẩu lúc {SHORT_BLANK} giờ {SHORT_BLANK} phút, ngày {SHORT_BLANK} "
    f"tháng {SHORT_BLANK} năm {SHORT_BLANK} (ghi sau khi xác nhận)"
)
CONVERT_TIMEOUT = 60.0  # seconds; a stuck LibreOffice must not hold the handover
TEMP_PREFIX = ".~hoso-"  # the sync agent ignores these names (agent/local.py)
_TEXT_WIDTH = 16.0  # cm: A4 minus the 3 cm and 2 cm side margins
_SIGNATURE_ROOM = 4  # empty lines to sign in


@dataclass(frozen=True)
class Person:
    name: str
    position: str  # "chức vụ", e.g. "Giáo viên", "Hiệu trưởng"


@dataclass(frozen=True)
class MinutesFacts:
    """What the minutes say. There is deliberately no field for the password.

    ``number`` is the full number printed after "Số:", e.g. "05/BB-THBC"; ``place`` the
    locality of the date line ("Bình Chánh"); ``when`` the time of the handover. An empty
    text leaves a blank to fill in by hand.
    """

    school: str
    governing_body: str
    number: str
    place: str
    when: datetime
    decision: str  # e.g. "Quyết định số 15/QĐ-THBC ngày 05/09/2026 của Hiệu trưởng"
    giver: Person
    receiver: Person
    witness: Person | None
    address: str
    provider: str
    login_url: str
    recovery_moved: str  # what recovery phone/email/2-step moved to the new keeper
    password_changed_note: str  # e.g. "Người nhận đổi mật khẩu lúc … (ghi sau khi xác nhận)"
    # The fingerprints of both keepers' handover keys: on paper, the receiver compares the
    # giver's with what `hoso handover accept` shows before anything is imported.
    giver_key: str = ""
    receiver_key: str = ""


@dataclass(frozen=True)
class _Line:
    """One formatted line of a table cell."""

    text: str
    bold: bool = False
    italic: bool = False
    underline: bool = False


def write_minutes(out_docx: Path, facts: MinutesFacts) -> list[Path]:
    """Write the minutes to ``out_docx`` and, where LibreOffice is installed, a PDF next to
    it (same name, ".pdf"). Returns the paths written, the .docx first.

    FileExistsError if either file is already there: nothing is written then.
    """
    out_pdf = out_docx.with_suffix(".pdf")
    for target in (out_docx, out_pdf):
        if target.exists():
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(target))
    save_new(_build(facts), out_docx)
    pdf = convert_to_pdf(out_docx, out_pdf)
    return [out_docx] if pdf is None else [out_docx, pdf]


def convert_to_pdf(docx: Path, pdf: Path) -> Path | None:
    """Convert ``docx`` to ``pdf`` with LibreOffice; None where LibreOffice is not installed
    or the conversion failed (the .docx stands on its own: opening it makes a PDF too)."""
    try:
        program = find_soffice()
    except ConverterMissing:
        return None
    # Absolute: `--out .` gives a relative folder, and LibreOffice takes its profile as a URI.
    with tempfile.TemporaryDirectory(prefix=TEMP_PREFIX, dir=docx.parent.absolute()) as work:
        folder = Path(work)
        name = str(docx.absolute())
        # CONVERT_TIMEOUT for the PDF to appear, LibreOffice's start included.
        office = Office(program, timeout=CONVERT_TIMEOUT, startup=0)
        failed = office.convert([name], folder, folder, folder / "profile")
        produced = converted_pdf(folder, name)
        if failed or not produced.is_file():
            return None
        fsync_file(produced)  # its bytes on disk before the name that publishes them
        rename_no_replace(produced, pdf)  # a file that appeared meanwhile is kept
    return pdf


def _build(facts: MinutesFacts) -> Document:
    document = new_document()
    a4_page(document)
    _restyle(document)
    _properties(document, facts)
    _header(document, facts)
    _title(document)
    _legal_basis(document, facts)
    _parties(document, facts)
    _handed_over(document, facts)
    _statements(document, facts)
    _signatures(document, facts)
    return document


def _restyle(document: Document) -> None:
    vietnamese_defaults(document, BODY_SIZE)
    normal = cast(ParagraphStyle, document.styles["Normal"])
    use_font(normal, BODY_SIZE, bold=False)
    normal.paragraph_format.space_before = Pt(0)
    normal.paragraph_format.space_after = Pt(3)
    normal.paragraph_format.line_spacing = 1.15


def _properties(document: Document, facts: MinutesFacts) -> None:
    # Shown by Explorer and printed by some drivers; python-docx's template says "python-docx".
    properties = document.core_properties
    properties.title = _nfc(TITLE)
    properties.author = properties.last_modified_by = _nfc(facts.school)
    properties.language = "vi-VN"
    # python-docx stores these as UTC; a naive time is the handover's local time.
    properties.created = properties.modified = facts.when.astimezone(UTC)
    properties.revision = 1


def _header(document: Document, facts: MinutesFacts) -> None:
    table = _table(document, rows=2, widths=(6.5, 9.5))
    governing_body = _or_blank(facts.governing_body).upper()
    school = _or_blank(facts.school).upper()
    _fill(table.cell(0, 0), [_Line(governing_body), _Line(school, bold=True)])
    _fill(table.cell(0, 1), [_Line(MOTTO, bold=True), _Line(MOTTO_LINE, bold=True, underline=True)])
    _fill(table.cell(1, 0), [_Line(f"Số: {facts.number.strip() or DEFAULT_NUMBER}")])
    date_line = f"{_or_blank(facts.place)}, {vietnamese_date(facts.when.date())}"
    _fill(table.cell(1, 1), [_Line(date_line, italic=True)])


def _title(document: Document) -> None:
    paragraph = _paragraph(document, align=WD_ALIGN_PARAGRAPH.CENTER)
    paragraph.paragraph_format.space_before = Pt(12)
    paragraph.paragraph_format.space_after = Pt(12)
    run = _add(paragraph, TITLE, bold=True)
    run.font.size = TITLE_SIZE


def _legal_basis(document: Document, facts: MinutesFacts) -> None:
    decision = facts.decision.strip() or DEFAULT_DECISION
    _body(document, f"Căn cứ {decision} về việc phân công cán bộ phụ trách email trường;")
    _body(document, LETTER_2174)
    when = facts.when
    _body(
        document,
        f"Hôm nay, vào lúc {when.hour:02d} giờ {when.minute:02d} phút, "
        f"{vietnamese_date(when.date())}, tại {_or_blank(facts.school)}, chúng tôi gồm:",
    )


def _parties(document: Document, facts: MinutesFacts) -> None:
    _heading(document, "I. THÀNH PHẦN")
    roles = (
        ("1. Bên giao (cán bộ phụ trách email trường trước đây)", facts.giver),
        ("2. Bên nhận (cán bộ được phân công phụ trách email trường)", facts.receiver),
        ("3. Người chứng kiến", facts.witness),
    )
    for role, person in roles:
        name = _or_blank(person.name if person else "")
        position = _or_blank(person.position if person else "")
        _body(document, f"{role}: Ông/Bà {name}; chức vụ: {position}.")


def _handed_over(document: Document, facts: MinutesFacts) -> None:
    _heading(document, "II. NỘI DUNG BÀN GIAO")
    _body(document, "Bên giao bàn giao cho Bên nhận hộp thư điện tử công vụ của nhà trường:")
    rows = (
        ("Địa chỉ hộp thư", _or_blank(facts.address)),
        ("Nhà cung cấp dịch vụ", _or_blank(facts.provider)),
        ("Trang đăng nhập", _or_blank(facts.login_url)),
        ("Tên đăng nhập", _or_blank(facts.address)),
        (
            "Số điện thoại, email khôi phục và xác minh 2 bước (đã chuyển sang Bên nhận)",
            _or_blank(facts.recovery_moved),
        ),
        ("Dung lượng đã dùng / tổng dung lượng", BLANK),
        ("Quy tắc chuyển tiếp thư, bộ lọc", f"Đã kiểm tra: {BLANK}"),
        ("Thiết bị đang đăng nhập", f"Đã kiểm tra, đăng xuất: {BLANK}"),
        ("Mật khẩu ứng dụng, ứng dụng được cấp quyền", f"Đã kiểm tra, thu hồi: {BLANK}"),
        ("Các dịch vụ đăng ký bằng địa chỉ hộp thư", BLANK),
        ("Bản sao xuất toàn bộ hộp thư", f"Tệp: {BLANK}\nSHA-256: {BLANK}"),
        (
            "Mã nhận dạng khóa bàn giao (hoso)",
            f"Bên giao: {_or_blank(facts.giver_key)}\nBên nhận: {_or_blank(facts.receiver_key)}",
        ),
    )
    table = _table(document, rows=1 + len(rows), widths=(1.2, 6.8, 8.0))
    table.style = document.styles["Table Grid"]
    for column, text in enumerate(("STT", "Nội dung", "Chi tiết")):
        _fill(table.cell(0, column), [_Line(text, bold=True)])
    for number, (item, detail) in enumerate(rows, start=1):
        _fill(table.cell(number, 0), [_Line(str(number))])
        _fill(table.cell(number, 1), [_Line(item)], align=WD_ALIGN_PARAGRAPH.LEFT)
        _fill(table.cell(number, 2), [_Line(detail)], align=WD_ALIGN_PARAGRAPH.LEFT)
    password = _paragraph(document)
    password.paragraph_format.space_before = Pt(6)
    _add(password, PASSWORD_LINE, bold=True)


def _statements(document: Document, facts: MinutesFacts) -> None:
    _heading(document, "III. CAM KẾT CỦA CÁC BÊN")
    changed = facts.password_changed_note.strip().rstrip(".") or DEFAULT_PASSWORD_CHANGED
    statements = (
        "Bên giao cam kết đã bàn giao đầy đủ, đúng thực tế các nội dung trên; từ thời điểm bàn "
        "giao, Bên giao không còn giữ mật khẩu, thiết bị đăng nhập, mật khẩu ứng dụng, quy tắc "
        "chuyển tiếp thư hay bất kỳ quyền truy cập nào khác vào hộp thư.",
        f"Bên nhận đã nhận đủ các nội dung trên và đổi ngay mật khẩu hộp thư. {changed}.",
        "Kể từ thời điểm đổi mật khẩu, Bên nhận chịu trách nhiệm hoàn toàn về tính bảo mật và "
        "tính toàn vẹn của hộp thư theo Công văn số 2174/GDĐT-TH.",
    )
    for statement in statements:
        _body(document, f"- {statement}")
    _body(
        document,
        f"Biên bản kết thúc lúc {SHORT_BLANK} giờ {SHORT_BLANK} phút cùng ngày, được lập thành "
        "03 bản có giá trị như nhau: Bên giao giữ 01 bản, Bên nhận giữ 01 bản, nhà trường lưu "
        "01 bản.",
    )


def _signatures(document: Document, facts: MinutesFacts) -> None:
    _paragraph(document)
    table = _table(document, rows=1, widths=(_TEXT_WIDTH / 3,) * 3)
    signed = [_Line(SIGN_HINT, italic=True)]
    # The witness is usually the principal (or a deputy), who stamps the school's seal.
    witness_position = facts.witness.position.strip() if facts.witness else ""
    columns = (
        ([_Line("BÊN GIAO", bold=True), *signed], facts.giver),
        ([_Line("BÊN NHẬN", bold=True), *signed], facts.receiver),
        (
            [
                _Line("NGƯỜI CHỨNG KIẾN", bold=True),
                _Line((witness_position or "Hiệu trưởng").upper(), bold=True),
                *signed,
                _Line(SEAL_HINT, italic=True),
            ],
            facts.witness,
        ),
    )
    tallest = max(len(heading) for heading, _person in columns)
    for cell, (heading, person) in zip(table.rows[0].cells, columns, strict=True):
        # The same number of lines above each name, so that the three names line up.
        room = [_Line("")] * (tallest - len(heading) + _SIGNATURE_ROOM)
        name = _or_blank(person.name if person else "")
        _fill(cell, [*heading, *room, _Line(name, bold=True)])


def vietnamese_date(day: date) -> str:
    """The date as written on administrative documents, e.g. "ngày 05 tháng 02 năm 2026":
    a zero before days under 10 and months under 3, as Nghị định 30/2020 asks (so that
    nothing can be written in front of them)."""
    month = f"{day.month:02d}" if day.month < 3 else str(day.month)
    return f"ngày {day.day:02d} tháng {month} năm {day.year}"


def _table(document: Document, *, rows: int, widths: Sequence[float]) -> Table:
    table = document.add_table(rows=rows, cols=len(widths))
    table.autofit = False
    for row in table.rows:
        for cell, width in zip(row.cells, widths, strict=True):
            cell.width = Cm(width)
    return table


def _fill(
    cell: _Cell, lines: Sequence[_Line], *, align: WD_ALIGN_PARAGRAPH = WD_ALIGN_PARAGRAPH.CENTER
) -> None:
    for index, line in enumerate(lines):
        paragraph = cell.paragraphs[0] if index == 0 else cell.add_paragraph()
        paragraph.alignment = align
        paragraph.paragraph_format.space_after = Pt(0)
        _add(paragraph, line.text, bold=line.bold, italic=line.italic, underline=line.underline)


def _heading(document: Document, text: str) -> None:
    paragraph = _paragraph(document)
    paragraph.paragraph_format.space_before = Pt(6)
    paragraph.paragraph_format.keep_with_next = True
    _add(paragraph, text, bold=True)


def _body(document: Document, text: str) -> None:
    paragraph = _paragraph(document, align=WD_ALIGN_PARAGRAPH.JUSTIFY)
    paragraph.paragraph_format.first_line_indent = Cm(1)
    _add(paragraph, text)


def _paragraph(document: Document, *, align: WD_ALIGN_PARAGRAPH | None = None) -> Paragraph:
    paragraph = document.add_paragraph()
    if align is not None:
        paragraph.alignment = align
    return paragraph


def _add(
    paragraph: Paragraph,
    text: str,
    *,
    bold: bool = False,
    italic: bool = False,
    underline: bool = False,
) -> Run:
    # Every text of the document passes here, so every text is stored in NFC.
    run = paragraph.add_run(_nfc(text))
    run.bold, run.italic, run.underline = bold or None, italic or None, underline or None
    return run


def _or_blank(text: str) -> str:
    return text.strip() or BLANK


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)
