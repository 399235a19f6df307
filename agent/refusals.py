"""What the share refused to let this account do (HTTP 403 on one path), and when to ask again.

Who may write where is the server's business: a school folder most teachers may only read, a
Nextcloud group folder with ACLs, a read-only subfolder of the records share. A refused action
fails alone (errors.Forbidden); propagate stores it with the per-file errors of the journal,
with the version it refused: the local file's size and modification time for a write (an
upload, a new folder, a delete, a rename), the share's ETag for a read. Until that version
changes, or a day has passed (RETRY_AFTER), every pass leaves the path alone: held back with
the reason :data:`REASON`, nothing sent, so a read-only folder costs the server one refused
request per change, never one per pass. The local file stays exactly as it is.

Pure: no I/O, no clock (``now`` is an argument).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .model import Action, ActionKind, Kind, Plan, RelPath, is_within

REASON = "refused_by_share"  # the held-back reason of a path the share refused
RETRY_AFTER = 86400.0  # seconds: a refused path is tried again once a day, if nothing changed


@dataclass(frozen=True)
class Refusal:
    """A refusal as the journal keeps it: the path, what version it refused, until when."""

    path: RelPath
    version: str
    message: str
    retry_after: float


def version(action: Action) -> str:
    """The version of ``action``'s path the share was asked to take (or give): what must
    change before the same request is worth sending again."""
    if action.kind is ActionKind.DOWNLOAD:
        remote = action.remote
        return f"share:{remote.etag}:{remote.size}" if remote is not None else "share:-"
    local = action.local
    if local is None:
        return "here:-"  # a delete: the share was asked to drop what is gone here
    if local.kind is Kind.DIR:
        return "here:dir"
    return f"here:{local.size}:{local.mtime_ns}"


@dataclass(frozen=True)
class Held:
    """The actions of a plan left alone because of a refusal still in force."""

    plan: Plan
    held: tuple[Refusal, ...]  # each refusal holding something back, once
    stale: tuple[RelPath, ...]  # refusals the plan no longer asks about: forget them


def hold(plan: Plan, refusals: Iterable[Refusal], *, now: float) -> Held:
    """``plan`` without the actions a refusal still covers: same path and version (a refused
    folder covers everything below it too), retry date not reached. Refusals of paths the
    plan has no action for are ``stale``: the path was resolved some other way."""
    by_path: Mapping[RelPath, Refusal] = {r.path: r for r in refusals}
    if not by_path:
        return Held(plan, (), ())
    kept: list[Action] = []
    held: dict[RelPath, Refusal] = {}
    asked: set[RelPath] = set()
    for action in plan.actions:
        refusal = _covering(action, by_path, now)
        asked.add(action.path)
        if refusal is None:
            kept.append(action)
        else:
            held[refusal.path] = refusal
    stale = tuple(sorted(p for p in by_path if p not in asked and p not in held))
    return Held(dataclasses.replace(plan, actions=tuple(kept)), tuple(held.values()), stale)


def _in_force(refusal: Refusal, now: float) -> bool:
    # A retry date further off than RETRY_AFTER was set by a clock running ahead (a PC a
    # year off, since put right): it is due now rather than in a year.
    return now < refusal.retry_after <= now + RETRY_AFTER


def _covering(action: Action, refusals: Mapping[RelPath, Refusal], now: float) -> Refusal | None:
    own = refusals.get(action.path)
    if own is not None and _in_force(own, now) and own.version == version(action):
        return own
    # A write into a folder the share would not create is refused too: not sent either.
    if action.kind is ActionKind.DOWNLOAD:
        return None
    return next(
        (
            r
            for r in refusals.values()
            if r.version == "here:dir"
            and _in_force(r, now)
            and action.path != r.path
            and is_within(action.path, r.path)
        ),
        None,
    )
