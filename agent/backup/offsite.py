"""The copy of the backup repository on the school share, kept and checked by content.

The share sees only the repository's encrypted files, in ``[backup] remote_dir``. A share is
hostile until checked: a copy of the right name and size may hold other bytes (ransomware
leaves files of the same size). So:
- ``mirror`` sends a file unless this computer remembers having sent exactly these bytes
  there (a record in the state folder: path → SHA-256 of what was uploaded) and the share
  still lists it at that size. A content-named file whose local bytes do not hash to its name
  is damaged here: it is never sent, and the share's copy is never removed.
- ``check`` reads every file on the share back and compares it with its name (content-named
  files) or with what was sent (config, key slots, manifest); a damaged or missing copy is
  named, forgotten from the record, and sent again from the local repository when the local
  file is sound.
- Nothing the local repository still needs (its manifest's snapshots and key slots, the
  packs and index files it uses) is removed from the share because the local file is gone:
  that is damage here, and the share's copy may be the one that repairs it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import Config, write_private
from ..errors import BadDownload, HosoError
from ..i18n import _
from ..log import get_logger
from ..model import Kind
from .maintenance import pack_file
from .repository import FOLDERS, MANIFEST, Repository

log = get_logger(__name__)

SENT_FILE = "backup-remote.json"
_CONTENT_NAMED = ("data", "index", "snapshots")


@dataclass(frozen=True)
class RemoteDamage:
    file: str  # path relative to the repository
    problem: str


@dataclass(frozen=True)
class RemoteCheck:
    checked: int
    damage: list[RemoteDamage]
    resent: list[str]  # damaged or missing copies sent again from here
    not_resent: list[str]  # ... that could not be, the local file being damaged too


def mirror(config: Config, repo: Repository) -> int:
    """Bring the share's copy up to the local repository; returns how many files were sent."""
    with _remote(config) as remote:
        return _mirror(config, repo, remote, _remote_files(remote, _base(config)))


def check(config: Config, repo: Repository) -> RemoteCheck:
    """Read the share's copy back, name what is damaged or missing, send it again."""
    base = _base(config)
    with _remote(config) as remote:
        there = _remote_files(remote, base)
        local = _local_files(repo)
        sent = _load_sent(config)
        damage: list[RemoteDamage] = []
        for rel in sorted(there):
            expected = _expected_hash(rel, sent, local)
            if expected is None:
                continue  # not a file of this repository (e.g. left by an older one)
            if _remote_hash(remote, f"{base}/{rel}", there[rel]) != expected:
                damage.append(RemoteDamage(rel, _("the copy on the share is not what was sent")))
        damage += [
            RemoteDamage(rel, _("the copy on the share is missing"))
            for rel in sorted(set(local) - set(there))
        ]
        bad = {item.file for item in damage}
        _save_sent(config, {rel: h for rel, h in sent.items() if rel not in bad})
        if bad:
            _mirror(config, repo, remote, _remote_files(remote, base))
        resent = sorted(rel for rel, h in _load_sent(config).items() if rel in bad and h)
        return RemoteCheck(len(there), damage, resent, sorted(bad - set(resent)))


def _mirror(config: Config, repo: Repository, remote: Any, there: dict[str, int]) -> int:
    base = _base(config)
    local = _local_files(repo)
    sent = _load_sent(config)
    count = 0
    try:
        for rel in sorted(local, key=_upload_order):
            file = local[rel]
            name = rel.rpartition("/")[2]
            # A content-named file is what its name says, or damaged: no need to read it
            # unless it is to be sent. The small others (config, keys, manifest) are hashed.
            expected = name if _content_named(rel) else _file_hash(file)
            if there.get(rel) == file.stat().st_size and sent.get(rel) == expected:
                continue
            digest = _file_hash(file) if _content_named(rel) else expected
            if _content_named(rel) and digest != name:
                log.warning("backup file %s is damaged here: not sent to the share", rel)
                continue
            target = f"{base}/{rel}"
            if rel in there:
                remote.delete(target)
            remote.makedirs(target.rpartition("/")[0])
            info = file.stat()
            remote.upload(
                file,
                target,
                expected_etag=None,
                sha256=digest,
                mtime_ns=info.st_mtime_ns,
                size=info.st_size,
                learn_state=False,
            )
            sent[rel] = digest
            _save_sent(config, sent)  # after each file: a cut-off mirror resumes
            count += 1
        needed = _needed(repo)
        for rel in sorted(set(there) - set(local)):
            if rel in needed:
                log.warning("backup file %s is missing here: the share's copy is kept", rel)
                continue
            remote.delete(f"{base}/{rel}")
            sent.pop(rel, None)
        _save_sent(config, sent)
    except HosoError as exc:
        log.warning("the share's copy of the backups is not up to date: %s", exc)
        raise
    return count


def _needed(repo: Repository) -> set[str]:
    """Files the local repository says it holds: listed snapshots and key slots, the
    config and manifest, index files and the packs they name."""
    needed = {"config", MANIFEST, *(f"index/{name}" for name in repo.index_files())}
    needed |= {pack_file(entry.pack) for entries in repo.index().values() for entry in entries}
    manifest = repo.manifest_or_none()
    if manifest is not None:
        needed |= {f"snapshots/{name}" for name in manifest.snapshots}
        needed |= {f"keys/{name}" for name in manifest.keys}
    return needed


# --- the local side ----------------------------------------------------------------------


def _local_files(repo: Repository) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for top in (*FOLDERS, "config", MANIFEST):
        if top == "locks":
            continue
        single = top in ("config", MANIFEST)
        for file in [repo.path / top] if single else (repo.path / top).rglob("*"):
            rel = file.relative_to(repo.path).as_posix()
            if file.is_file() and not file.name.startswith(".tmp-"):
                found[rel] = file
    return found


def _content_named(rel: str) -> bool:
    return rel.split("/")[0] in _CONTENT_NAMED


def _expected_hash(rel: str, sent: dict[str, str], local: dict[str, Path]) -> str | None:
    """What the share's copy must hash to: its name, else what was sent, else the local file."""
    if _content_named(rel):
        return rel.rpartition("/")[2]
    if rel in sent:
        return sent[rel]
    return _file_hash(local[rel]) if rel in local else None


def _file_hash(file: Path) -> str:
    digest = hashlib.sha256()
    with open(file, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _upload_order(rel: str) -> tuple[int, str]:
    """Packs first, then indexes, then snapshots, keys and the manifest: a copy interrupted
    midway never names data it does not hold."""
    order = {"data": 0, "index": 1, "keys": 2, "config": 2, "snapshots": 3, MANIFEST: 4}
    return order.get(rel.split("/")[0], 5), rel


# --- the record of what was sent ---------------------------------------------------------


def _record_key(config: Config) -> str:
    return f"{config.remote.url.rstrip('/')}/{config.remote.remote_dir.strip('/')}|{_base(config)}"


def _load_sent(config: Config) -> dict[str, str]:
    try:
        content = json.loads((config.state_dir / SENT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    sent = content.get(_record_key(config)) if isinstance(content, dict) else None
    return {k: v for k, v in sent.items() if isinstance(v, str)} if isinstance(sent, dict) else {}


def _save_sent(config: Config, sent: dict[str, str]) -> None:
    write_private(
        config.state_dir / SENT_FILE, json.dumps({_record_key(config): sent}, sort_keys=True)
    )


# --- the share ---------------------------------------------------------------------------


def _base(config: Config) -> str:
    return config.backup.remote_dir.strip("/")


@contextmanager
def _remote(config: Config) -> Iterator[Any]:
    from ..remote import Remote
    from ..vault import webdav_password

    remote = Remote.from_config(config, webdav_password(config))
    try:
        yield remote
    finally:
        remote.close()


def _remote_files(remote: Any, base: str) -> dict[str, int]:
    found: dict[str, int] = {}
    if remote.stat(base) is None:
        return found
    folders = [base]
    while folders:
        folder = folders.pop()
        for entry in remote.list_folder(folder):
            if entry.kind is Kind.DIR:
                folders.append(entry.path)
            else:
                found[entry.path[len(base) + 1 :]] = entry.size
    return found


class _Hasher:
    """A download sink that keeps only the SHA-256 of what it is given."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()

    def write(self, data: bytes, /) -> int:
        self.digest.update(data)
        return len(data)


def _remote_hash(remote: Any, path: str, size: int) -> str | None:
    """The SHA-256 of the share's copy; None when it sends other than the ``size`` it lists
    (a download never reads past the listed size: that copy is damage, not an error)."""
    sink = _Hasher()
    try:
        remote.download(path, sink, size=size)
    except BadDownload:
        return None
    return sink.digest.hexdigest()
