"""The data of a submission: what was selected, how it is packed into messages, and the
errors a submission can end with (each mapped to an exit code of the CLI contract)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path

from agent.api import (
    AuthError,
    Finding,
    HosoError,
    RelPath,
    Severity,
    UnreachableError,
    UsageError,
)


class SelectedBy(enum.StrEnum):
    """How a file was found to belong to the period (the plan says which)."""

    FOLDER = "folder"  # a "Tuần N" or "Tháng N" folder (or file name) of the records tree
    LESSON_DATE = "lesson_date"  # the lesson date written in the document
    MODIFIED_TIME = "modified_time"  # last resort: when the file was last saved


@dataclass(frozen=True)
class SelectedFile:
    path: RelPath  # relative to the records root, NFC, '/'-separated
    file: Path  # on disk
    size: int
    sha256: str  # hex, of the bytes read when selected
    record_type: str  # code, e.g. "KHBD"
    selected_by: SelectedBy
    findings: tuple[Finding, ...] = ()

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.ERROR)


@dataclass(frozen=True)
class Skipped:
    """A file of the period that is not sent, and why (shown by the plan)."""

    path: RelPath
    reason: str  # in the user's language


@dataclass(frozen=True)
class Selection:
    label: str  # "Tuần 10–13" / "Tháng 11/2026", in subjects and file names
    weeks: tuple[int, int] | None
    period: str | None  # "YYYY-MM"
    types: tuple[str, ...]  # record type codes
    files: tuple[SelectedFile, ...]
    skipped: tuple[Skipped, ...] = ()

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for file in self.files for f in file.errors)


@dataclass(frozen=True)
class Address:
    name: str
    email: str


@dataclass(frozen=True)
class Envelope:
    """Who sends to whom, and the words of the subject and body."""

    sender: Address  # the teacher
    recipients: tuple[Address, ...]  # the school mailbox first, then the reviewing manager(s)
    school: str
    type_names: tuple[str, ...]  # Vietnamese names of the record types sent

    @property
    def domain(self) -> str:
        return self.sender.email.rpartition("@")[2] or "hoso.invalid"


@dataclass(frozen=True)
class BuiltMessage:
    part: int  # 1-based
    parts: int
    message_id: str  # "<…@…>"
    date: str  # the Date header as sent
    subject: str
    files: tuple[SelectedFile, ...]
    data: bytes = field(repr=False)  # exactly what is sent: CRLF line endings

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class PartPlan:
    """One message of a plan: its files and its exact encoded size."""

    part: int
    parts: int
    files: tuple[SelectedFile, ...]
    size: int


@dataclass(frozen=True)
class Packing:
    """A selection packed into messages: the parts, and the files no message can carry
    (too large even alone), which every part names instead of attaching."""

    parts: tuple[PartPlan, ...]
    not_attached: tuple[SelectedFile, ...] = ()


# --- errors ---------------------------------------------------------------------------------


class FileTooLarge(UsageError):
    """No file of the selection fits in a message under the limit, so there is nothing to
    send (a file is never replaced by a link)."""


class LeftOut(HosoError):
    """Files of the period would not be sent and the teacher has not confirmed sending
    without them (exit 1; each is named on stderr)."""


class FileChanged(UsageError):
    """A file changed between selection and packaging; run again."""


class MailUnreachable(UnreachableError):
    """The mail server cannot be reached or stopped answering (exit 3 when nothing was sent)."""

    retryable = True


class MailLoginRefused(AuthError):
    """The mail server refused the login (exit 3)."""


class MailTemporary(HosoError):
    """A temporary failure (4xx, connection dropped, timeout) after connecting: retry later."""

    retryable = True


class MailTimedOut(MailTemporary):
    """The server stopped answering for ``[smtp] timeout`` seconds at one step. Not tried
    again in the same run: a server that hangs seldom recovers within seconds, and the
    teacher would wait minutes without a word; the next run resumes."""


class MailRejected(HosoError):
    """The server refused the message for good (5xx on MAIL FROM or DATA)."""
