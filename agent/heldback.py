"""What the sync holds back, why, and what the teacher can do about it.

A pass leaves some paths alone: two spellings of one name, a file open in Word while the
share has a newer version, a symbolic link, a folder it cannot read, a name the share would
refuse or never lists, a record a blocking finding keeps back. Each pass's set is remembered
in the journal (one JSON value in its meta table), so that `hoso status` can show it whatever
later passes skipped, the log gets one line when the set changes (not one per pass), and the
teacher is told once when something new waits for them.

Invariants: status, the log and the notification use the words here for these reasons; the
set is written only when it changed; nothing here speaks SQL or reads the clock.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from .display import printable_name
from .i18n import _
from .journal import Journal
from .model import CHANGED_MEANWHILE, RelPath, SkipReason, is_within
from .records import Finding, Severity
from .refusals import REASON as REFUSED_BY_SHARE

HELD_META = "held_back"
REFUSED_NAME = "refused_name"  # a name the share refuses, or one it lists that hoso will not use
UNREADABLE = "unreadable"  # a local folder or file that could not be read (detail: why)
UNLISTED = "unlisted"  # a name starting with "." on a share that never lists such names
# Skips that end by themselves within a pass or two: shown, never logged nor notified.
TRANSIENT = frozenset({SkipReason.UNSETTLED.value, CHANGED_MEANWHILE})
# Told by the finding's own notification already.
TOLD_ELSEWHERE = frozenset({SkipReason.VALIDATION_BLOCKED.value})
TWIN_RULE = "file.normalization-twin"  # the validation plugin's rule for two spellings of a file
# The order status shows the groups in: what stops most first.
ORDER = (
    SkipReason.NORMALIZATION_TWIN.value,
    SkipReason.TYPE_CLASH.value,
    REFUSED_NAME,
    UNREADABLE,
    REFUSED_BY_SHARE,
    SkipReason.OPEN_IN_EDITOR.value,
    SkipReason.VALIDATION_BLOCKED.value,
    SkipReason.SYMLINK.value,
    UNLISTED,
    SkipReason.UNSETTLED.value,
    CHANGED_MEANWHILE,
)


# Where the two spellings of a twin are.
HERE, SHARE, BOTH = "here", "share", "both"


@dataclass(frozen=True, order=True)
class Held:
    """One path a pass left alone; ``detail`` is the refusal's own reason for a refused name,
    ``where`` the side(s) holding a twin's two spellings (:data:`HERE`, :data:`SHARE`,
    :data:`BOTH`)."""

    path: RelPath
    reason: str
    detail: str = ""
    where: str = ""

    def to_json(self) -> dict[str, str]:
        return {
            "path": self.path,
            "reason": self.reason,
            "detail": self.detail,
            "where": self.where,
        }


def where(here: bool, there: bool) -> str:
    return BOTH if here and there else SHARE if there else HERE


@dataclass(frozen=True)
class Change:
    """How a pass's held set differs from the one before."""

    appeared: tuple[Held, ...]
    cleared: tuple[Held, ...]

    def __bool__(self) -> bool:
        return bool(self.appeared or self.cleared)


def remembered(journal: Journal) -> list[Held]:
    """The held set of the last full pass (empty when unknown or unreadable)."""
    try:
        rows = json.loads(journal.meta_get(HELD_META) or "[]")
    except ValueError:
        return []
    if not isinstance(rows, list):
        return []
    return [
        Held(row["path"], row["reason"], str(row.get("detail", "")), str(row.get("where", "")))
        for row in rows
        if isinstance(row, dict)
        and isinstance(row.get("path"), str)
        and isinstance(row.get("reason"), str)
    ]


def remember(journal: Journal, held: Iterable[Held]) -> Change:
    """Store this pass's held set; return what appeared and what cleared since the last.
    A path held for the same reason is the same item, whatever its detail says now (a
    refusal's words follow the language of the command that saw it)."""
    now = sorted(set(held))
    before = remembered(journal)
    if now != before:
        journal.meta_set(HELD_META, json.dumps([h.to_json() for h in now], ensure_ascii=False))
    old, new = {_key(h) for h in before}, {_key(h) for h in now}
    return Change(
        tuple(h for h in now if _key(h) not in old),
        tuple(h for h in before if _key(h) not in new),
    )


def _key(held: Held) -> tuple[RelPath, str]:
    return held.path, held.reason


def needs_a_person(held: Held) -> bool:
    """Worth a log line and a notification: it waits until someone acts."""
    return held.reason not in TRANSIENT


def why(reason: str) -> str:
    """The reason in plain words."""
    texts = {
        SkipReason.NORMALIZATION_TWIN.value: _(
            "two files or folders have the same name written in two Unicode forms (one typed "
            "on Windows, one made on a Mac or with Unikey's “Unicode tổ hợp”); hoso cannot "
            "tell them apart, so nothing in them is synced, here or on the share"
        ),
        SkipReason.TYPE_CLASH.value: _("one name is a file on one side and a folder on the other"),
        REFUSED_NAME: _("a name the share refuses, or that hoso will not use"),
        UNREADABLE: _(
            "hoso cannot read it in the records folder, so nothing in it is synced and its "
            "copy on the share is left alone"
        ),
        REFUSED_BY_SHARE: _(
            "the share does not let this account change it (HTTP 403); it is kept here as it "
            "is, and sent again only once it changes here (or after a day)"
        ),
        SkipReason.OPEN_IN_EDITOR.value: _(
            "open in Word or LibreOffice: the share has a newer version, which is synced "
            "once the file is closed"
        ),
        SkipReason.VALIDATION_BLOCKED.value: _(
            "not uploaded: a problem the school's settings say must be fixed first"
        ),
        SkipReason.SYMLINK.value: _("a symbolic link: hoso never follows or syncs links"),
        UNLISTED: _(
            "the share never lists names starting with “.”, so hoso leaves them alone here "
            "and on the share"
        ),
        SkipReason.UNSETTLED.value: _("still being written"),
        CHANGED_MEANWHILE: _("changed while it was being synced"),
    }
    return texts.get(reason, reason)


def fix(reason: str) -> str:
    """What the teacher can do."""
    texts = {
        SkipReason.NORMALIZATION_TWIN.value: _(
            "Keep one of the two: move what you need from one into the other and delete the "
            "emptied one (on the share: through its web page, or ask whoever added it, often "
            "from a Mac). The next pass syncs it again."
        ),
        SkipReason.TYPE_CLASH.value: _("Rename the file or the folder."),
        REFUSED_NAME: _(
            "Rename it: in the records folder, or on the share if only the share has it."
        ),
        UNREADABLE: _(
            "Give your user account the right to read it, or move it out of the records "
            "folder if it is not a document."
        ),
        REFUSED_BY_SHARE: _(
            "Nothing is lost. If this account should be allowed to change it, ask the school's "
            "share administrator; otherwise keep your version under another name outside "
            "this folder."
        ),
        SkipReason.OPEN_IN_EDITOR.value: _(
            "Close the file in Word or LibreOffice; if you changed it too, both versions are kept."
        ),
        SkipReason.VALIDATION_BLOCKED.value: _(
            "Fix what `hoso check` reports; it is uploaded at the next pass."
        ),
        SkipReason.SYMLINK.value: _(
            "Put the file or folder itself in the records folder instead of a link."
        ),
        UNLISTED: _("Rename it without the leading dot to have it synced."),
        SkipReason.UNSETTLED.value: _("Nothing to do: it is synced once saved."),
        CHANGED_MEANWHILE: _("Nothing to do: it is synced at the next pass."),
    }
    return texts.get(reason, "")


def explain(reason: str) -> str:
    """The reason and the fix as sentences (a notification's body)."""
    text = why(reason)
    return f"{text[:1].upper()}{text[1:]}. {fix(reason)}".strip()


def grouped(held: Iterable[Held]) -> list[tuple[str, list[Held]]]:
    """The held paths by reason, in :data:`ORDER` (unknown reasons last)."""
    groups: dict[str, list[Held]] = {}
    for item in sorted(held):
        groups.setdefault(item.reason, []).append(item)
    rank = {reason: i for i, reason in enumerate(ORDER)}
    return sorted(groups.items(), key=lambda group: (rank.get(group[0], len(ORDER)), group[0]))


LOGGED_PER_REASON = 5  # paths named per reason in the log line; the rest are counted


def _listed(paths: Iterable[RelPath]) -> str:
    names = [printable_name(p) for p in paths]
    shown = ", ".join(names[:LOGGED_PER_REASON])
    more = len(names) - LOGGED_PER_REASON
    return shown if more <= 0 else _("{paths} and {n} more").format(paths=shown, n=more)


def log_line(held: Iterable[Held]) -> str:
    """One line for the log: every held path that waits for a person, with its reason."""
    parts = [
        f"{_listed(h.path for h in items)} ({why(reason)})"
        for reason, items in grouped(h for h in held if needs_a_person(h))
    ]
    if not parts:
        return _("Nothing is held back any more: every change can be synced.")
    return _("Held back, not synced until someone acts: {items}").format(items="; ".join(parts))


def place(where: str) -> str:
    """Where a twin's two spellings are, in words."""
    return {
        HERE: _("in the records folder"),
        SHARE: _("on the share"),
        BOTH: _("in the records folder and on the share"),
    }.get(where, "")


def twin_findings(held: Iterable[Held], within: Iterable[RelPath] | None = None) -> list[Finding]:
    """A ``file.normalization-twin`` error for each name the last pass held back as two
    spellings (a folder as well as a file, here or on the share: the plugin sees only the
    files of the records folder), limited to the paths ``within`` (None: all)."""
    wanted = None if within is None else list(within)
    return [
        Finding(
            path=item.path,
            rule=TWIN_RULE,
            severity=Severity.ERROR,
            message=_(
                "“{name}” exists twice {where}, written in two Unicode forms: composed (NFC, as "
                "Windows types it) and decomposed (NFD, as macOS and Unikey's “Unicode tổ hợp” "
                "write it). hoso cannot tell them apart, so nothing in it is synced until only "
                "one remains."
            ).format(name=printable_name(item.path), where=place(item.where)),
            fix=fix(item.reason),
        )
        for item in sorted(held)
        if item.reason == SkipReason.NORMALIZATION_TWIN.value
        and (
            wanted is None
            or any(is_within(item.path, w) or is_within(w, item.path) for w in wanted)
        )
    ]
