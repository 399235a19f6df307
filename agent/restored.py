"""The restore marker ``.hoso-restored``: which files a backup restore wrote, with their bytes.

One job: read, merge, prune and write the marker at the root of a records folder. It is a hint
for the first sync after a restore (reconcile's ``restored``): a restored file still holding
the backup's bytes is older than a different version on the share, which is the newer truth
(the PC synced until it died; backups are periodic), and one the snapshot saw on the share
(``on_share``) that is gone from it was deleted there since. The backup's version is never
lost: it stays in the repository, and the sync keeps it in the local trash.

Invariants:
- hoso's own file: ignored on both sides like ``.hoso-root`` (``local.BUILTIN_IGNORES``), so it
  is never synced, backed up, validated or listed as a change, and one on the share is never
  read.
- Written atomically (temp file, fsync, rename, folder fsync), mode 0600, never through a
  symlink planted under its name; read without following one.
- Hostile until checked: a damaged or oversized marker, or an entry whose path is not a clean
  NFC relative path or whose hash is no SHA-256, is ignored, never an error. It only ever
  names paths; it never makes anything be written anywhere (reconcile looks its paths up
  among the entries of the scan and the listing).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Container, Mapping
from pathlib import Path

from .errors import LocalError
from .i18n import _
from .log import get_logger
from .model import RelPath, RestoredFile, nfc
from .safepath import SafeRoot, UnsafePath, split

log = get_logger(__name__)

RESTORED_NAME = ".hoso-restored"
_MAX_BYTES = 64 * 1024 * 1024  # about 400,000 files; a bigger one is no marker of ours
_SHA256 = re.compile(r"[0-9a-f]{64}")


def read(root: Path) -> dict[RelPath, RestoredFile]:
    """Restored path → what it was when restored; empty when there is no usable marker."""
    return _load(root)[1]


def _load(root: Path) -> tuple[dict[str, object], dict[RelPath, RestoredFile]]:
    """(the snapshot it came from, the files) of the marker; empty when it is unusable."""
    try:
        with SafeRoot(root).folder("") as folder:
            if folder.regular_file(RESTORED_NAME) is None:  # UnsafePath for a link, a FIFO…
                return {}, {}
            fd = folder.open_file(RESTORED_NAME)
        with os.fdopen(fd, "rb") as fh:
            data = fh.read(_MAX_BYTES + 1)
    except (FileNotFoundError, UnsafePath):
        return {}, {}
    except OSError as exc:
        log.warning("restore marker %s not read: %s", root / RESTORED_NAME, exc)
        return {}, {}
    try:
        if len(data) > _MAX_BYTES:
            raise ValueError("too large")
        body = json.loads(data.decode("utf-8"))
        files = body["files"]
        if not isinstance(files, dict):
            raise ValueError("no files")
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        log.warning("restore marker %s ignored: %s", root / RESTORED_NAME, exc)
        return {}, {}
    about = {key: body.get(key) for key in ("snapshot", "time") if isinstance(body.get(key), str)}
    clean: dict[RelPath, RestoredFile] = {}
    for path, item in files.items():
        if not (isinstance(path, str) and _clean(path) and isinstance(item, dict)):
            continue
        sha = item.get("sha256")
        if isinstance(sha, str) and _SHA256.fullmatch(sha):
            on_share = item.get("on_share")
            clean[path] = RestoredFile(
                sha,
                on_share=on_share if isinstance(on_share, bool) else None,
                wanted=item.get("wanted") is True,
            )
    return about, clean


def add(root: Path, files: Mapping[RelPath, RestoredFile], *, snapshot: str, time: str) -> None:
    """Remember ``files`` (path → what it is as restored) as restored from ``snapshot``, merged
    with what the marker already holds (a later restore of a path wins). Never raises: the
    files are in place whatever happens to the hint."""
    merged = {**read(root), **{nfc(p): f for p, f in files.items() if _clean(nfc(p))}}
    try:
        _write(root, {"snapshot": snapshot, "time": time}, merged)
    except LocalError as exc:
        # Only a hint: without it the first sync keeps both versions (conflict copies).
        log.warning("%s", exc)


def prune(root: Path, keep: Container[RelPath]) -> None:
    """Drop the entries not in ``keep`` (a path now in the journal, or gone); the marker goes
    when nothing is left. Only a hint: a failure is logged, never raised."""
    about, files = _load(root)
    left = {path: item for path, item in files.items() if path in keep}
    if len(left) == len(files):
        return
    try:
        if left:
            _write(root, about, left)
        else:
            with SafeRoot(root).folder("") as folder:
                folder.unlink(RESTORED_NAME, missing_ok=True)
                folder.fsync()
    except (OSError, LocalError) as exc:
        log.warning("restore marker %s not updated: %s", root / RESTORED_NAME, exc)


def _clean(path: str) -> bool:
    """A relative NFC path of plain parts: nothing that could leave the records folder."""
    try:
        split(path)
    except UnsafePath:
        return False
    return path == nfc(path)


def _write(root: Path, about: Mapping[str, object], files: Mapping[RelPath, RestoredFile]) -> None:
    body = {
        **about,
        "files": {
            path: {"sha256": item.sha256, "on_share": item.on_share, "wanted": item.wanted}
            for path, item in sorted(files.items())
        },
    }
    data = json.dumps(body, ensure_ascii=False, indent=1).encode("utf-8")
    try:
        with SafeRoot(root).folder("") as folder:
            folder.write_atomically(RESTORED_NAME, data)
    except OSError as exc:
        raise LocalError(
            _("Cannot write the marker file {path}: {detail}").format(
                path=root / RESTORED_NAME, detail=exc.strerror or exc
            )
        ) from None
