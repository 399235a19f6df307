"""Checks on a record's path, name and size alone: no file is opened.

Managers open the school share on Windows, and the share is a Nextcloud server, so a name
either of them refuses (or that a sync client may silently lose, like an NFC/NFD twin)
is reported before it reaches the server. Every function here is pure: it sees only the
path, size and record type it is given.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from itertools import combinations
from pathlib import PurePosixPath

from agent.api import (
    Finding,
    RecordType,
    RelPath,
    Severity,
    _,
    nfc,
)

# What Windows refuses inside a name ('/' separates components, so it cannot occur in one).
_WINDOWS_FORBIDDEN = frozenset('\\:*?"<>|')
# CON, PRN, AUX, NUL, COM0-9, LPT0-9, and the superscript digits Windows also treats as
# device numbers ("COM¹"); the device name counts whatever extension follows it.
_RESERVED_STEM = re.compile(r"(?:con|prn|aux|nul|(?:com|lpt)[0-9¹²³])", re.IGNORECASE)
# Nextcloud 30+ defaults (config.sample.php): forbidden_filenames = ['.htaccess'],
# forbidden_filename_extensions = ['.part', '.filepart'] (".part" is always refused, the
# server uses it for uploads in progress); forbidden_filename_basenames defaults to [].
# All three are compared case-insensitively, the extensions with "ends with".
_NEXTCLOUD_NAMES = frozenset({".htaccess"})
_NEXTCLOUD_EXTENSIONS = (".part", ".filepart")
MAX_PATH_CHARS = 250  # Windows Explorer and zip tools break beyond about this length
# Gmail refuses macro-enabled Office files as attachments, which breaks inspection by email.
_MACRO_SUFFIXES = frozenset({".docm", ".dotm", ".xlsm", ".xltm", ".pptm", ".potm", ".ppsm"})
# Binary Office 97-2003 files: readable by nobody's checks here, so asked to be re-saved.
_LEGACY_SUFFIXES = frozenset({".doc", ".xls", ".ppt"})
# A name's file type as a person reads it: a dot and a few letters or digits at the very end.
_FILE_TYPE = re.compile(r"\.[^\W_]{1,10}$")


def check_path(path: RelPath, *, size: int, record_type: RecordType | None) -> list[Finding]:
    """Everything wrong with ``path`` (relative, '/'-separated, NFC) as a name on the share."""
    components = path.split("/")
    return [
        *_forbidden_characters(path, components),
        *_trailing_dot_space(path, components),
        *_reserved_names(path, components),
        *_nextcloud_forbidden(path, components),
        *_path_too_long(path),
        *_empty(path, size),
        *_macro_enabled(path),
        *_format(path, record_type),
    ]


def _warning(path: RelPath, rule: str, message: str, fix: str) -> Finding:
    return Finding(path=path, rule=rule, severity=Severity.WARNING, message=message, fix=fix)


def _quoted(names: Sequence[str]) -> str:
    return ", ".join(f"“{name}”" for name in names)


def _bad_characters(component: str) -> list[str]:
    return sorted({c for c in component if c in _WINDOWS_FORBIDDEN or ord(c) < 32})


def _shown(character: str) -> str:
    # A control character is invisible in a message: name it by its code instead.
    return f"U+{ord(character):04X}" if ord(character) < 32 else character


def _forbidden_characters(path: RelPath, components: Sequence[str]) -> list[Finding]:
    bad = [c for c in components if _bad_characters(c)]
    if not bad:
        return []
    characters = sorted({ch for c in bad for ch in _bad_characters(c)})
    message = _("Characters Windows does not allow in names ({chars}) appear in: {names}.").format(
        names=_quoted(bad), chars=" ".join(_shown(c) for c in characters)
    )
    fix = _("Rename it without these characters (use - instead).")
    return [_warning(path, "file.forbidden-character", message, fix)]


def _trailing_dot_space(path: RelPath, components: Sequence[str]) -> list[Finding]:
    bad = [c for c in components if c.endswith((".", " ")) or c.startswith(" ")]
    if not bad:
        return []
    message = _(
        "Windows cannot open a name that starts with a space or ends with a dot or a space: "
        "{names}."
    ).format(names=_quoted(bad))
    fix = _("Rename it without the leading space or the trailing dot or space.")
    return [_warning(path, "file.trailing-dot-space", message, fix)]


def _is_reserved(component: str) -> bool:
    # Windows ignores spaces before the extension: "CON .docx" is the device too.
    stem = component.split(".", 1)[0].rstrip(" ")
    return _RESERVED_STEM.fullmatch(stem) is not None


def _reserved_names(path: RelPath, components: Sequence[str]) -> list[Finding]:
    bad = [c for c in components if _is_reserved(c)]
    if not bad:
        return []
    message = _(
        "Names Windows keeps for devices (CON, PRN, AUX, NUL, COM1, LPT1…): {names}."
    ).format(names=_quoted(bad))
    fix = _("Rename it, e.g. add a word before the name.")
    return [_warning(path, "file.reserved-name", message, fix)]


def _refused_by_nextcloud(component: str) -> bool:
    lowered = component.lower()
    return lowered in _NEXTCLOUD_NAMES or lowered.endswith(_NEXTCLOUD_EXTENSIONS)


def _nextcloud_forbidden(path: RelPath, components: Sequence[str]) -> list[Finding]:
    bad = [c for c in components if _refused_by_nextcloud(c)]
    if not bad:
        return []
    message = _("The school share (Nextcloud) refuses the name {names}.").format(names=_quoted(bad))
    fix = _(
        "Rename it; a .part or .filepart file is usually an unfinished download: delete it "
        "once the complete file is there."
    )
    return [_warning(path, "file.nextcloud-forbidden", message, fix)]


def _path_too_long(path: RelPath) -> list[Finding]:
    if len(path) <= MAX_PATH_CHARS:
        return []
    message = _(
        "The path is {length} characters long; Windows and zip tools break above {limit}."
    ).format(length=len(path), limit=MAX_PATH_CHARS)
    fix = _("Shorten the names of the file or of its folders.")
    return [_warning(path, "file.path-too-long", message, fix)]


def _empty(path: RelPath, size: int) -> list[Finding]:
    if size != 0:
        return []
    message = _("The file is empty (0 bytes).")
    fix = _(
        "Save the document again from the application that made it, or restore it from a backup."
    )
    return [_warning(path, "file.empty", message, fix)]


def _suffix(path: RelPath) -> str:
    return PurePosixPath(path).suffix.lower()


def _macro_enabled(path: RelPath) -> list[Finding]:
    if _suffix(path) not in _MACRO_SUFFIXES:
        return []
    message = _("{suffix} files contain macros; Gmail refuses them as attachments.").format(
        suffix=_suffix(path)
    )
    fix = _("Save it as .docx, .xlsx or .pptx.")
    return [_warning(path, "file.macro-enabled", message, fix)]


def _format(path: RelPath, record_type: RecordType | None) -> list[Finding]:
    suffix = _suffix(path)
    # A preserved record (a signed platform export) must stay byte-for-byte: re-saving it
    # would break its signature, so its legacy format is never questioned.
    if suffix in _LEGACY_SUFFIXES and not (record_type and record_type.preserve):
        message = _("{suffix} is an old Office 97–2003 format that cannot be checked.").format(
            suffix=suffix
        )
        fix = _("Open it and save as .docx/.xlsx/.pptx.")
        return [_warning(path, "file.legacy-format", message, fix)]
    if record_type is None or record_type.allows_format(path):
        return []
    allowed = " ".join(record_type.formats)
    name = path.rpartition("/")[2]
    if _FILE_TYPE.search(name):
        message = _("{suffix} is not a format allowed for {record}: {allowed}.").format(
            suffix=suffix, record=record_type.name_vi, allowed=allowed
        )
        fix = _("Save it in one of the allowed formats.")
    else:  # "Bài 5", "Bài 5." or "Bài 5. ": a name Word did not finish with its type
        message = _(
            "“{name}” does not end with a file type (such as .docx), so it does not open as "
            "a {record}."
        ).format(name=name, record=record_type.name_vi)
        fix = _(
            "Open it in Word, Excel or LibreOffice and save it again as one of: {allowed}."
        ).format(allowed=allowed)
    return [_warning(path, "file.format-not-allowed", message, fix)]


# --- NFC/NFD twins ---------------------------------------------------------------------------


def find_twins(names: Iterable[str]) -> list[tuple[str, str]]:
    """Pairs of paths (as given) that are equal after NFC but differ as strings.

    In each pair the NFC spelling, when present, comes first; pairs are in input order."""
    spellings: dict[str, list[str]] = {}
    for name in names:
        group = spellings.setdefault(nfc(name), [])
        if name not in group:
            group.append(name)
    pairs: list[tuple[str, str]] = []
    for key, group in spellings.items():
        ordered = sorted(group, key=lambda spelling: spelling != key)  # stable: NFC first
        pairs.extend(combinations(ordered, 2))
    return pairs


def _form(spelling: str) -> str:
    if unicodedata.is_normalized("NFC", spelling):
        return _("composed (NFC)")
    if unicodedata.is_normalized("NFD", spelling):
        return _("decomposed (NFD, as macOS and Unikey's “Unicode tổ hợp” write it)")
    return _("mixed")


def twin_findings(pairs: Iterable[tuple[str, str]]) -> list[Finding]:
    """One ``file.normalization-twin`` error per pair, on the NFC path.

    The two names look identical, so the message tells them apart by their form and
    length; the fix never says to delete without comparing first: the two files may hold
    different versions of the same lesson plan."""
    findings = []
    for first, second in pairs:
        message = _(
            "Two files have the same name written in two Unicode forms: one {first_form} "
            "({first_len} characters), one {second_form} ({second_len} characters). Windows "
            "and sync clients may show only one of them or overwrite one with the other."
        ).format(
            first_form=_form(first),
            first_len=len(first),
            second_form=_form(second),
            second_len=len(second),
        )
        fix = _(
            "Open both and compare them. If they are the same, delete the {form} one; if they "
            "differ, rename the {form} one to a different name, then merge what you need."
        ).format(form=_form(second))
        findings.append(
            Finding(
                path=nfc(first),
                rule="file.normalization-twin",
                severity=Severity.ERROR,
                message=message,
                fix=fix,
            )
        )
    return findings
