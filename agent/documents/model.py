"""The text of a document as the checks see it, whatever its format.

Readers (readers.py) turn .docx, .odt, .ods, .pdf, .pptx, .xlsx, .txt and .md files into a
:class:`Document`: the blocks of text in reading order, already Unicode NFC (text typed in the
legacy TCVN3 or VNI fonts is converted and marked), with enough structure for the lesson-plan
checks (heading style, bold, inside a table or not).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Legacy(enum.StrEnum):
    TCVN3 = "tcvn3"  # .VnTime, .VnArial, .VnTimeH… (one byte per letter)
    VNI = "vni"  # VNI-Times… (base letter + mark byte)


@dataclass(frozen=True)
class Block:
    """One paragraph, PDF or text-file line, table cell paragraph or spreadsheet cell."""

    text: str  # Unicode NFC; legacy-encoded runs converted
    heading_level: int | None = None  # from the style (Title = 0, Heading 1 = 1…), else None
    bold: bool = False  # every non-blank run is bold (real files mark headings this way)
    in_table: bool = False
    legacy: Legacy | None = None  # some of the text was converted from this encoding


# The extensions (lower case) whose text :func:`agent.documents.readers.read_document` reads;
# any other file is known by its name only (the readers answer UNSUPPORTED, or LEGACY_FORMAT).
READABLE_SUFFIXES = frozenset(
    {".docx", ".docm", ".dotx", ".odt", ".ods", ".pdf", ".xlsx", ".xlsm"}
    | {".pptx", ".pptm", ".ppsx", ".txt", ".md"}
)


@dataclass(frozen=True)
class Document:
    format: str  # "docx" | "odt" | "ods" | "pdf" | "pptx" | "xlsx" | "txt" | "md"
    blocks: tuple[Block, ...]

    @property
    def legacy_encodings(self) -> frozenset[Legacy]:
        return frozenset(b.legacy for b in self.blocks if b.legacy is not None)

    @property
    def text(self) -> str:
        return "\n".join(b.text for b in self.blocks)


class UnreadableReason(enum.StrEnum):
    LEGACY_FORMAT = "legacy_format"  # .doc / .xls (binary Office 97–2003)
    ENCRYPTED = "encrypted"  # password-protected
    CORRUPT = "corrupt"  # not a valid file of its format (truncated, renamed…)
    NO_TEXT = "no_text"  # a PDF without a text layer (a scan)
    UNSUPPORTED = "unsupported"  # a format the readers do not know


class Limit(enum.StrEnum):
    """Which limit a document hit while it was being read (:mod:`agent.documents.sandbox`)."""

    SIZE = "size"  # a part declares more bytes unpacked than a record ever holds (zip bomb)
    MEMORY = "memory"  # the reader needed more memory than allowed
    CPU = "cpu"  # the reader used more processor time than allowed
    TIME = "time"  # the reader did not finish in time, and was stopped


class TooComplex(Exception):
    """Reading the file was refused or stopped at a limit; ``detail`` is for the log only."""

    def __init__(self, limit: Limit, detail: str = "") -> None:
        super().__init__(f"{limit.value}: {detail}" if detail else limit.value)
        self.limit = limit
        self.detail = detail


class Unreadable(Exception):
    """The file cannot be checked; ``reason`` says why, ``detail`` is for the log only."""

    def __init__(self, reason: UnreadableReason, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail
