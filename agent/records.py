"""Records as the school knows them: record types and findings about a record.

A :class:`RecordType` ("Kế hoạch bài dạy", "Sổ chủ nhiệm"…) is data: plugins contribute
types through the ``hoso_record_types`` hook and a school adds its own in its config. A
record's type comes from its folder and file names, compared folded (agent.textfold's
:func:`fold`): case, accents, spacing and the spelling variants schools mix (lí/lý, Mĩ/Mỹ,
kĩ/kỹ) do not matter. Conflict and restored copies are told apart by agent.conflictname.

A :class:`Finding` is one thing a check found wrong (or worth knowing) about one record,
with a message that says what to do, already in the user's language.
"""

from __future__ import annotations

import enum
import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

# Plugins import these from here (until they use agent.api); agent.conflictname has them.
from .model import RelPath
from .textfold import fold, fold_pattern
from .textfold import strip_accents as strip_accents  # plugins import it from here


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
