"""Records as the school knows them: record types, findings about a record, folded text.

A :class:`RecordType` ("Kế hoạch bài dạy", "Sổ chủ nhiệm"…) is data: plugins contribute
types through the ``hoso_record_types`` hook and a school adds its own in its config. A
record's type comes from its folder and file names, compared folded (:func:`fold`): case,
accents, spacing and the spelling variants schools mix (lí/lý, Mĩ/Mỹ, kĩ/kỹ) do not matter.

A :class:`Finding` is one thing a check found wrong (or worth knowing) about one record,
with a message that says what to do, already in the user's language.
"""

from __future__ import annotations

import enum
import fnmatch
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from .model import RelPath

_SPACING = re.compile(r"[\s_\-–—.]+")
# Vietnamese writes these syllables with y or i interchangeably (Địa lý / Địa lí, Mỹ / Mĩ).
_Y_AS_I = re.compile(r"\b([bcdghklmnpqrstvx])y\b")


def _accent_table() -> dict[int, str]:
    """Each precomposed Latin letter with marks → its bare letter (ệ → e, Đ → D)."""
    table = {ord("đ"): "d", ord("Đ"): "D"}
    for code in (*range(0xC0, 0x250), *range(0x1E00, 0x1F00)):
        decomposed = unicodedata.normalize("NFD", chr(code))
        bare = "".join(c for c in decomposed if not unicodedata.combining(c))
        if bare and bare != chr(code):
            table[code] = bare
    return table


_ACCENTS = _accent_table()
_COMBINING = re.compile("[\u0300-\u036f]")


def strip_accents(text: str) -> str:
    """The text without accents or tone marks (NFC or NFD alike), đ→d."""
    # translate() on NFC text is C-fast; lesson-plan checks strip every paragraph.
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    return _COMBINING.sub("", text.translate(_ACCENTS))


def fold(text: str) -> str:
    """Text reduced for matching: no accents, đ→d, lower case, one space between words,
    and a lone consonant + y spelt with i."""
    bare = _SPACING.sub(" ", strip_accents(text).lower()).strip()
    return _Y_AS_I.sub(r"\1i", bare)


_BRACKETS = re.compile(r"(\[[^\]]*\])")


def fold_pattern(pattern: str) -> str:
    """A glob pattern folded like the names it is matched against, its ``[...]`` sets
    (``[0-9]``) left as they are."""

    def fold_part(part: str) -> str:
        if _BRACKETS.fullmatch(part) or not part:
            return part
        # fold() trims; a space next to a [set] is part of the pattern ("bai [0-9]").
        lead = " " if _SPACING.match(part) else ""
        trail = " " if _SPACING.search(part[-1]) else ""
        return (lead + fold(part) + trail).replace("  ", " ")

    return "".join(fold_part(part) for part in _BRACKETS.split(pattern))


def natural_key(text: str) -> tuple[tuple[int, str], ...]:
    """Sort key: folded, numbers by value ("Tuần 2" before "Tuần 10", "Bài 9" before "Bài 10")."""
    pieces = re.split(r"(\d+)", fold(text))  # odd indexes hold the numbers
    numbered = tuple((int(p), "") if i % 2 else (-1, p) for i, p in enumerate(pieces))
    return (*numbered, (0, text))


class Severity(enum.StrEnum):
    ERROR = "error"  # the record breaks a rule an inspection checks
    WARNING = "warning"  # likely to cause trouble (a name Windows cannot open, a legacy font)
    INFO = "info"  # worth knowing, nothing to fix


@dataclass(frozen=True)
class Finding:
    """One check's verdict on one record.

    ``rule`` is a stable id (``"khbd.reflection-missing"``) that scripts and the config
    (rules that block sync, rules switched off) refer to; ``message`` says what is wrong
    and ``fix`` what to do, both already translated."""

    path: RelPath
    rule: str
    severity: Severity
    message: str
    fix: str = ""

    def to_json(self) -> dict[str, str]:
        return {
            "path": self.path,
            "rule": self.rule,
            "severity": self.severity.value,
            "message": self.message,
            "fix": self.fix,
        }


@dataclass(frozen=True)
class RecordType:
    """A kind of record, e.g. KHBD (Kế hoạch bài dạy, lesson plan).

    ``folders`` and ``files`` are glob patterns (``*``, ``?``) matched against the folded
    names of the record's folders and of its file name; ``fallback_folders`` match only files
    no type claims by folder or file name, and only in an allowed format (lesson plans kept
    straight in "Tuần 5/" folders); ``formats`` are the allowed file
    extensions (lower case, with the dot); ``checks`` names the content checks that apply
    (``"lesson_plan"``); ``preserve`` marks records that must stay byte-for-byte (signed
    platform exports): they are never opened for content checks."""

    code: str
    name_vi: str
    name_en: str
    keeper: str = ""
    folders: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    fallback_folders: tuple[str, ...] = ()
    formats: tuple[str, ...] = ()
    checks: tuple[str, ...] = ()
    preserve: bool = False

    def matches_folder(self, path: RelPath) -> bool:
        return _any_folder(path, self.folders)

    def matches_file(self, path: RelPath) -> bool:
        name = fold(PurePosixPath(path).stem)
        return any(fnmatch.fnmatchcase(name, fold_pattern(p)) for p in self.files)

    def matches_fallback(self, path: RelPath) -> bool:
        return self.allows_format(path) and _any_folder(path, self.fallback_folders)

    def allows_format(self, path: RelPath) -> bool:
        return not self.formats or PurePosixPath(path).suffix.lower() in self.formats


def _any_folder(path: RelPath, patterns: Iterable[str]) -> bool:
    folders = [fold(p) for p in PurePosixPath(path).parts[:-1]]
    return any(fnmatch.fnmatchcase(f, fold_pattern(p)) for f in folders for p in patterns)


class CopyKind(enum.StrEnum):
    """A second file of one record that a program made beside it: not a record of its own."""

    CONFLICT = "conflict"  # both versions of a file changed on two sides
    RESTORED = "restored"  # brought back from the trash beside a file of the same name


# On the folded file name. Conflict copies made by hoso ("… (bản xung đột, máy …)",
# agent.reconcile.conflict_copy_name), by the Nextcloud and Dropbox clients ("… (conflicted
# copy 2024-10-01 101500)") and by older Nextcloud clients ("…_conflict-20241001-101500").
_CONFLICT_COPY = re.compile(r"\(ban xung dot|conflicted copy|\bconflict \d{8} \d{6}\b")
# agent.trash.free_name: "{stem} (restored N)" in English, "(khôi phục N)" in Vietnamese;
# the extension follows (folded: after a space).
_RESTORED_COPY = re.compile(r"\((?:restored|khoi phuc) \d+\)(?: [^ ]+)?$")


def copy_kind(path: RelPath) -> CopyKind | None:
    """Whether the file at ``path`` is a conflict copy or a restored copy of another file,
    from its name alone, whatever the language of the computer that named it. The one
    place that tells (status, the managers' report, inspection)."""
    name = fold(path.rpartition("/")[2])
    if _CONFLICT_COPY.search(name):
        return CopyKind.CONFLICT
    if _RESTORED_COPY.search(name):
        return CopyKind.RESTORED
    return None


# Where a copy mark can start in a name as written: a parenthesis, or older Nextcloud's suffix.
_MARK_START = re.compile(r"\(|_conflict", re.IGNORECASE)
_OLD_NEXTCLOUD_MARK = re.compile(r"_conflict[-_ ]\d{8}[-_ ]\d{6}", re.IGNORECASE)


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


def is_conflict_copy(path: RelPath) -> bool:
    return copy_kind(path) is CopyKind.CONFLICT


def classify(path: RelPath, types: Sequence[RecordType]) -> RecordType | None:
    """The record type of a path: the first type (in the order given) whose folder
    patterns match, else the first whose file patterns match, else the first whose
    fallback folders match. A folder says more than a name: "Sổ dự giờ/Bài 5.docx" is a
    class-observation note, not a lesson plan."""
    for test in (RecordType.matches_folder, RecordType.matches_file, RecordType.matches_fallback):
        for record_type in types:
            if test(record_type, path):
                return record_type
    return None


def record_type_from_dict(raw: dict[str, Any]) -> RecordType:
    """A RecordType from one table of a record-types TOML file; raises ValueError naming
    the problem (the caller adds the file and the table)."""
    known = {"code", "name_vi", "name_en", "keeper", "folders", "files", "fallback_folders"}
    known |= {"formats", "checks", "preserve"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r}")
    for key in ("code", "name_vi", "name_en"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise ValueError(f"{key!r} must be non-empty text")
    lists = {}
    for key in ("folders", "files", "fallback_folders", "formats", "checks"):
        value = raw.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"{key!r} must be a list of text")
        lists[key] = tuple(value)
    formats = tuple(f.lower() if f.startswith(".") else "." + f.lower() for f in lists["formats"])
    if not isinstance(raw.get("keeper", ""), str) or not isinstance(
        raw.get("preserve", False), bool
    ):
        raise ValueError("'keeper' must be text and 'preserve' true or false")
    return RecordType(
        code=raw["code"].strip(),
        name_vi=raw["name_vi"],
        name_en=raw["name_en"],
        keeper=raw.get("keeper", ""),
        folders=lists["folders"],
        files=lists["files"],
        fallback_folders=lists["fallback_folders"],
        formats=formats,
        checks=lists["checks"],
        preserve=raw.get("preserve", False),
    )


def merge_types(*groups: Iterable[RecordType]) -> list[RecordType]:
    """Types from several sources; an earlier group's code wins over a later one's, so a
    school's own definition of KHBD replaces the shipped one."""
    seen: dict[str, RecordType] = {}
    for group in groups:
        for record_type in group:
            seen.setdefault(record_type.code, record_type)
    return list(seen.values())


@dataclass(frozen=True)
class Record:
    """A file of the records folder as the hooks see it."""

    path: RelPath  # relative to the records root, NFC, '/'-separated
    file: Path  # where it is on disk
    record_type: RecordType | None
    size: int
    mtime: float
