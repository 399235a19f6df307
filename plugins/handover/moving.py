"""Moving the handover log an earlier hoso kept in the records folder to the school folder:
moved, never lost.

Before the school folder, each keeper's log files lived in ``Bàn giao tài khoản/`` of their
own records folder, where the other keeper never saw them. Once this computer has a school
folder, each such file goes to the same place in the school folder:

- a file the school folder lacks is copied there (agent.durable, then read back and compared);
- an identical copy there needs no copy;
- when one copy continues the other (the chains only grow), the longer one is kept there;
- only once the school folder's sync has put that copy on the share (agent.api.
  on_school_share: the school lane's journal holds the file with these very bytes) does the
  records folder's copy go to hoso's trash (agent.api.trash_moved_file: `hoso trash restore`
  brings it back). Until then both copies stay and the records folder's keeps syncing to the
  teacher's own folder of the share: a school folder this teacher may only read (a former
  keeper) refuses the upload, and the log must not end up on this computer's disk alone;
- two copies that diverged are both kept, the records folder's where it is, and the reading
  of the log reports them (ledger.diverged_problem).

It runs on every handover command and in the plugin's job, and is idempotent: a crash between
the copy and the trash leaves two identical copies, which the next run resolves. The files
keep their names, so this computer's memory of the log (``remember``) finds them where they
went instead of reporting them gone.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from agent.api import Config, HosoError, _, on_school_share, trash_moved_file, write_atomic

from . import ledger
from .ledger import Relation
from .service import log_home_or_none


@dataclass(frozen=True)
class Moved:
    """What one run did: files moved, files kept in both places, and what went wrong."""

    moved: list[str] = field(default_factory=list)  # names now only in the school folder
    # names copied to the school folder but not on the share yet: both copies kept
    waiting: list[str] = field(default_factory=list)
    diverged: list[Path] = field(default_factory=list)  # records copies kept where they are
    failed: list[str] = field(default_factory=list)  # messages; tried again next time


def move_earlier_logs(config: Config) -> Moved:
    """Move every log file of the records folder to the school folder (see above); nothing
    to do without a school folder, or before its first sync has made it."""
    home = log_home_or_none(config)
    done = Moved()
    if home is None or not home.school:
        return done
    for path in ledger.log_files(config.root):
        try:
            data = ledger.read_file(path)
            there = _copy(home.folder, path.name, ledger.lines_of(data), data)
        except (ledger.Unreadable, OSError) as exc:
            done.failed.append(_cannot(path, str(exc)))
            continue
        if there is None:
            done.diverged.append(path)
            continue
        relpath = f"{ledger.FOLDER}/{path.name}"
        if not on_school_share(config, relpath, hashlib.sha256(there).hexdigest()):
            done.waiting.append(path.name)
            continue
        try:
            trash_moved_file(config, path, sha256=hashlib.sha256(data).hexdigest())
        except HosoError as exc:
            done.failed.append(_cannot(path, str(exc)))
            continue
        done.moved.append(path.name)
    return done


def _copy(folder: Path, name: str, lines: list[bytes], data: bytes) -> bytes | None:
    """Make the school folder's ``name`` hold ``lines`` or a continuation of them and return
    its bytes as read back; None when its copy diverged from them (nothing written)."""
    folder.mkdir(exist_ok=True)
    target = folder / name
    with ledger.locked(folder):  # the folder's writers (ledger.append) take this lock too
        found = ledger.relation(lines, ledger.read_lines(target))
        if found is Relation.DIVERGED:
            return None
        if found is Relation.FIRST_LONGER:  # also a file the school folder lacks
            write_atomic(target, data, mode=0o644)  # the log is shared and holds no secret
        there = ledger.read_file(target)
        # Read back under the lock: these bytes hold every line of the records copy.
        if ledger.relation(lines, ledger.lines_of(there)) not in (
            Relation.SAME,
            Relation.SECOND_LONGER,
        ):
            raise ledger.Unreadable(_("its copy in the school folder does not read back"))
    return there


def _cannot(path: Path, problem: str) -> str:
    return _(
        "The handover log file {path} could not be moved to the school folder ({problem}); "
        "it stays in the records folder and is tried again later."
    ).format(path=path, problem=problem)
