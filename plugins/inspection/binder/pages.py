"""The pages hoso writes itself into a binder (fpdf2): the cover, the contents, the closing
page of what is not included, and the overlays (footer "Trang x/y", the mark on a record
that fails a check) laid over every numbered page.

Text is Vietnamese always (the binder is printed for the school), set in Liberation Serif
(metric-compatible with Times New Roman, Debian fonts-liberation2), else DejaVu Serif. The
margins are mirrored: the inner edge, where the binding is, is wider.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fpdf import FPDF

from agent.api import UsageError, _

from .layout import Line

A4 = (210.0, 297.0)  # mm
PT = 25.4 / 72  # mm per point
GUTTER = 10.0  # mm added at the binding edge of every page
MARGIN = 15.0  # mm, the outer, top and bottom margins of hoso's own pages
FOOTER_BAND = 12.0  # mm kept free at the bottom of every record page for the footer
LINE = 6.5  # mm, one contents line
LINES_PER_PAGE = 36  # contents lines on one page (A4, title on each)
_FONT_DIR = Path("/usr/share/fonts/truetype")
_FONTS = (
    ("Liberation Serif", "liberation2/LiberationSerif-Regular.ttf",
     "liberation2/LiberationSerif-Bold.ttf"),
    ("DejaVu Serif", "dejavu/DejaVuSerif.ttf", "dejavu/DejaVuSerif-Bold.ttf"),
)  # fmt: skip
FONT_PACKAGES = "sudo apt install fonts-liberation2 fonts-dejavu"


class FontMissing(UsageError):
    """No font with Vietnamese letters for the binder's own pages (exit 2)."""


@dataclass(frozen=True)
class Fonts:
    regular: Path
    bold: Path


@dataclass(frozen=True)
class Cover:
    governing_body: str
    school: str
    title: str  # "KẾ HOẠCH BÀI DẠY"
    teacher: str
    group: str
    subjects: tuple[str, ...]
    school_year: str  # "2026 – 2027"
    period: str  # "Tuần 1–18"


@dataclass(frozen=True)
class Overlay:
    """What is laid over one page of the binder (nothing on the cover and blank pages)."""

    width: float  # points
    height: float
    left: float  # points: where the page's content sits after the gutter
    content_width: float
    footer: str = ""  # "Trang x/y"
    mark: str = ""  # a record included although it fails a check


def find_fonts() -> Fonts:
    """Liberation Serif, else DejaVu Serif, at Debian's paths or where fontconfig says."""
    for family, regular, bold in _FONTS:
        found = [_FONT_DIR / regular, _FONT_DIR / bold]
        if not all(p.is_file() for p in found):
            found = [_fc_match(f"{family}:style={style}") for style in ("Regular", "Bold")]
        if all(p is not None and p.is_file() for p in found):
            return Fonts(*found)  # type: ignore[arg-type]
    raise FontMissing(
        _(
            "The binder needs a font with Vietnamese letters (Liberation Serif or DejaVu Serif). "
            "Install them with: {command} — then run the command again. Nothing was done."
        ).format(command=FONT_PACKAGES)
    )


def _fc_match(pattern: str) -> Path | None:
    if shutil.which("fc-match") is None:
        return None
    try:
        done = subprocess.run(
            ["fc-match", "--format=%{file}", pattern], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    # fc-match always answers with something: only the family asked for counts.
    path = Path(done.stdout.strip())
    wanted = pattern.split(":")[0].replace(" ", "")
    return path if done.returncode == 0 and path.name.startswith(wanted) else None


class _Pdf(FPDF):
    def __init__(self, fonts: Fonts) -> None:
        super().__init__(unit="mm", format="A4")
        self.set_auto_page_break(False)
        self.add_font("Serif", "", str(fonts.regular))
        self.add_font("Serif", "B", str(fonts.bold))
        self.set_font("Serif", size=12)

    def margins_for(self, page: int) -> tuple[float, float]:
        """(left, right) of physical page ``page``: the wide side is the binding."""
        inner = MARGIN + GUTTER
        return (inner, MARGIN) if page % 2 else (MARGIN, inner)

    def centred(self, y: float, text: str, size: float, *, bold: bool = False, page: int) -> None:
        left, right = self.margins_for(page)
        self.set_font("Serif", "B" if bold else "", size)
        self.set_xy(left, y)
        width = A4[0] - left - right
        self.cell(width, size * PT * 1.3, _fit(self, text, width), align="C")


def _fit(pdf: FPDF, text: str, width: float) -> str:
    """``text`` shortened with "…" to fit ``width`` (a name from the share may be long)."""
    if pdf.get_string_width(text) <= width:
        return text
    while text and pdf.get_string_width(text + "…") > width:
        text = text[:-1]
    return text + "…"


def front(fonts: Fonts, cover: Cover, contents: Sequence[Sequence[Line]]) -> bytes:
    """The cover (page 1), its blank back (page 2) and the contents pages (from page 3)."""
    pdf = _Pdf(fonts)
    pdf.add_page()
    _cover(pdf, cover)
    pdf.add_page()
    for index, lines in enumerate(contents):
        pdf.add_page()
        _contents_page(pdf, lines, page=3 + index, first=index == 0)
    return bytes(pdf.output())


def _cover(pdf: _Pdf, cover: Cover) -> None:
    left, right = pdf.margins_for(1)
    pdf.set_line_width(0.8)
    pdf.rect(left - 3, MARGIN - 3, A4[0] - left - right + 6, A4[1] - 2 * MARGIN + 6)
    pdf.set_line_width(0.3)
    pdf.rect(left - 1.5, MARGIN - 1.5, A4[0] - left - right + 3, A4[1] - 2 * MARGIN + 3)
    y = MARGIN + 8
    if cover.governing_body:
        pdf.centred(y, cover.governing_body.upper(), 13, page=1)
        y += 7
    pdf.centred(y, cover.school.upper(), 13, bold=True, page=1)
    y = 110.0
    pdf.centred(y, cover.title, 26, bold=True, page=1)
    y += 30
    rows = [("Giáo viên", cover.teacher)]
    if cover.group:
        rows.append(("Tổ chuyên môn", cover.group))
    if cover.subjects:
        rows.append(("Môn học", ", ".join(cover.subjects)))
    rows.append(("Thời gian", cover.period))
    pdf.set_font("Serif", "", 14)
    for label, value in rows:
        pdf.set_xy(left + 25, y)
        pdf.cell(45, 8, f"{label}:")
        pdf.set_font("Serif", "B", 14)
        pdf.cell(A4[0] - left - right - 75, 8, _fit(pdf, value, A4[0] - left - right - 75))
        pdf.set_font("Serif", "", 14)
        y += 10
    pdf.centred(A4[1] - MARGIN - 20, f"Năm học {cover.school_year}", 14, bold=True, page=1)


def _contents_page(pdf: _Pdf, lines: Sequence[Line], *, page: int, first: bool) -> None:
    left, right = pdf.margins_for(page)
    width = A4[0] - left - right
    pdf.centred(MARGIN + 2, "MỤC LỤC" if first else "MỤC LỤC (tiếp theo)", 15, bold=True, page=page)
    y = MARGIN + 14
    for line in lines:
        indent = 8.0 * line.level
        pdf.set_font("Serif", "" if line.level == 2 else "B", 12)
        number = str(line.page)
        room = width - indent - 18
        title = _fit(pdf, line.title, room)
        pdf.set_xy(left + indent, y)
        pdf.cell(pdf.get_string_width(title) + 1, LINE, title)
        dots_from = left + indent + pdf.get_string_width(title) + 2
        dots_to = left + width - pdf.get_string_width(number) - 2
        dot = pdf.get_string_width(".")
        if dots_to > dots_from:
            pdf.set_xy(dots_from, y)
            pdf.cell(dots_to - dots_from, LINE, "." * int((dots_to - dots_from) / dot))
        pdf.set_xy(left, y)
        pdf.cell(width, LINE, number, align="R")
        y += LINE


def closing(fonts: Fonts, left_out: Sequence[tuple[str, str]], *, first_page: int) -> bytes:
    """The pages listing what is not in the binder and why (``first_page``: its number)."""
    pdf = _Pdf(fonts)
    pdf.add_page()
    page = first_page
    left, right = pdf.margins_for(page)
    pdf.centred(MARGIN + 2, "NHỮNG HỒ SƠ KHÔNG CÓ TRONG TẬP", 15, bold=True, page=page)
    pdf.set_font("Serif", "", 11)
    pdf.set_xy(left, MARGIN + 14)
    pdf.multi_cell(
        A4[0] - left - right,
        5.5,
        "Các tệp dưới đây thuộc khoảng thời gian và loại hồ sơ đã chọn nhưng không được in "
        "vào tập này, kèm lý do:",
    )
    for index, (path, reason) in enumerate(left_out, start=1):
        width = A4[0] - left - right
        # The whole item on this page, or it starts the next: a long path or reason must not
        # run into the footer or off the page.
        needed = _lines(pdf, width, f"{index}. {path}", "B") + _lines(pdf, width - 6, reason, "")
        if pdf.get_y() + needed * 5.5 > A4[1] - MARGIN - FOOTER_BAND:
            pdf.add_page()
            page += 1
            left, right = pdf.margins_for(page)
            pdf.set_xy(left, MARGIN)
        pdf.set_x(left)
        pdf.set_font("Serif", "B", 11)
        pdf.multi_cell(A4[0] - left - right, 5.5, f"{index}. {path}")
        pdf.set_x(left + 6)
        pdf.set_font("Serif", "", 11)
        pdf.multi_cell(A4[0] - left - right - 6, 5.5, reason)
        pdf.ln(1.5)
    return bytes(pdf.output())


def _lines(pdf: FPDF, width: float, text: str, style: str) -> int:
    """How many lines ``text`` takes in a column ``width`` mm wide, at 11 pt."""
    pdf.set_font("Serif", style, 11)
    return len(pdf.multi_cell(width, 5.5, text, dry_run=True, output="LINES"))


def overlays(fonts: Fonts, pages: Sequence[Overlay]) -> bytes:
    """One page per binder page, each the size of that page, holding its footer and mark."""
    pdf = _Pdf(fonts)
    for item in pages:
        width, height = item.width * PT, item.height * PT
        pdf.add_page(format=(width, height))
        left, room = item.left * PT, item.content_width * PT
        if item.mark:
            pdf.set_font("Serif", "B", 9)
            pdf.set_text_color(170, 0, 0)
            pdf.set_xy(left, height - 11)
            pdf.cell(room, 4, _fit(pdf, item.mark, room), align="C")
            pdf.set_text_color(0, 0, 0)
        if item.footer:
            pdf.set_font("Serif", "", 10)
            pdf.set_xy(left, height - 7)
            pdf.cell(room, 4, item.footer, align="C")
    return bytes(pdf.output())
