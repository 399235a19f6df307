"""Property tests for agent.reconcile (hypothesis).

1. The classification never yields a cell outside ``REACHABLE``.
2. No plan deletes a file that is new or changed on the side it is deleted from, a
   ``merge_only`` plan deletes nothing, and nothing the share never confirmed is deleted
   locally.
3. A pure simulated executor, applying a plan to two dict "file systems", ends with equal
   sides after one pass when nothing was skipped, and no content present before the pass is
   gone afterwards (it is live, in a trash, or was an unedited version an edit replaced).
   So also with a restore marker, which lets only a file still as restored give way (to the
   trash), and only where the journal does not know its path.

Scenarios start from a synced tree and apply random edits, touches, deletions, creations,
renames and rewrites to each side, on a tiny name space so that collisions, type changes
and rename ambiguities are frequent. Half of them are on a share whose listings carry no
ETag (nginx): there the listed getlastmodified (``version``) and size tell a change.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.model import (
    Action,
    ActionKind,
    JournalEntry,
    Kind,
    LocalEntry,
    Plan,
    Reason,
    RemoteEntry,
    RestoredFile,
    is_within,
    parent_of,
)
from agent.reconcile import REACHABLE, State, local_state, paths_needing_hash, reconcile, remote_state

NOW = datetime(2026, 11, 29, 9, 30)
NAMES = ("a", "b", "c")
UNIVERSE = tuple("/".join(p) for n in (1, 2, 3) for p in itertools.product(NAMES, repeat=n))
OPS = ("edit", "touch", "delete", "create", "mkdir", "rename", "rewrite")


@dataclass(frozen=True)
class Node:
    """One item of a simulated side. ``ident`` is the inode (local) or fileid (remote);
    ``version`` the mtime (local) or ETag (remote); ``dirty`` marks content created or edited
    since the journal, i.e. what must never be overwritten or deleted."""

    kind: Kind
    ident: int
    version: int
    content: str = ""
    dirty: bool = False


World = dict[str, Node]


def sha(content: str) -> str:
    return hashlib.sha256(content.encode()).hexdigest()


def has_dir_parent(world: World, path: str) -> bool:
    folder = parent_of(path)
    return folder == "" or (folder in world and world[folder].kind is Kind.DIR)


def subtree(world: World, root: str) -> list[str]:
    return [p for p in world if is_within(p, root)]


def move(world: World, source: str, target: str) -> None:
    assert source in world, f"move of missing {source}"
    assert target not in world, f"move onto existing {target}"
    assert has_dir_parent(world, target), f"move into missing folder {target}"
    for path in subtree(world, source):
        world[target + path[len(source):]] = world.pop(path)


def apply_op(world: World, op: str, pick: int, path: str, other: str, seq: Iterator[int]) -> None:
    """One user action on one side; an op that makes no sense here does nothing.

    Edits, touches, rewrites, deletions and renames act on an existing item (``pick``);
    creations and rename targets use names from the small universe, so they often collide.
    """
    if op in ("edit", "touch", "rewrite", "delete", "rename") and world:
        path = sorted(world)[pick % len(world)]
    node = world.get(path)
    if op in ("edit", "touch", "rewrite") and node is not None and node.kind is Kind.FILE:
        content = node.content if op == "touch" else f"{next(seq):03d}"
        ident = next(seq) if op == "rewrite" else node.ident
        world[path] = Node(Kind.FILE, ident, next(seq), content, node.dirty or op != "touch")
    elif op == "delete" and node is not None:
        for p in subtree(world, path):
            del world[p]
    elif op in ("create", "mkdir") and node is None and has_dir_parent(world, path):
        kind = Kind.FILE if op == "create" else Kind.DIR
        content = f"{next(seq):03d}" if kind is Kind.FILE else ""
        world[path] = Node(kind, next(seq), next(seq), content, dirty=True)
    elif op == "rename" and node is not None and other not in world and has_dir_parent(world, other):
        if not is_within(other, path):
            move(world, path, other)


@dataclass
class Scenario:
    local: World
    remote: World
    journal: dict[str, JournalEntry]
    fileids: bool
    checksums: bool
    merge_only: bool
    busy: dict[str, str] = field(default_factory=dict)  # path → "open" | "unsettled"
    etags: bool = True  # the share's listings carry ETags


def base_tree(items: list[tuple[str, bool]], seq: Iterator[int]) -> World:
    world: World = {}
    for path, is_file in items:
        ancestors = [parent_of(path)]
        while ancestors[-1]:
            ancestors.append(parent_of(ancestors[-1]))
        if path in world or any(world.get(a, Node(Kind.DIR, 0, 0)).kind is Kind.FILE for a in ancestors if a):
            continue
        for folder in reversed([a for a in ancestors if a]):
            world.setdefault(folder, Node(Kind.DIR, next(seq), next(seq)))
        content = f"{next(seq):03d}" if is_file else ""
        world[path] = Node(Kind.FILE if is_file else Kind.DIR, next(seq), next(seq), content)
    return world


def other_identity(world: World, seq: Iterator[int]) -> World:
    """The same tree as the share holds it: same content, its own fileids and ETags."""
    return {p: replace(n, ident=next(seq), version=next(seq)) for p, n in world.items()}


def journal_of(
    local: World, remote: World, fileids: bool, checksums: bool, etags: bool = True
) -> dict[str, JournalEntry]:
    journal = {}
    for path, node in local.items():
        r = remote[path]
        journal[path] = JournalEntry(
            path, node.kind, local_size=len(node.content), local_mtime_ns=node.version,
            local_inode=node.ident, sha256=sha(node.content) if node.kind is Kind.FILE else None,
            remote_etag=f"e{r.version}" if etags else "", remote_size=len(r.content),
            remote_mtime=r.version,
            remote_checksum=checksum_of(r, checksums), remote_fileid=str(r.ident) if fileids else None,
        )
    return journal


def checksum_of(node: Node, checksums: bool) -> str | None:
    if not checksums or node.kind is Kind.DIR:
        return None
    return f"SHA1:{'0' * 40} MD5:{'0' * 32} SHA256:{sha(node.content).upper()}"


paths = st.sampled_from(UNIVERSE)
ops = st.lists(st.tuples(st.sampled_from(OPS), st.integers(0, 63), paths, paths), max_size=5)


@st.composite
def scenarios(draw: st.DrawFn, *, busy: bool = False) -> Scenario:
    seq = itertools.count(1)
    local = base_tree(draw(st.lists(st.tuples(paths, st.booleans()), min_size=1, max_size=8)), seq)
    remote = other_identity(local, seq)
    fileids, checksums, etags = draw(st.booleans()), draw(st.booleans()), draw(st.booleans())
    journal = journal_of(local, remote, fileids, checksums, etags)
    # Some uploads the share never confirmed (no ETag in the PUT answer, not listed yet).
    for path in draw(st.sets(st.sampled_from(UNIVERSE), max_size=3)):
        if path in journal and journal[path].kind is Kind.FILE:
            journal[path] = replace(journal[path], remote_confirmed=False)
    for op in draw(ops):
        apply_op(local, *op, seq)
    for op in draw(ops):
        apply_op(remote, *op, seq)
    flags = {}
    if busy:
        flags = draw(st.dictionaries(st.sampled_from(UNIVERSE), st.sampled_from(["open", "unsettled"]), max_size=3))
    return Scenario(local, remote, journal, fileids, checksums, draw(st.booleans()), flags, etags)


def scan(
    s: Scenario,
    restored: dict[str, RestoredFile] | None = None,
    also_hash: frozenset[str] = frozenset(),
) -> tuple[dict[str, LocalEntry], dict[str, RemoteEntry]]:
    """The entries the scanner and the lister would give, hashing what reconcile asks for
    (and ``also_hash``)."""
    local = {}
    for path, n in s.local.items():
        entry = LocalEntry(
            path, n.kind, size=len(n.content), mtime_ns=n.version, inode=n.ident, fs_path=path,
            settled=s.busy.get(path) != "unsettled", open_in_editor=s.busy.get(path) == "open",
        )
        base = s.journal.get(path)
        if base is not None and base.matches_local(entry):
            entry = replace(entry, sha256=base.sha256)
        local[path] = entry
    remote = {
        path: RemoteEntry(
            path, n.kind, etag=f"e{n.version}" if s.etags else "", size=len(n.content),
            mtime=n.version, href_path=path,
            checksum=checksum_of(n, s.checksums), fileid=str(n.ident) if s.fileids else None,
        )
        for path, n in s.remote.items()
    }
    wanted = set(paths_needing_hash(local, remote, s.journal, restored or {}))
    for path in wanted | {p for p in also_hash if p in local and local[p].kind is Kind.FILE}:
        local[path] = replace(local[path], sha256=sha(s.local[path].content))
    return local, remote


def plan_for(
    s: Scenario,
    restored: dict[str, RestoredFile] | None = None,
    also_hash: frozenset[str] = frozenset(),
) -> Plan:
    local, remote = scan(s, restored, also_hash)
    return reconcile(local, remote, s.journal, now=NOW, host="GV-LAN", merge_only=s.merge_only,
                     restored=restored)


@dataclass
class Executor:
    """Applies a plan to two simulated sides as propagate would, refusing anything unsafe."""

    local: World
    remote: World
    seq: Iterator[int]
    trash: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)  # unedited versions an edit superseded

    def run(self, plan: Plan) -> None:
        for action in plan.actions:
            getattr(self, action.kind.value)(action)

    def move_local(self, a: Action) -> None:
        move(self.local, a.source or "", a.path)

    def move_remote(self, a: Action) -> None:
        move(self.remote, a.source or "", a.path)

    def mkdir_local(self, a: Action) -> None:
        self._mkdir(self.local, a.path)

    def mkdir_remote(self, a: Action) -> None:
        self._mkdir(self.remote, a.path)

    def _mkdir(self, world: World, path: str) -> None:
        assert path not in world and has_dir_parent(world, path), f"bad mkdir {path}"
        world[path] = Node(Kind.DIR, next(self.seq), next(self.seq))

    def upload(self, a: Action) -> None:
        if a.remote is not None:  # conditional on the ETag (or time) reconcile saw
            there = self.remote[a.path]
            assert a.remote.etag in ("", f"e{there.version}"), f"stale upload {a.path}"
            assert a.remote.mtime == there.version, f"stale upload {a.path}"
        self._put(self.remote, a.path, self.local[a.path].content, create=a.remote is None)

    def download(self, a: Action) -> None:
        if a.reason is Reason.RESTORED_OLDER:  # the restored version goes to the trash
            self.trash.append(self.local.pop(a.path).content)
            self._put(self.local, a.path, self.remote[a.path].content, create=True)
            return
        self._put(self.local, a.path, self.remote[a.path].content, create=a.local is None)

    def _put(self, world: World, path: str, content: str, *, create: bool) -> None:
        assert has_dir_parent(world, path), f"write into missing folder {path}"
        old = world.get(path)
        if create:
            assert old is None, f"create over existing {path}"
        else:
            assert old is not None and old.kind is Kind.FILE, f"update of missing {path}"
            assert not old.dirty, f"overwrote an edit at {path}"
            self.replaced.append(old.content)
        world[path] = Node(Kind.FILE, next(self.seq), next(self.seq), content)

    def delete_local(self, a: Action) -> None:
        if a.reason is Reason.RESTORED_GONE_FROM_SHARE:  # as restored, deleted on the share since
            self.trash.append(self.local.pop(a.path).content)
            return
        self._delete(self.local, a.path)

    def delete_remote(self, a: Action) -> None:
        self._delete(self.remote, a.path)

    def _delete(self, world: World, path: str) -> None:
        assert path in world, f"delete of missing {path}"
        for p in subtree(world, path):
            node = world.pop(p)
            # (A re-created empty folder reads as unchanged: folders compare by existence.)
            assert node.kind is Kind.DIR or not node.dirty, f"deleted an edit at {p}"
            self.trash.append(node.content)

    def conflict(self, a: Action) -> None:
        mine, theirs = self.local[a.path], self.remote[a.path]
        assert mine.kind is theirs.kind is Kind.FILE
        if mine.content == theirs.content:
            return
        copy = a.conflict_copy or ""
        assert copy not in self.local and copy not in self.remote, f"conflict copy {copy} taken"
        self.local[copy] = mine
        self.remote[copy] = replace(mine, dirty=False)
        self.local[a.path] = replace(theirs, dirty=False)

    def record(self, a: Action) -> None:
        mine, theirs = self.local.get(a.path), self.remote.get(a.path)
        assert mine is not None and theirs is not None and mine.kind is theirs.kind
        assert mine.content == theirs.content, f"recorded different content at {a.path}"

    def forget(self, a: Action) -> None:
        assert a.path not in self.local and a.path not in self.remote, f"forgot live {a.path}"


def tree(world: World) -> dict[str, tuple[Kind, str]]:
    return {p: (n.kind, n.content) for p, n in world.items()}


def contents(world: World) -> set[str]:
    return {n.content for n in world.values() if n.kind is Kind.FILE}


# --- 1. reachable cells ----------------------------------------------------------------------

kinds = st.sampled_from(Kind)
local_entries = st.builds(
    LocalEntry, path=st.just("p"), kind=kinds, size=st.integers(0, 2), mtime_ns=st.integers(0, 2),
    inode=st.integers(0, 2), sha256=st.sampled_from([None, "x", "y"]),
)
remote_entries = st.builds(
    RemoteEntry, path=st.just("p"), kind=kinds, etag=st.sampled_from(["", "e1", "e2"]), size=st.integers(0, 2),
)
journal_entries = st.builds(
    JournalEntry, path=st.just("p"), kind=kinds, local_size=st.integers(0, 2), local_mtime_ns=st.integers(0, 2),
    local_inode=st.integers(0, 2), sha256=st.sampled_from([None, "x", "y"]),
    remote_etag=st.sampled_from(["", "e1", "e2"]), remote_size=st.integers(0, 2),
)


@given(st.none() | local_entries, st.none() | remote_entries, st.none() | journal_entries)
def test_classification_never_yields_an_unreachable_cell(local, remote, journal) -> None:
    cell = local_state(local, journal), remote_state(remote, journal)
    if local is None and remote is None and journal is None:
        assert cell == (State.ABSENT, State.ABSENT)
    else:
        assert cell in REACHABLE
    assert (journal is None) == (cell[0] in (State.NEW, State.ABSENT))


# --- 2. deletions only of unchanged items; merge_only deletes nothing -------------------------


@settings(max_examples=300, deadline=None)
@given(scenarios(busy=True))
def test_no_plan_deletes_what_is_new_or_changed_on_that_side(s: Scenario) -> None:
    plan = plan_for(s)
    for action in plan.deletions:
        assert action.journal is not None, action
        if action.kind is ActionKind.DELETE_LOCAL:
            assert local_state(action.local, action.journal) is State.UNCHANGED, action
        else:
            assert remote_state(action.remote, action.journal) is State.UNCHANGED, action
    if s.merge_only:
        assert plan.deletions == []
    # Seen before trusted: nothing the share never confirmed is deleted here.
    for action in plan.of_kind(ActionKind.DELETE_LOCAL):
        covered = [s.journal.get(path) for path in action.covers]
        for entry in (action.journal, *covered):
            assert entry is None or entry.remote_confirmed, action
    # Folder deletes carry their subtree: the executor refuses to delete any edited item in it.
    Executor(dict(s.local), dict(s.remote), itertools.count(10_000)).run(plan)


# --- 3. one pass converges and loses nothing -------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(scenarios())
def test_one_pass_converges_and_loses_nothing(s: Scenario) -> None:
    plan = plan_for(s)
    before = contents(s.local) | contents(s.remote)
    run = Executor(dict(s.local), dict(s.remote), itertools.count(10_000))
    run.run(plan)
    if not plan.skipped:
        assert tree(run.local) == tree(run.remote)
    after = contents(run.local) | contents(run.remote) | set(run.trash) | set(run.replaced)
    assert before <= after, sorted(before - after)


@settings(max_examples=100, deadline=None)
@given(scenarios())
def test_a_second_pass_after_convergence_plans_nothing(s: Scenario) -> None:
    plan = plan_for(s)
    run = Executor(dict(s.local), dict(s.remote), itertools.count(10_000))
    run.run(plan)
    if plan.skipped:
        return
    journal = journal_of(run.local, run.remote, s.fileids, s.checksums, s.etags)
    synced = Scenario(run.local, run.remote, journal, s.fileids, s.checksums, merge_only=False,
                      etags=s.etags)
    assert plan_for(synced) == Plan()


# --- 4. a restore marker ------------------------------------------------------------------------


@st.composite
def restored_scenarios(draw: st.DrawFn) -> tuple[Scenario, dict[str, RestoredFile]]:
    """A scenario plus a marker naming some local files, as restored or edited since."""
    s = draw(scenarios(busy=True))
    files = sorted(p for p, n in s.local.items() if n.kind is Kind.FILE)
    new = [p for p in files if p not in s.journal]  # where the marker may decide
    known = [p for p in files if p in s.journal]  # where it must change nothing
    chosen = set(draw(st.lists(st.sampled_from(new), min_size=1))) if new else set()
    chosen |= draw(st.sets(st.sampled_from(known), max_size=2)) if known else set()
    restored = {
        path: RestoredFile(
            sha(s.local[path].content) if draw(st.booleans()) else sha("edited since"),
            on_share=draw(st.sampled_from([None, False, True])),
            wanted=draw(st.booleans()),
        )
        for path in chosen
    }
    return s, restored


@settings(max_examples=300, deadline=None)
@given(restored_scenarios())
def test_a_restore_marker_loses_nothing_and_decides_only_unjournaled_restored_files(
    case: tuple[Scenario, dict[str, RestoredFile]],
) -> None:
    s, restored = case
    # The plain plan sees the hashes the marker made the scan take: a hash alone may decide a
    # file (same content on both sides), and that is not the marker deciding it.
    plan, plain = plan_for(s, restored), plan_for(s, also_hash=frozenset(restored))
    hinted = {Reason.RESTORED_OLDER, Reason.RESTORED_GONE_FROM_SHARE}
    for action in plan.actions:
        if action.reason in hinted:
            assert action.journal is None and action.local is not None, action
            assert restored[action.path].sha256 == action.local.sha256, action
    # Everything else is decided as without the marker (a hashed file may carry its hash).
    decided = {a.path for a in plan.actions if a.reason in hinted}
    def brief(actions) -> list[tuple]:
        return [(a.kind, a.path, a.reason, a.source, a.conflict_copy) for a in actions]
    assert brief(a for a in plan.actions if a.reason not in hinted) == brief(
        a for a in plain.actions if a.path not in decided
    )
    before = contents(s.local) | contents(s.remote)
    run = Executor(dict(s.local), dict(s.remote), itertools.count(10_000))
    run.run(plan)
    if not plan.skipped:
        assert tree(run.local) == tree(run.remote)
    after = contents(run.local) | contents(run.remote) | set(run.trash) | set(run.replaced)
    assert before <= after, sorted(before - after)
