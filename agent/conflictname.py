"""Names of copies: making a conflict copy's name, and telling from any name whether it is a
conflict or restored copy of another file, and of which.

The one place that builds or reads these names (reconcile names conflict copies; status, the
managers' report and inspection recognise them). Pure: no I/O, no clock (``now`` is given).

- hoso's conflict copy: ``"a/Bài 1.docx"`` → ``"a/Bài 1 (bản xung đột, máy HOST, 2026-11-29
  09h30).docx"``; NFC, at most 255 UTF-8 bytes a name (the stem is shortened, never the
  extension, so a very long name comes back shortened), ", 2", ", 3"… inside the parentheses
  when the name is taken.
- Recognised as well, whatever the language of the computer that named them: the Nextcloud
  and Dropbox clients' ``"… (conflicted copy 2024-10-01 101500)"``, older Nextcloud clients'
  ``"…_conflict-20241001-101500"``, and agent.trash.free_name's restored copies ``"… (restored
  N)"`` / ``"… (khôi phục N)"``. Names are compared folded (agent.textfold), so NFD, case and
  accents do not matter.
"""

from __future__ import annotations

import enum
import itertools
import re
import unicodedata
from collections.abc import Callable, Container
from datetime import datetime

from .model import RelPath, name_of, nfc, parent_of
from .textfold import fold

# Conflict copies carry this label in their name: "… (bản xung đột, máy …).docx".
DEFAULT_CONFLICT_LABEL = "bản xung đột"


class CopyKind(enum.StrEnum):
    """A second file of one record that a program made beside it: not a record of its own."""

    CONFLICT = "conflict"  # both versions of a file changed on two sides
    RESTORED = "restored"  # brought back from the trash beside a file of the same name


# --- making a conflict copy's name -------------------------------------------------------------

_MAX_NAME_BYTES = 255
_MAX_SUFFIX_CHARS = 16  # longer "extensions" are part of the name ("Bài 1. Ôn tập chương")
_MAX_HOST_BYTES = 40
_MAX_LABEL_BYTES = 60  # with the host cap, the tail always leaves room for the suffix
_FORBIDDEN = set('\\/:*?"<>|')  # what Windows refuses in a name


def conflict_copy_name(
    path: RelPath,
    *,
    host: str,
    now: datetime,
    taken: Container[RelPath],
    label: str = DEFAULT_CONFLICT_LABEL,
) -> RelPath:
    """``"a/Bài 1.docx"`` → ``"a/Bài 1 (bản xung đột, máy HOST, 2026-11-29 09h30).docx"``.

    The first name not in ``taken`` (adding ", 2", ", 3"… inside the parentheses); NFC, at
    most 255 UTF-8 bytes per name (the stem is shortened, never the extension).
    """
    folder, name = parent_of(path), name_of(path)
    stem, suffix = _split_suffix(name)
    label_part = _clean(label, _MAX_LABEL_BYTES)
    tag = f"{label_part}, máy {_clean(host, _MAX_HOST_BYTES)}, {now:%Y-%m-%d %Hh%M}"
    candidates = (_copy_path(folder, stem, tag, suffix, number) for number in itertools.count(1))
    return next(candidate for candidate in candidates if candidate not in taken)


def _copy_path(folder: RelPath, stem: str, tag: str, suffix: str, number: int) -> RelPath:
    tail = f" ({tag})" if number == 1 else f" ({tag}, {number})"
    name = nfc(_cut(stem, _MAX_NAME_BYTES - _utf8_len(tail + suffix)) + tail + suffix)
    return f"{folder}/{name}" if folder else name


def fit_name(make: Callable[[str], str], stem: str) -> str:
    """``make(stem)``, a name made around ``stem`` (a restored copy's "(restored 1)", "(backup
    of …)"), within 255 UTF-8 bytes: the stem shortened on a whole letter, never the rest.
    Past the limit the file system refuses the name and the file could not come back."""
    over = _utf8_len(make(stem)) - _MAX_NAME_BYTES
    return make(_cut(stem, _utf8_len(stem) - over)) if over > 0 else make(stem)


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def _cut(text: str, max_bytes: int) -> str:
    """The longest prefix within ``max_bytes`` of UTF-8 that ends on a whole character."""
    cut = text.encode("utf-8")[: max(max_bytes, 0)].decode("utf-8", errors="ignore")
    while cut and unicodedata.combining(cut[-1]):
        cut = cut[:-1]  # a mark without its base letter would change the name's meaning
    return cut


def _clean(text: str, max_bytes: int) -> str:
    cleaned = "".join("-" if c in _FORBIDDEN or ord(c) < 32 else c for c in nfc(text)).strip(" .")
    return _cut(cleaned, max_bytes) or "-"


def _split_suffix(name: str) -> tuple[str, str]:
    dot = name.rfind(".")
    suffix = name[dot:] if dot > 0 else ""
    if not suffix or len(suffix) > _MAX_SUFFIX_CHARS or any(c.isspace() for c in suffix):
        return name, ""
    return name[:dot], suffix


# --- reading a copy's name ---------------------------------------------------------------------

# On the folded file name: hoso's, the Nextcloud/Dropbox clients', older Nextcloud clients'.
_CONFLICT_COPY = re.compile(r"\(ban xung dot|conflicted copy|\bconflict \d{8} \d{6}\b")
# agent.trash.free_name: "{stem} (restored N)" in English, "(khôi phục N)" in Vietnamese;
# the extension follows (folded: after a space).
_RESTORED_COPY = re.compile(r"\((?:restored|khoi phuc) \d+\)(?: [^ ]+)?$")
# Where a copy mark can start in a name as written: a parenthesis, or older Nextcloud's suffix.
_MARK_START = re.compile(r"\(|_conflict", re.IGNORECASE)
_OLD_NEXTCLOUD_MARK = re.compile(r"_conflict[-_ ]\d{8}[-_ ]\d{6}", re.IGNORECASE)


def copy_kind(path: RelPath) -> CopyKind | None:
    """Whether the file at ``path`` is a conflict copy or a restored copy of another file,
    from its name alone, whatever the language of the computer that named it."""
    name = fold(path.rpartition("/")[2])
    if _CONFLICT_COPY.search(name):
        return CopyKind.CONFLICT
    if _RESTORED_COPY.search(name):
        return CopyKind.RESTORED
    return None


def is_conflict_copy(path: RelPath) -> bool:
    return copy_kind(path) is CopyKind.CONFLICT


def original_name(path: RelPath) -> RelPath | None:
    """The file a conflict or restored copy at ``path`` is a copy of: its name without the
    copy marks ("Tuần 9/Bài 9 (khôi phục 1).docx" → "Tuần 9/Bài 9.docx"), in the same
    folder. None for a file that is no copy, or whose marks cannot be taken apart. A copy is
    a second version only while its original is beside it: kept alone, it is the record."""
    folder, _, name = path.rpartition("/")
    if copy_kind(name) is None:
        return None
    while copy_kind(name) is not None:
        shorter = _without_last_mark(name)
        if shorter is None:
            return None
        name = shorter
    return f"{folder}/{name}" if folder else name


def _without_last_mark(name: str) -> str | None:
    for start in sorted((m.start() for m in _MARK_START.finditer(name)), reverse=True):
        if name[start] == "(":
            close = name.find(")", start)
            end = close + 1 if close >= 0 else -1
        else:
            mark = _OLD_NEXTCLOUD_MARK.match(name, start)
            end = mark.end() if mark else -1
        stem = name[:start].rstrip()
        if end > 0 and stem and copy_kind(name[start:end]) is not None:
            return stem + name[end:]
    return None


# --- the machine a copy came from, and the name a kept copy gets ---------------------------------

# hoso's own copies, on the name as written (NFC): "(bản xung đột, máy HOST, 2026-11-29 09h30)".
_HOSO_COPY_TAG = re.compile(
    r"\(" + re.escape(DEFAULT_CONFLICT_LABEL) + r", máy (?P<host>.+), "
    r"(?P<when>\d{4}-\d{2}-\d{2} \d{2}h\d{2})(?:, \d+)?\)"
)
# What a copy kept beside its original is called: "Bài 1 (bản của máy HOST).docx".
KEPT_LABEL = "bản của máy"
KEPT_UNKNOWN = "bản thứ hai"  # a copy whose name names no machine (another program's)


def copy_machine(path: RelPath) -> str | None:
    """The computer named in a hoso conflict copy's name (the one whose version it holds);
    None for another program's copy, whose name names none."""
    found = _HOSO_COPY_TAG.search(nfc(name_of(path)))
    return found.group("host") if found else None


def kept_copy_name(original: RelPath, *, host: str | None, taken: Container[RelPath]) -> RelPath:
    """The name a conflict copy gets when the teacher keeps both versions: the original's,
    with "(bản của máy HOST)" (", 2"… when taken); no longer a conflict copy's name, so the
    copy becomes a record of its own. NFC, at most 255 UTF-8 bytes."""
    folder, name = parent_of(original), name_of(original)
    stem, suffix = _split_suffix(name)
    tag = f"{KEPT_LABEL} {_clean(host, _MAX_HOST_BYTES)}" if host else KEPT_UNKNOWN
    candidates = (_copy_path(folder, stem, tag, suffix, number) for number in itertools.count(1))
    return next(candidate for candidate in candidates if candidate not in taken)
