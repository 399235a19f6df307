"""The page and fonts of the official documents hoso writes (Word, python-docx), and how
such a document is saved.

Vietnamese administrative documents are A4 with a 3 cm binding margin, in Times New Roman;
python-docx's default template says Calibri and English, and Word prefers its theme fonts
over named ones, so every script's font is named explicitly and the language set to vi-VN
(spell check and hyphenation in Vietnamese).
"""

from __future__ import annotations

import errno
import io
import os
from pathlib import Path

from docx.document import Document
from docx.oxml.ns import qn
from docx.oxml.xmlchemy import BaseOxmlElement
from docx.shared import Cm, Length
from docx.styles.style import ParagraphStyle

from .durable import create_new

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


def save_new(document: Document, path: Path) -> None:
    """Save ``document`` as the new file ``path``: whole or not at all, never over anything
    already there (FileExistsError), never into a missing folder (FileNotFoundError), and with
    the permissions any new file gets here: a document to print and share is no secret."""
    if not path.parent.is_dir():
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(path.parent))
    content = io.BytesIO()
    document.save(content)
    create_new(path, content.getvalue(), mode=_usual_mode())


def _usual_mode() -> int:
    """0666 through the umask, as open() would create the file (durable applies its mode
    exactly). Read where Linux shows it: setting the umask to read it races other threads."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    umask = os.umask(0o077)
    os.umask(umask)
    return 0o666 & ~umask
