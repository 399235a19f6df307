"""The page and fonts of the official documents hoso writes (Word, python-docx).

Vietnamese administrative documents are A4 with a 3 cm binding margin, in Times New Roman;
python-docx's default template says Calibri and English, and Word prefers its theme fonts
over named ones, so every script's font is named explicitly and the language set to vi-VN
(spell check and hyphenation in Vietnamese).
"""

from __future__ import annotations

from docx.document import Document
from docx.oxml.ns import qn
from docx.oxml.xmlchemy import BaseOxmlElement
from docx.shared import Cm, Length
from docx.styles.style import ParagraphStyle

FONT = "Times New Roman"
_THEME_FONTS = ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme")
_SCRIPT_FONTS = ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs")


def a4_page(document: Document) -> None:
    section = document.sections[0]
    section.page_width, section.page_height = Cm(21), Cm(29.7)
    section.top_margin = section.bottom_margin = section.right_margin = Cm(2)
    section.left_margin = Cm(3)  # the binding side


def vietnamese_defaults(document: Document, size: Length) -> None:
    """The font, size and language every style and table inherits."""
    defaults = document.styles.element.find(qn("w:docDefaults"))
    run_defaults = defaults.find(qn("w:rPrDefault")).find(qn("w:rPr"))
    name_font(run_defaults.find(qn("w:rFonts")))
    for name in ("w:sz", "w:szCs"):
        run_defaults.find(qn(name)).set(qn("w:val"), str(int(size.pt * 2)))  # half-points
    run_defaults.find(qn("w:lang")).set(qn("w:val"), "vi-VN")


def use_font(style: ParagraphStyle, size: Length, *, bold: bool) -> None:
    style.font.name = FONT
    style.font.size = size
    style.font.bold = bold
    name_font(style.element.get_or_add_rPr().get_or_add_rFonts())


def name_font(fonts: BaseOxmlElement) -> None:
    """Drop the theme fonts and name ours for every script, so that Vietnamese letters never
    fall back to another face."""
    for attribute in _THEME_FONTS:
        fonts.attrib.pop(qn(attribute), None)
    for attribute in _SCRIPT_FONTS:
        fonts.set(qn(attribute), FONT)
