"""agent.reconcile, decision by decision, with literal states (no I/O anywhere)."""

from __future__ import annotations

import unicodedata
import zlib
from dataclasses import replace
from datetime import datetime

import pytest

from agent.conflictname import conflict_copy_name
from agent.guards import DeleteCheck, check_mass_delete
from agent.model import (
    Action,
    JournalEntry,
    Kind,
    LocalEntry,
    Plan,
    RemoteEntry,
    RestoredFile,
    Skip,
    SkipReason,
)
from agent.model import (
    ActionKind as K,
)
from agent.model import (
    Reason as R,
)
from agent.reconcile import (
    State,
    local_state,
    paths_needing_hash,
    reconcile,
    remote_state,
)

NOW = datetime(2026, 11, 29, 9, 30)
HOST = "GV-LAN"
TAG = "bản xung đột, máy GV-LAN, 2026-11-29 09h30"


def sha(v: int) -> str:
    return f"{v:064x}"


def inode(path: str) -> int:
    return zlib.crc32(path.encode()) | 1


# Version v of a file: size 100+v, mtime v, ETag "e<v>", sha256 sha(v).
def lf(path: str, v: int = 1, *, ino: int | None = None, hashed: bool = True, **kw: object) -> LocalEntry:
    return LocalEntry(path, Kind.FILE, size=100 + v, mtime_ns=v, inode=ino or inode(path), fs_path=path,
                      sha256=sha(v) if hashed else None, **kw)  # type: ignore[arg-type]


def rf(path: str, v: int = 1, *, fileid: str | None = None, checksum: str | None = None) -> RemoteEntry:
    return RemoteEntry(path, Kind.FILE, etag=f"e{v}", size=100 + v, href_path=path, checksum=checksum, fileid=fileid)


def jf(path: str, v: int = 1, *, ino: int | None = None, fileid: str | None = None) -> JournalEntry:
    return JournalEntry(path, Kind.FILE, local_size=100 + v, local_mtime_ns=v, local_inode=ino or inode(path),
                        sha256=sha(v), remote_etag=f"e{v}", remote_size=100 + v, remote_fileid=fileid)


def ld(path: str, *, ino: int | None = None) -> LocalEntry:
    return LocalEntry(path, Kind.DIR, inode=ino or inode(path), fs_path=path)


def rd(path: str, *, fileid: str | None = None) -> RemoteEntry:
    return RemoteEntry(path, Kind.DIR, href_path=path, fileid=fileid)


def jd(path: str, *, ino: int | None = None, fileid: str | None = None) -> JournalEntry:
    return JournalEntry(path, Kind.DIR, local_inode=ino or inode(path), remote_fileid=fileid)


def run(local=(), remote=(), journal=(), **kw: object) -> Plan:
    return reconcile({e.path: e for e in local}, {e.path: e for e in remote}, {e.path: e for e in journal},
                     now=NOW, host=HOST, **kw)  # type: ignore[arg-type]


def summary(plan: Plan) -> list[tuple]:
    return [(a.kind, a.path, a.reason) + ((a.source,) if a.source else ()) for a in plan.actions]


# --- files: every reachable cell -----------------------------------------------------------------

P = "Tuần 12/Toán - Bài 12.docx"
COPY = f"Tuần 12/Toán - Bài 12 ({TAG}).docx"
SIDES_L = {"U": lf(P, 1), "C": lf(P, 2), "D": None, "N": lf(P, 2), "A": None}
SIDES_R = {"U": rf(P, 1), "C": rf(P, 3), "D": None, "N": rf(P, 3), "A": None}
FILE_CELLS = [
    ("U", "U", None, None, None),
    ("U", "C", K.DOWNLOAD, R.CHANGED_REMOTE, None),
    ("U", "D", K.DELETE_LOCAL, R.DELETED_REMOTE, None),
    ("C", "U", K.UPLOAD, R.CHANGED_LOCAL, None),
    ("C", "C", K.CONFLICT, R.CHANGED_BOTH, COPY),
    ("C", "D", K.UPLOAD, R.EDIT_BEATS_DELETE, None),
    ("D", "U", K.DELETE_REMOTE, R.DELETED_LOCAL, None),
    ("D", "C", K.DOWNLOAD, R.EDIT_BEATS_DELETE, None),
    ("D", "D", K.FORGET, R.GONE_BOTH, None),
    ("N", "A", K.UPLOAD, R.NEW_LOCAL, None),
    ("A", "N", K.DOWNLOAD, R.NEW_REMOTE, None),
    ("N", "N", K.CONFLICT, R.NEW_BOTH, COPY),
]
STATE = {"U": State.UNCHANGED, "C": State.CHANGED, "D": State.DELETED, "N": State.NEW, "A": State.ABSENT}


@pytest.mark.parametrize(("ls", "rs", "kind", "reason", "copy"), FILE_CELLS)
def test_file_cell(ls: str, rs: str, kind: K | None, reason: R | None, copy: str | None) -> None:
    local, remote = SIDES_L[ls], SIDES_R[rs]
    journal = jf(P, 1) if ls in "UCD" else None
    assert (local_state(local, journal), remote_state(remote, journal)) == (STATE[ls], STATE[rs])
    plan = run([local] if local else [], [remote] if remote else [], [journal] if journal else [])
    expected = () if kind is None else (
        Action(kind, P, reason, local=local, remote=remote, journal=journal, conflict_copy=copy),  # type: ignore[arg-type]
    )
    assert plan == Plan(actions=expected)


def test_upload_carries_the_etag_it_expects_and_a_create_carries_none() -> None:
    update = run([lf("f", 2)], [rf("f", 1)], [jf("f", 1)]).actions[0]
    create = run([lf("f", 2)], [], [jf("f", 1)]).actions[0]
    assert (update.kind, update.remote.etag) == (K.UPLOAD, "e1")  # type: ignore[union-attr]
    assert (create.kind, create.remote) == (K.UPLOAD, None)


@pytest.mark.parametrize("checksum", [f"SHA256:{sha(2)}", f"SHA1:aa MD5:bb SHA256:{sha(2).upper()}", f"sha256:{sha(2)}"])
@pytest.mark.parametrize("journaled", [True, False])
def test_both_changed_to_the_same_bytes_is_recorded_not_a_conflict(checksum: str, journaled: bool) -> None:
    local, remote = lf("f", 2), rf("f", 3, checksum=checksum)
    plan = run([local], [remote], [jf("f", 1)] if journaled else [])
    assert summary(plan) == [(K.RECORD, "f", R.SAME_CONTENT)]


def test_remote_change_with_bytes_equal_to_the_local_file_is_recorded() -> None:
    plan = run([lf("f", 1)], [rf("f", 3, checksum=f"SHA256:{sha(1)}")], [jf("f", 1)])
    assert summary(plan) == [(K.RECORD, "f", R.SAME_CONTENT)]


@pytest.mark.parametrize("checksum", [None, f"SHA1:{sha(2)[:40]}", f"SHA256:{sha(9)}", "MD5:"])
def test_without_a_matching_sha256_both_changed_is_a_conflict(checksum: str | None) -> None:
    plan = run([lf("f", 2)], [rf("f", 3, checksum=checksum)], [jf("f", 1)])
    assert summary(plan) == [(K.CONFLICT, "f", R.CHANGED_BOTH)]
    assert plan.actions[0].conflict_copy == f"f ({TAG})"


def test_a_touch_that_kept_the_bytes_refreshes_the_journal_only() -> None:
    touched = LocalEntry("f", Kind.FILE, size=101, mtime_ns=77, inode=inode("f"), sha256=sha(1))
    assert local_state(touched, jf("f", 1)) is State.UNCHANGED
    assert summary(run([touched], [rf("f", 1)], [jf("f", 1)])) == [(K.RECORD, "f", R.SAME_CONTENT)]
    assert summary(run([touched], [rf("f", 2)], [jf("f", 1)])) == [(K.DOWNLOAD, "f", R.CHANGED_REMOTE)]


def test_an_unhashed_touch_is_uploaded_as_a_change() -> None:
    touched = LocalEntry("f", Kind.FILE, size=101, mtime_ns=77, inode=inode("f"))
    assert summary(run([touched], [rf("f", 1)], [jf("f", 1)])) == [(K.UPLOAD, "f", R.CHANGED_LOCAL)]


# --- merge_only ---------------------------------------------------------------------------------


# --- files a backup restore wrote (the restore marker) ------------------------------------------


def test_a_restored_file_unchanged_since_the_restore_gives_way_to_the_share() -> None:
    """New on both sides, the local bytes still the restored ones, which the snapshot saw on the
    share: the share's version is the newer one and comes down (propagate keeps the restored
    one in the trash); no copy."""
    local, remote = lf(P, 2), rf(P, 3)
    plan = run([local], [remote], restored={P: RestoredFile(sha(2), on_share=True)})
    assert plan == Plan(actions=(Action(K.DOWNLOAD, P, R.RESTORED_OLDER, local=local, remote=remote),))


@pytest.mark.parametrize(
    ("local", "remote", "journal", "expected"),
    [
        # Edited after the restore: the marker's hash no longer matches, both are kept.
        (lf(P, 4), rf(P, 3), None, [(K.CONFLICT, P, R.NEW_BOTH)]),
        # Not hashed: nothing proves it is still the restored file.
        (lf(P, 2, hashed=False), rf(P, 3), None, [(K.CONFLICT, P, R.NEW_BOTH)]),
        # Provably the same bytes on the share: recorded, as always.
        (lf(P, 2), rf(P, 3, checksum=f"SHA256:{sha(2)}"), None, [(K.RECORD, P, R.SAME_CONTENT)]),
        # Only on this side, and the backup did not see it on the share: sent, as any new file.
        (lf(P, 2), None, None, [(K.UPLOAD, P, R.NEW_LOCAL)]),
        # Journaled: the ordinary rules (an older version restored over a synced file is an edit).
        (lf(P, 2), rf(P, 1), jf(P, 1), [(K.UPLOAD, P, R.CHANGED_LOCAL)]),
        (lf(P, 2), rf(P, 3), jf(P, 1), [(K.CONFLICT, P, R.CHANGED_BOTH)]),
    ],
)
def test_the_restore_marker_changes_nothing_else(local, remote, journal, expected) -> None:
    with_marker = run([local], [remote] if remote else [], [journal] if journal else [],
                      restored={P: RestoredFile(sha(2))})
    without = run([local], [remote] if remote else [], [journal] if journal else [])
    assert summary(with_marker) == summary(without) == expected


def test_a_restored_file_the_backup_saw_on_the_share_and_gone_from_it_goes_to_the_trash() -> None:
    local, seen = lf(P, 2), {P: RestoredFile(sha(2), on_share=True)}
    plan = run([local], [], restored=seen)
    assert plan == Plan(actions=(Action(K.DELETE_LOCAL, P, R.RESTORED_GONE_FROM_SHARE, local=local),))
    # Edited since the restore, or the share restored from an older copy (merge only): sent.
    assert summary(run([lf(P, 4)], [], restored=seen)) == [(K.UPLOAD, P, R.NEW_LOCAL)]
    assert summary(run([local], [], restored=seen, merge_only=True)) == [(K.UPLOAD, P, R.NEW_LOCAL)]
    # Open in Word: it waits.
    busy = lf(P, 2, open_in_editor=True)
    assert run([busy], [], restored=seen).skipped == (Skip(P, SkipReason.OPEN_IN_EDITOR),)


@pytest.mark.parametrize("on_share", [False, None], ids=["never on the share", "not known"])
def test_a_restored_file_the_backup_did_not_see_on_the_share_is_kept_beside_the_shares(
    on_share: bool | None,
) -> None:
    """The snapshot says the share never had these bytes, or does not say (made by an older
    hoso): possibly an edit the dead PC never sent, so both are kept, never replaced."""
    unsent = {P: RestoredFile(sha(2), on_share=on_share)}
    assert summary(run([lf(P, 2)], [rf(P, 3)], restored=unsent)) == [(K.CONFLICT, P, R.NEW_BOTH)]


def test_a_restored_file_asked_back_follows_the_ordinary_rules() -> None:
    """Asked back (by name, into a synced folder): sent again, not trashed."""
    wanted = {P: RestoredFile(sha(2), on_share=True, wanted=True)}
    assert summary(run([lf(P, 2)], [], restored=wanted)) == [(K.UPLOAD, P, R.NEW_LOCAL)]
    assert summary(run([lf(P, 2)], [rf(P, 3)], restored=wanted)) == [(K.DOWNLOAD, P, R.RESTORED_OLDER)]
    unknown = {P: RestoredFile(sha(2))}  # an older snapshot says nothing: sent again
    assert summary(run([lf(P, 2)], [], restored=unknown)) == [(K.UPLOAD, P, R.NEW_LOCAL)]


def test_a_restored_file_only_here_is_hashed_to_tell_whether_it_is_still_as_restored() -> None:
    local = {P: lf(P, 2, hashed=False)}
    assert paths_needing_hash(local, {}, {}) == set()
    assert paths_needing_hash(local, {}, {}, {P: RestoredFile(sha(2), on_share=True)}) == {P}


def test_merge_only_turns_deletions_into_copies_back() -> None:
    plan = run([lf("kept_here", 1), ld("dir_here")],
               [rf("gone_here", 1), rd("dir_there"), rf("dir_there/x", 1)],
               [jf("kept_here"), jf("gone_here"), jf("gone_both"), jd("dir_here"), jd("dir_there"), jf("dir_there/x")],
               merge_only=True)
    assert plan.deletions == []
    assert summary(plan) == [
        (K.MKDIR_REMOTE, "dir_here", R.MERGE_ONLY),
        (K.MKDIR_LOCAL, "dir_there", R.MERGE_ONLY),
        (K.DOWNLOAD, "dir_there/x", R.MERGE_ONLY),
        (K.DOWNLOAD, "gone_here", R.MERGE_ONLY),
        (K.UPLOAD, "kept_here", R.MERGE_ONLY),
        (K.FORGET, "gone_both", R.GONE_BOTH),
    ]
    assert plan.of_kind(K.UPLOAD)[0].remote is None  # a create, not an update


def test_merge_only_type_change_keeps_both() -> None:
    plan = run([ld("x"), lf("x/new", 5)], [rf("x", 1)], [jf("x", 1)], merge_only=True)
    assert plan.deletions == []
    assert summary(plan)[0] == (K.MOVE_REMOTE, f"x ({TAG})", R.TYPE_CHANGED, "x")


# A journal entry synced at 10:00:00 (remote_mtime), and share copies of other versions.
SYNCED_AT = 1_795_000_000


def synced(path: str, v: int = 1, **kw: object) -> JournalEntry:
    return replace(jf(path, v), remote_mtime=SYNCED_AT, **kw)  # type: ignore[arg-type]


def on_share(path: str, v: int, mtime: int) -> RemoteEntry:
    return replace(rf(path, v), mtime=mtime)


def test_merge_only_never_downloads_an_older_share_copy_over_an_unchanged_file() -> None:
    older = on_share("older", 3, SYNCED_AT - 3600)  # the share went back an hour
    newer = on_share("newer", 3, SYNCED_AT + 3600)  # someone edited it since
    close = on_share("close", 3, SYNCED_AT - 30)  # within the slack: not provably older
    same = replace(on_share("same", 3, SYNCED_AT - 3600), checksum=f"SHA256:{sha(1)}")
    plan = run([lf(p, 1) for p in ("older", "newer", "close", "same")], [older, newer, close, same],
               [synced(p) for p in ("older", "newer", "close", "same")], merge_only=True)
    assert summary(plan) == [
        (K.CONFLICT, "close", R.MERGE_ONLY),
        (K.CONFLICT, "newer", R.MERGE_ONLY),
        (K.UPLOAD, "older", R.MERGE_ONLY),
        (K.RECORD, "same", R.SAME_CONTENT),
    ]
    assert plan.of_kind(K.UPLOAD)[0].remote == older  # If-Match the older copy's ETag
    assert plan.deletions == []
    # Edited here too: the edit replaces an older copy, and is a conflict check otherwise.
    edited = run([lf("older", 2), lf("newer", 2)], [older, newer], [synced("older"), synced("newer")],
                 merge_only=True)
    assert summary(edited) == [(K.CONFLICT, "newer", R.CHANGED_BOTH), (K.UPLOAD, "older", R.MERGE_ONLY)]
    # Without merge_only the same older copy is an ordinary change from the share.
    assert summary(run([lf("older", 1)], [older], [synced("older")])) == [
        (K.DOWNLOAD, "older", R.CHANGED_REMOTE)]


# --- seen before trusted --------------------------------------------------------------------------


def unconfirmed(path: str, v: int = 1) -> JournalEntry:
    """An upload whose PUT answer had no ETag and that no listing has shown yet."""
    return replace(jf(path, v), remote_etag="", remote_confirmed=False)


def test_an_unconfirmed_upload_missing_from_the_share_is_uploaded_again() -> None:
    plan = run([lf("f", 1)], [], [unconfirmed("f")])
    assert summary(plan) == [(K.UPLOAD, "f", R.NOT_SEEN_ON_SHARE)]
    assert plan.actions[0].remote is None  # a create: If-None-Match
    # A confirmed one is a deletion on the share, as ever.
    confirmed = replace(unconfirmed("f"), remote_confirmed=True)
    assert summary(run([lf("f", 1)], [], [confirmed])) == [(K.DELETE_LOCAL, "f", R.DELETED_REMOTE)]


def test_an_unconfirmed_upload_listed_with_its_size_is_recorded_as_seen() -> None:
    listed = replace(rf("f", 1), etag="", mtime=1_790_000_000)  # nginx: no ETag in listings
    journal = replace(unconfirmed("f"), remote_mtime=1_790_000_000)
    plan = run([lf("f", 1)], [listed], [journal])
    assert summary(plan) == [(K.RECORD, "f", R.SEEN_ON_SHARE)]
    assert plan.actions[0].remote == listed
    # No time learnt from a listing: its size alone proves nothing, the bytes are compared.
    assert summary(run([lf("f", 1)], [listed], [unconfirmed("f")])) == [
        (K.CONFLICT, "f", R.NOT_SEEN_ON_SHARE)]


@pytest.mark.parametrize(("local", "remote", "kind", "reason"), [
    (None, None, K.FORGET, R.GONE_BOTH),
    (lf("f", 2), None, K.UPLOAD, R.EDIT_BEATS_DELETE),
    (None, replace(rf("f", 1), etag=""), K.DELETE_REMOTE, R.DELETED_LOCAL),
    # Listed with a time but none learnt for it: maybe someone's edit, so it comes back.
    (None, replace(rf("f", 1), etag="", mtime=1_790_000_000), K.DOWNLOAD, R.EDIT_BEATS_DELETE),
    # Listed as another version (a cut upload, someone's edit): compare bytes, keep both.
    (lf("f", 1), rf("f", 3), K.CONFLICT, R.NOT_SEEN_ON_SHARE),
    (lf("f", 1), replace(rf("f", 1), etag="e9"), K.CONFLICT, R.NOT_SEEN_ON_SHARE),
])
def test_other_cells_of_an_unconfirmed_upload(local, remote, kind, reason) -> None:
    plan = run([local] if local else [], [remote] if remote else [], [unconfirmed("f")])
    assert summary(plan) == [(kind, "f", reason)]


def test_a_folder_missing_from_the_share_with_unconfirmed_uploads_is_sent_again() -> None:
    plan = run([ld("d"), lf("d/a", 1), lf("d/b", 1)], [],
               [jd("d"), unconfirmed("d/a"), replace(jf("d/b"), remote_confirmed=True)])
    # The folder is not deleted whole; only the confirmed file it held goes (to the trash).
    assert summary(plan) == [
        (K.MKDIR_REMOTE, "d", R.EDIT_BEATS_DELETE),
        (K.UPLOAD, "d/a", R.NOT_SEEN_ON_SHARE),
        (K.DELETE_LOCAL, "d/b", R.DELETED_REMOTE),
    ]


# --- shares whose listings carry no ETag (nginx) ----------------------------------------------------

T = 1_790_000_000  # a getlastmodified, whole seconds


def rn(path: str, v: int = 1, *, mtime: int = T) -> RemoteEntry:
    """A listed file without an ETag: size and getlastmodified are all the share says."""
    return RemoteEntry(path, Kind.FILE, size=100 + v, mtime=mtime, href_path=path)


def jn(path: str, v: int = 1, *, mtime: int = T, etag: str = "") -> JournalEntry:
    return replace(jf(path, v), remote_etag=etag, remote_mtime=mtime)


@pytest.mark.parametrize(("listed", "state"), [
    (rn(P), State.UNCHANGED),
    (rn(P, mtime=T + 1), State.CHANGED),  # a same-size edit: only the time tells
    (rn(P, 2), State.CHANGED),  # another size
    (rn(P, 2, mtime=T), State.CHANGED),  # another size within the same second
    (rn(P, mtime=0), State.UNCHANGED),  # a share that tells no time either: size is all
])
def test_without_etags_size_and_time_tell_a_change(listed: RemoteEntry, state: State) -> None:
    assert remote_state(listed, jn(P)) is state


def test_a_same_size_edit_on_the_share_comes_down() -> None:
    plan = run([lf(P)], [rn(P, mtime=T + 60)], [jn(P)])
    assert summary(plan) == [(K.DOWNLOAD, P, R.CHANGED_REMOTE)]


def test_without_etags_an_unchanged_share_file_lets_local_edits_and_deletes_through() -> None:
    assert summary(run([lf(P, 2)], [rn(P)], [jn(P)])) == [(K.UPLOAD, P, R.CHANGED_LOCAL)]
    assert summary(run([], [rn(P)], [jn(P)])) == [(K.DELETE_REMOTE, P, R.DELETED_LOCAL)]
    assert run([lf(P)], [rn(P)], [jn(P)]) == Plan()


def test_a_download_etag_kept_by_an_older_hoso_is_not_compared_with_an_etagless_listing() -> None:
    """Journals written before: the GET's ETag ("<hex mtime>-<hex size>" on nginx) beside the
    GET's Last-Modified, which is the listing's getlastmodified. Size and time decide."""
    old = jn(P, etag="6b167014-65")
    assert run([lf(P)], [rn(P)], [old]) == Plan()
    assert summary(run([lf(P, 2)], [rn(P)], [old])) == [(K.UPLOAD, P, R.CHANGED_LOCAL)]
    assert summary(run([], [rn(P)], [old])) == [(K.DELETE_REMOTE, P, R.DELETED_LOCAL)]
    assert summary(run([lf(P)], [rn(P, mtime=T + 1)], [old])) == [
        (K.DOWNLOAD, P, R.CHANGED_REMOTE)]


def test_without_a_recorded_time_the_bytes_decide() -> None:
    """No time was ever learnt: not "unchanged" on size alone. Unchanged here, the download
    compares the bytes with the journal's (and replaces nothing when they are the same); edited
    here, the conflict check compares them (and uploads when the share still has the journal's)."""
    blind = jn(P, mtime=0)
    assert summary(run([lf(P)], [rn(P)], [blind])) == [(K.DOWNLOAD, P, R.CHANGED_REMOTE)]
    assert summary(run([lf(P, 2)], [rn(P)], [blind])) == [(K.CONFLICT, P, R.CHANGED_BOTH)]


def test_a_listed_etag_is_compared_even_when_the_time_agrees() -> None:
    listed = replace(rn(P), etag="e2")
    assert remote_state(listed, jn(P, etag="e1")) is State.CHANGED
    assert remote_state(listed, jn(P, etag="e2", mtime=T - 5)) is State.UNCHANGED
    assert remote_state(listed, jn(P)) is State.CHANGED  # none recorded: bytes decide


# --- unsettled and open documents -----------------------------------------------------------------


@pytest.mark.parametrize(("local", "remote", "journal"), [
    (lf("f", 2, settled=False), None, None),  # new
    (lf("f", 2, settled=False), rf("f", 1), jf("f", 1)),  # changed
    (lf("f", 1, settled=False), rf("f", 2), jf("f", 1)),  # remote changed under a file being written
    (lf("f", 1, settled=False), None, jf("f", 1)),  # remote deleted
    (lf("f", 2, settled=False), rf("f", 3), None),  # both new
])
def test_unsettled_local_files_wait(local, remote, journal) -> None:
    plan = run([local], [remote] if remote else [], [journal] if journal else [])
    assert plan == Plan(skipped=(Skip("f", SkipReason.UNSETTLED),))


def test_a_local_deletion_is_not_held_back_by_settling() -> None:
    assert summary(run([], [rf("f")], [jf("f")])) == [(K.DELETE_REMOTE, "f", R.DELETED_LOCAL)]


def test_an_open_document_is_uploaded_but_never_written_over() -> None:
    def plan_for(local: LocalEntry, remote: RemoteEntry | None, journal: JournalEntry | None) -> Plan:
        return run([local], [remote] if remote else [], [journal] if journal else [])

    assert summary(plan_for(lf("f", 2, open_in_editor=True), rf("f", 1), jf("f", 1))) == [
        (K.UPLOAD, "f", R.CHANGED_LOCAL)]
    skipped = Plan(skipped=(Skip("f", SkipReason.OPEN_IN_EDITOR),))
    assert plan_for(lf("f", 1, open_in_editor=True), rf("f", 2), jf("f", 1)) == skipped  # download over it
    assert plan_for(lf("f", 1, open_in_editor=True), None, jf("f", 1)) == skipped  # delete it
    assert plan_for(lf("f", 2, open_in_editor=True), rf("f", 3), jf("f", 1)) == skipped  # conflict
    assert plan_for(lf("f", 2, open_in_editor=True), rf("f", 3), None) == skipped  # both new


# --- folders ------------------------------------------------------------------------------------


def test_new_folders_are_created_on_the_other_side_or_recorded() -> None:
    plan = run([ld("mine"), ld("both")], [rd("theirs"), rd("both")])
    assert summary(plan) == [
        (K.MKDIR_REMOTE, "mine", R.NEW_LOCAL),
        (K.MKDIR_LOCAL, "theirs", R.NEW_REMOTE),
        (K.RECORD, "both", R.NEW_BOTH),
    ]


def test_unchanged_folder_deleted_locally_is_one_delete_with_covers() -> None:
    remote = [rd("T"), rf("T/a"), rd("T/s"), rf("T/s/b")]
    journal = [jd("T"), jf("T/a"), jd("T/s"), jf("T/s/b"), jf("T/gone_too")]
    plan = run([], remote, journal)
    assert summary(plan) == [(K.DELETE_REMOTE, "T", R.DELETED_LOCAL)]
    assert plan.actions[0].covers == ("T/a", "T/gone_too", "T/s", "T/s/b")


def test_unchanged_folder_deleted_remotely_is_one_local_delete_with_covers() -> None:
    plan = run([ld("T"), lf("T/a"), ld("T/s"), lf("T/s/b")], [], [jd("T"), jf("T/a"), jd("T/s"), jf("T/s/b")])
    assert summary(plan) == [(K.DELETE_LOCAL, "T", R.DELETED_REMOTE)]
    assert plan.actions[0].covers == ("T/a", "T/s", "T/s/b")


def test_a_folder_deleted_locally_survives_remote_edits_below_it() -> None:
    remote = [rd("T"), rf("T/edited", 2), rf("T/same"), rf("T/new", 5), rd("T/s"), rf("T/s/b")]
    journal = [jd("T"), jf("T/edited"), jf("T/same"), jd("T/s"), jf("T/s/b")]
    plan = run([], remote, journal)
    assert summary(plan) == [
        (K.MKDIR_LOCAL, "T", R.EDIT_BEATS_DELETE),
        (K.DOWNLOAD, "T/edited", R.EDIT_BEATS_DELETE),
        (K.DOWNLOAD, "T/new", R.NEW_REMOTE),
        (K.DELETE_REMOTE, "T/s", R.DELETED_LOCAL),  # an untouched subfolder still goes, whole
        (K.DELETE_REMOTE, "T/same", R.DELETED_LOCAL),
    ]
    assert plan.of_kind(K.DELETE_REMOTE)[0].covers == ("T/s/b",)


def test_a_folder_deleted_remotely_survives_local_edits_below_it() -> None:
    local = [ld("T"), lf("T/edited", 2), lf("T/same"), lf("T/new", 5)]
    plan = run(local, [], [jd("T"), jf("T/edited"), jf("T/same")])
    assert summary(plan) == [
        (K.MKDIR_REMOTE, "T", R.EDIT_BEATS_DELETE),
        (K.UPLOAD, "T/edited", R.EDIT_BEATS_DELETE),
        (K.UPLOAD, "T/new", R.NEW_LOCAL),
        (K.DELETE_LOCAL, "T/same", R.DELETED_REMOTE),
    ]


def test_a_folder_deleted_remotely_waits_for_an_open_document_inside() -> None:
    local = [ld("T"), lf("T/open", open_in_editor=True), lf("T/other")]
    plan = run(local, [], [jd("T"), jf("T/open"), jf("T/other")])
    assert summary(plan) == [(K.DELETE_LOCAL, "T/other", R.DELETED_REMOTE)]
    assert plan.skipped == (Skip("T/open", SkipReason.OPEN_IN_EDITOR),)


def test_a_folder_gone_on_both_sides_is_forgotten() -> None:
    plan = run([], [], [jd("T"), jf("T/a")])
    assert summary(plan) == [(K.FORGET, "T", R.GONE_BOTH), (K.FORGET, "T/a", R.GONE_BOTH)]


# --- type changes -------------------------------------------------------------------------------


def test_file_became_folder_locally_while_the_remote_file_is_unchanged() -> None:
    plan = run([ld("x"), lf("x/a", 5)], [rf("x", 1)], [jf("x", 1)])
    assert summary(plan) == [
        (K.DELETE_REMOTE, "x", R.TYPE_CHANGED),
        (K.MKDIR_REMOTE, "x", R.NEW_LOCAL),
        (K.UPLOAD, "x/a", R.NEW_LOCAL),
    ]


def test_file_became_folder_locally_while_the_remote_file_changed_keeps_both() -> None:
    plan = run([ld("x"), lf("x/a", 5)], [rf("x", 2)], [jf("x", 1)])
    copy = f"x ({TAG})"
    assert summary(plan) == [
        (K.MOVE_REMOTE, copy, R.TYPE_CHANGED, "x"),
        (K.MKDIR_REMOTE, "x", R.NEW_LOCAL),
        (K.DOWNLOAD, copy, R.NEW_REMOTE),
        (K.UPLOAD, "x/a", R.NEW_LOCAL),
    ]
    assert plan.actions[2].remote == RemoteEntry(copy, Kind.FILE, etag="e2", size=102, href_path=copy)


def test_folder_became_file_locally_while_the_remote_folder_is_unchanged() -> None:
    plan = run([lf("x", 5)], [rd("x"), rf("x/a")], [jd("x"), jf("x/a")])
    assert summary(plan) == [(K.DELETE_REMOTE, "x", R.TYPE_CHANGED), (K.UPLOAD, "x", R.NEW_LOCAL)]
    assert plan.actions[0].covers == ("x/a",)


def test_folder_became_file_locally_while_remote_content_changed_keeps_both() -> None:
    plan = run([lf("x", 5)], [rd("x"), rf("x/a", 2)], [jd("x"), jf("x/a")])
    copy = f"x ({TAG})"
    assert summary(plan) == [
        (K.MOVE_LOCAL, copy, R.TYPE_CHANGED, "x"),
        (K.MKDIR_LOCAL, "x", R.EDIT_BEATS_DELETE),
        (K.UPLOAD, copy, R.NEW_LOCAL),
        (K.DOWNLOAD, "x/a", R.EDIT_BEATS_DELETE),
    ]


def test_file_became_folder_remotely() -> None:
    unchanged = run([lf("x", 1)], [rd("x"), rf("x/a", 5)], [jf("x", 1)])
    assert summary(unchanged) == [
        (K.DELETE_LOCAL, "x", R.TYPE_CHANGED),
        (K.MKDIR_LOCAL, "x", R.NEW_REMOTE),
        (K.DOWNLOAD, "x/a", R.NEW_REMOTE),
    ]
    edited = run([lf("x", 2)], [rd("x"), rf("x/a", 5)], [jf("x", 1)])
    assert summary(edited)[0] == (K.MOVE_LOCAL, f"x ({TAG})", R.TYPE_CHANGED, "x")
    assert (K.UPLOAD, f"x ({TAG})", R.NEW_LOCAL) in summary(edited)


def test_folder_became_file_remotely() -> None:
    plan = run([ld("x"), lf("x/a")], [rf("x", 5)], [jd("x"), jf("x/a")])
    assert summary(plan) == [(K.DELETE_LOCAL, "x", R.TYPE_CHANGED), (K.DOWNLOAD, "x", R.NEW_REMOTE)]


def test_both_new_with_different_kinds_is_skipped_whole() -> None:
    plan = run([ld("x"), lf("x/a")], [rf("x")])
    assert plan == Plan(skipped=(Skip("x", SkipReason.TYPE_CLASH),))


def test_both_sides_changed_the_kind_alike() -> None:
    plan = run([ld("x")], [rd("x")], [jf("x")])
    assert summary(plan) == [(K.RECORD, "x", R.NEW_BOTH)]


def test_type_change_with_an_open_document_waits() -> None:
    plan = run([lf("x", 1, open_in_editor=True)], [rd("x"), rf("x/a", 5)], [jf("x", 1)])
    assert plan == Plan(skipped=(Skip("x", SkipReason.OPEN_IN_EDITOR),))


# --- renames -------------------------------------------------------------------------------------


def test_local_file_rename_by_inode_is_one_move() -> None:
    moved = lf("new", 1, ino=inode("old"), hashed=False)
    plan = run([moved], [rf("old")], [jf("old")])
    assert plan.actions == (Action(K.MOVE_REMOTE, "new", R.RENAMED_LOCAL, source="old", local=moved,
                                   remote=rf("old"), journal=jf("old")),)


def test_local_file_rename_by_hash_when_the_inode_changed() -> None:
    copied = lf("new", 1, ino=999)  # e.g. moved across file systems: same bytes, new inode
    plan = run([copied], [rf("old")], [jf("old")])
    # The RECORD stores the new inode in the (re-keyed) journal entry.
    assert summary(plan) == [(K.MOVE_REMOTE, "new", R.RENAMED_LOCAL, "old"), (K.RECORD, "new", R.SAME_CONTENT)]


def test_same_size_but_other_bytes_is_not_a_rename() -> None:
    other = LocalEntry("new", Kind.FILE, size=101, mtime_ns=50, inode=999, sha256=sha(7))
    plan = run([other], [rf("old")], [jf("old")])
    assert summary(plan) == [(K.UPLOAD, "new", R.NEW_LOCAL), (K.DELETE_REMOTE, "old", R.DELETED_LOCAL)]


def test_local_rename_while_the_server_changed_the_file_moves_then_downloads() -> None:
    plan = run([lf("new", 1, ino=inode("old"))], [rf("old", 2)], [jf("old")])
    assert summary(plan) == [(K.MOVE_REMOTE, "new", R.RENAMED_LOCAL, "old"), (K.DOWNLOAD, "new", R.CHANGED_REMOTE)]
    assert plan.actions[1].remote == rf("new", 2)


def test_local_folder_rename_is_one_move_then_children_decided_again() -> None:
    local = [ld("B", ino=inode("A")), lf("B/same", ino=inode("A/same")), lf("B/edited", 2, ino=inode("A/edited"))]
    remote = [rd("A"), rf("A/same"), rf("A/edited"), rf("A/theirs", 3), rf("A/remote_edit", 4)]
    journal = [jd("A"), jf("A/same"), jf("A/edited"), jf("A/remote_edit")]
    local.append(lf("B/remote_edit", ino=inode("A/remote_edit")))
    plan = run(local, remote, journal)
    assert summary(plan) == [
        (K.MOVE_REMOTE, "B", R.RENAMED_LOCAL, "A"),
        (K.UPLOAD, "B/edited", R.CHANGED_LOCAL),
        (K.DOWNLOAD, "B/remote_edit", R.CHANGED_REMOTE),
        (K.DOWNLOAD, "B/theirs", R.NEW_REMOTE),
    ]
    assert plan.actions[0].covers == ("A/edited", "A/remote_edit", "A/same")
    assert plan.actions[1].remote == rf("B/edited", 1)  # re-keyed: the upload expects ETag e1 at B


def test_remote_rename_by_fileid_is_a_local_move() -> None:
    local = [lf("old", 2)]  # edited locally as well
    plan = run(local, [rf("new", 1, fileid="42")], [jf("old", fileid="42")])
    assert summary(plan) == [(K.MOVE_LOCAL, "new", R.RENAMED_REMOTE, "old"), (K.UPLOAD, "new", R.CHANGED_LOCAL)]
    assert plan.actions[1].local is not None and plan.actions[1].local.fs_path == "new"


def test_remote_folder_rename_is_one_local_move() -> None:
    local = [ld("A"), lf("A/x")]
    remote = [rd("B", fileid="1"), rf("B/x", fileid="2")]
    plan = run(local, remote, [jd("A", fileid="1"), jf("A/x", fileid="2")])
    assert summary(plan) == [(K.MOVE_LOCAL, "B", R.RENAMED_REMOTE, "A")]
    assert plan.actions[0].covers == ("A/x",)


def test_remote_rename_without_fileids_is_download_and_delete() -> None:
    plan = run([lf("old")], [rf("new")], [jf("old")])
    assert summary(plan) == [(K.DOWNLOAD, "new", R.NEW_REMOTE), (K.DELETE_LOCAL, "old", R.DELETED_REMOTE)]


def test_remote_rename_of_an_open_document_waits() -> None:
    plan = run([lf("old", open_in_editor=True)], [rf("new", fileid="7")], [jf("old", fileid="7")])
    assert plan.actions == ()
    assert set(plan.skipped) == {Skip("old", SkipReason.OPEN_IN_EDITOR), Skip("new", SkipReason.OPEN_IN_EDITOR)}


def test_a_rename_onto_a_taken_name_falls_back() -> None:
    plan = run([lf("new", 1, ino=inode("old"))], [rf("old"), rf("new", 5)], [jf("old")])
    assert summary(plan) == [(K.CONFLICT, "new", R.NEW_BOTH), (K.DELETE_REMOTE, "old", R.DELETED_LOCAL)]


def test_an_ambiguous_rename_falls_back() -> None:
    plan = run([lf("c1", 1, ino=5), lf("c2", 1, ino=6)], [rf("old")], [jf("old")])
    assert summary(plan) == [
        (K.UPLOAD, "c1", R.NEW_LOCAL),
        (K.UPLOAD, "c2", R.NEW_LOCAL),
        (K.DELETE_REMOTE, "old", R.DELETED_LOCAL),
    ]


def test_identical_copies_moved_by_inode_are_moves_despite_sharing_a_hash() -> None:
    local = [lf(f"archive/w{i}", ino=inode(f"w{i}/form")) for i in range(3)]
    remote = [rd("archive")] + [rf(f"w{i}/form") for i in range(3)]
    journal = [jd("archive")] + [jf(f"w{i}/form") for i in range(3)]  # same bytes: sha(1) each
    plan = run([ld("archive"), *local], remote, journal)
    assert summary(plan) == [(K.MOVE_REMOTE, f"archive/w{i}", R.RENAMED_LOCAL, f"w{i}/form") for i in range(3)]


def test_a_move_into_a_brand_new_folder_creates_it_first() -> None:
    plan = run([ld("Lưu trữ"), ld("Lưu trữ/2025"), lf("Lưu trữ/2025/f", ino=inode("f"))], [rf("f")], [jf("f")])
    assert summary(plan) == [
        (K.MKDIR_REMOTE, "Lưu trữ", R.NEW_LOCAL),
        (K.MKDIR_REMOTE, "Lưu trữ/2025", R.NEW_LOCAL),
        (K.MOVE_REMOTE, "Lưu trữ/2025/f", R.RENAMED_LOCAL, "f"),
    ]


def test_a_file_renamed_inside_a_renamed_folder() -> None:
    local = [ld("B", ino=inode("A")), lf("B/y", ino=inode("A/x"))]
    plan = run(local, [rd("A"), rf("A/x")], [jd("A"), jf("A/x")])
    assert summary(plan) == [(K.MOVE_REMOTE, "B", R.RENAMED_LOCAL, "A"), (K.MOVE_REMOTE, "B/y", R.RENAMED_LOCAL, "B/x")]


def test_reconcile_leaves_its_inputs_alone() -> None:
    local = {"B": ld("B", ino=inode("A"))}
    remote, journal = {"A": rd("A")}, {"A": jd("A")}
    snapshot = (dict(local), dict(remote), dict(journal))
    reconcile(local, remote, journal, now=NOW, host=HOST)
    assert (local, remote, journal) == snapshot


# --- hashing requests -------------------------------------------------------------------------------


def test_paths_needing_hash() -> None:
    local = {
        "both_changed": lf("both_changed", 2, hashed=False),
        "both_new": lf("both_new", 2, hashed=False),
        "only_local_change": lf("only_local_change", 2, hashed=False),
        "rename_candidate": lf("rename_candidate", 1, ino=999, hashed=False),
        "inode_rename": lf("inode_rename", 1, ino=inode("gone2"), hashed=False),
        "already_hashed": lf("already_hashed", 2),
        "unsettled": lf("unsettled", 2, hashed=False, settled=False),
    }
    remote = {p: rf(p, 3) for p in ("both_changed", "both_new", "already_hashed", "unsettled")}
    remote |= {"only_local_change": rf("only_local_change", 1), "gone": rf("gone"), "gone2": rf("gone2")}
    journal = {p: jf(p) for p in ("both_changed", "only_local_change", "gone", "already_hashed", "unsettled")}
    journal["gone2"] = jf("gone2")
    assert paths_needing_hash(local, remote, journal) == {"both_changed", "both_new", "rename_candidate"}


def test_a_same_size_touch_is_hashed_so_that_unchanged_bytes_are_not_uploaded() -> None:
    # e.g. the records folder restored from a backup: new inodes, same bytes and mtimes
    restored = LocalEntry("f", Kind.FILE, size=101, mtime_ns=77, inode=12345)
    assert paths_needing_hash({"f": restored}, {"f": rf("f", 1)}, {"f": jf("f", 1)}) == {"f"}


# --- conflict copy names ----------------------------------------------------------------------------


def test_conflict_copy_name_example() -> None:
    assert conflict_copy_name("Tuần 12/Toán - Bài 12.docx", host="GV-LAN", now=NOW, taken=()) == (
        "Tuần 12/Toán - Bài 12 (bản xung đột, máy GV-LAN, 2026-11-29 09h30).docx")


def test_conflict_copy_name_collisions_count_up_inside_the_parentheses() -> None:
    first = f"a/b ({TAG}).txt"
    second = f"a/b ({TAG}, 2).txt"
    assert conflict_copy_name("a/b.txt", host=HOST, now=NOW, taken={first}) == second
    assert conflict_copy_name("a/b.txt", host=HOST, now=NOW, taken={first, second}) == f"a/b ({TAG}, 3).txt"


@pytest.mark.parametrize(("name", "expected"), [
    (".hidden", f".hidden ({TAG})"),
    (".config.toml", f".config ({TAG}).toml"),
    ("README", f"README ({TAG})"),
    ("archive.tar.gz", f"archive.tar ({TAG}).gz"),
    ("Bài 1. Ôn tập chương", f"Bài 1. Ôn tập chương ({TAG})"),
])
def test_conflict_copy_name_keeps_dots_and_extensions(name: str, expected: str) -> None:
    assert conflict_copy_name(name, host=HOST, now=NOW, taken=()) == expected


def test_conflict_copy_name_fits_255_bytes_and_keeps_the_extension() -> None:
    stem = "Kế hoạch bài dạy môn Tiếng Việt " * 10
    copy = conflict_copy_name(f"d/{stem}.docx", host=HOST, now=NOW, taken=())
    name = copy.split("/")[-1]
    assert len(name.encode()) <= 255 and name.endswith(f" ({TAG}).docx") and copy.startswith("d/Kế hoạch")
    assert unicodedata.is_normalized("NFC", copy)


def test_conflict_copy_name_is_nfc_and_sanitises_the_host() -> None:
    decomposed_host = unicodedata.normalize("NFD", 'Máy:Cô*Hà/"1"')
    copy = conflict_copy_name("a.txt", host=decomposed_host, now=NOW, taken=(), label="conflicted copy")
    assert copy == "a (conflicted copy, máy Máy-Cô-Hà--1-, 2026-11-29 09h30).txt"
    assert unicodedata.is_normalized("NFC", copy)


def test_conflict_copies_planned_in_one_pass_do_not_collide() -> None:
    first = f"f ({TAG})"
    plan = run([lf("f", 2), lf(first, 2)], [rf("f", 3), rf(first, 3)], [jf("f"), jf(first)])
    copies = sorted(a.conflict_copy for a in plan.of_kind(K.CONFLICT))  # type: ignore[type-var]
    assert copies == [f"f ({TAG}) ({TAG})", f"f ({TAG}, 2)"]


# --- mass delete -------------------------------------------------------------------------------


def deleting(n: int, covers: int = 0) -> Plan:
    actions = [Action(K.DELETE_REMOTE, f"f{i}", R.DELETED_LOCAL) for i in range(n)]
    if covers:
        actions.append(Action(K.DELETE_LOCAL, "T", R.DELETED_REMOTE, covers=tuple(f"T/{i}" for i in range(covers))))
    return Plan(actions=tuple(actions))


@pytest.mark.parametrize(("plan", "tracked", "exceeds"), [
    (deleting(0), 0, False),
    (deleting(1), 1, False),  # one lone file deleted: an ordinary edit
    (deleting(1), 2, False),
    (deleting(2), 2, True),  # everything, even when small
    (deleting(2), 3, False),  # below 4 tracked only "all" counts
    (deleting(3), 3, True),
    (deleting(2), 4, False),  # 50 % is not more than 50 %
    (deleting(3), 4, True),
    (deleting(0, covers=4), 10, False),  # the folder and 4 below it: 5 of 10
    (deleting(0, covers=5), 10, True),
    (deleting(5), 10, False),
])
def test_mass_delete_rule(plan: Plan, tracked: int, exceeds: bool) -> None:
    check = check_mass_delete(plan, tracked, max_percent=50.0)
    assert check.exceeds is exceeds
    assert check.deletions == sum(1 + len(a.covers) for a in plan.deletions)


def test_mass_delete_reports_the_numbers() -> None:
    assert check_mass_delete(deleting(1, covers=2), 8, 50.0) == DeleteCheck(4, 8, 50.0, False)


# --- ordering ----------------------------------------------------------------------------------


def test_plan_order() -> None:
    local = [ld("B", ino=inode("A")), ld("n"), ld("n/m"), lf("n/m/f", 5), lf("up", 2), ld("k"), ld("k/d"), lf("z")]
    remote = [rd("A"), rf("del"), rf("up"), rd("r"), rd("r/s"), rd("k"), rd("k/d"), rf("k/d/f")]
    journal = [jd("A"), jf("del"), jf("up"), jd("k"), jd("k/d"), jf("k/d/f"), jf("z"), jf("forgotten")]
    plan = run(local, remote, journal)
    assert summary(plan) == [
        (K.MOVE_REMOTE, "B", R.RENAMED_LOCAL, "A"),
        (K.MKDIR_REMOTE, "n", R.NEW_LOCAL),
        (K.MKDIR_LOCAL, "r", R.NEW_REMOTE),
        (K.MKDIR_REMOTE, "n/m", R.NEW_LOCAL),
        (K.MKDIR_LOCAL, "r/s", R.NEW_REMOTE),
        (K.UPLOAD, "n/m/f", R.NEW_LOCAL),
        (K.UPLOAD, "up", R.CHANGED_LOCAL),
        (K.DELETE_REMOTE, "k/d/f", R.DELETED_LOCAL),
        (K.DELETE_REMOTE, "del", R.DELETED_LOCAL),
        (K.DELETE_LOCAL, "z", R.DELETED_REMOTE),
        (K.FORGET, "forgotten", R.GONE_BOTH),
    ]
