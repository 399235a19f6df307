"""The school's own templates: ``Biểu mẫu/`` of the school folder, used by ``hoso template``
instead of hoso's built-in one (or where hoso has none, e.g. meeting notes).

A file is the template of a record type when it is a ``.docx`` directly in ``Biểu mẫu/``
whose name without ``.docx``, folded (agent.api ``fold``: no accents, lower case, one
space), is the type's code or its Vietnamese name: ``KHBD.docx``, ``khbd.docx``, ``Kế hoạch
bài dạy.docx`` and ``KE HOACH BAI DAY.docx`` are all the lesson plan's (KHBD), ``SHCM.docx``
the professional meetings notebook's. Where several match, a name that is the code wins, then
the first in natural order; ``hoso template`` says which file it copied.

Anyone who can write to the school folder can put a file there, so a template is hostile
until checked: only a regular file (never a symlink, opened without following one) of at
most MAX_BYTES is read, into memory, once; those bytes are read as a Word document by the
document sandbox (a worker process under limits: a zip bomb or a crafted file cannot take
this process down) and copied only when they open as one. What is copied is exactly the
bytes that were checked.
"""

from __future__ import annotations

import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from agent.api import (
    Limits,
    ReaderUnavailable,
    RecordType,
    TooComplex,
    Unreadable,
    UsageError,
    _,
    document_sandbox,
    fold,
    natural_key,
)

FOLDER = "Biểu mẫu"
SUFFIX = ".docx"
MAX_BYTES = 20 * 2**20  # a template with pictures is a few MB; more is no template
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


@dataclass(frozen=True)
class SchoolTemplate:
    path: Path
    data: bytes  # checked: a Word document that opens


def matches(name: str, record_type: RecordType) -> int | None:
    """How well the file ``name`` names ``record_type``'s template: 0 by its code, 1 by its
    Vietnamese name; None when it does not."""
    if not name.lower().endswith(SUFFIX):
        return None
    stem = fold(name[: -len(SUFFIX)])
    if stem == fold(record_type.code):
        return 0
    return 1 if stem == fold(record_type.name_vi) else None


def find(school: Path, record_type: RecordType, limits: Limits) -> SchoolTemplate | None:
    """The school's template for ``record_type``, checked; None when the school has none.
    UsageError when the one it has is not a Word document that opens (or is no regular
    file, or too big): the teacher is told rather than given hoso's own silently."""
    folder = school / FOLDER
    try:
        dir_fd = os.open(folder, _DIR_FLAGS)
    except OSError:  # no such folder (or a link in its place): no school template
        return None
    try:
        names = [entry.name for entry in os.scandir(dir_fd)]
        ranked = sorted(
            (rank, natural_key(name), name)
            for name in names
            if (rank := matches(name, record_type)) is not None
        )
        if not ranked:
            return None
        name = ranked[0][2]
        data = _read(dir_fd, name, folder / name)
    finally:
        os.close(dir_fd)
    _check(folder / name, data, limits)
    return SchoolTemplate(folder / name, data)


def _read(dir_fd: int, name: str, path: Path) -> bytes:
    try:
        fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
    except OSError as exc:  # ELOOP: a symlink
        raise _refused(path, _("it is a link or cannot be opened ({detail})").format(
            detail=exc.strerror or exc)) from None  # fmt: skip
    try:
        with os.fdopen(fd, "rb") as file:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise _refused(path, _("it is not a regular file"))
            data = file.read(MAX_BYTES + 1)
    except OSError as exc:
        raise _refused(path, str(exc.strerror or exc)) from None
    if len(data) > MAX_BYTES:
        raise _refused(path, _("it is larger than {size} MB").format(size=MAX_BYTES // 2**20))
    return data


def _check(path: Path, data: bytes, limits: Limits) -> None:
    """Refuse ``data`` unless the sandbox reads it as a Word (.docx) document."""
    with tempfile.TemporaryDirectory(prefix="hoso-template-") as folder:
        copy = Path(folder) / f"template{SUFFIX}"
        copy.write_bytes(data)
        try:
            document = document_sandbox(limits).read(copy)
        except Unreadable as exc:
            raise _refused(path, _("it is not a Word document that opens ({reason})").format(
                reason=exc.reason.value)) from None  # fmt: skip
        except TooComplex as exc:
            raise _refused(path, _("reading it went past the limit on {limit}").format(
                limit=exc.limit.value)) from None  # fmt: skip
        except ReaderUnavailable as exc:
            raise UsageError(str(exc)) from None
    if document.format != "docx":
        raise _refused(path, _("it is not a Word (.docx) document"))


def _refused(path: Path, reason: str) -> UsageError:
    return UsageError(
        _(
            "The school's template {path} cannot be used: {reason}. Tell the school's admin; "
            "`--builtin` writes hoso's own template instead. Nothing was written."
        ).format(path=path, reason=reason)
    )
