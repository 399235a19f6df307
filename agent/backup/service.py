"""What the command line and the agent do with backups, on top of the repository.

Opening the repository with the passphrase from wherever it comes (HOSO_BACKUP_PASSPHRASE, the
config's key file, a prompt), backing up under the repository lock, remembering the last good
backup for `hoso status` (which never asks for a passphrase), applying the retention policy of
the config, and mirroring the encrypted repository to the school share.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import Config, Secret, read_secret_file, write_private
from ..errors import ConfigError, HosoError, UsageError
from ..i18n import _
from ..local import MARKER_NAME, ignore_rules
from ..log import get_logger
from ..model import RelPath
from ..vault import Vault, VaultLocked, vault_path
from . import history
from .crypto import KdfParams, recovery_passphrase
from .maintenance import PruneResult, forget_plan, prune
from .repository import Repository
from .snapshots import CreateResult, create

log = get_logger(__name__)

PASSPHRASE_ENV = "HOSO_BACKUP_PASSPHRASE"
VAULT_ENTRY = "backup"  # the repository's passphrase in the credential vault


# --- the passphrase ------------------------------------------------------------------------------


def passphrase(config: Config, *, prompt: Callable[[str], str] | None = None) -> Secret:
    """HOSO_BACKUP_PASSPHRASE, else the vault's ``backup`` entry (what `hoso backup init`
    stored, so the agent can back up unattended), else the key file named in the config
    (0600 enforced), else the prompt; ConfigError when none is available."""
    from_env = os.environ.get(PASSPHRASE_ENV)
    if from_env:
        return Secret(from_env)
    if vault_path(config).exists():
        try:
            entry = Vault.open(config).get(VAULT_ENTRY)
        except VaultLocked as exc:  # e.g. no desktop keyring here: the key file or a prompt
            log.info("backup passphrase not taken from the vault: %s", exc)
            entry = None
        if entry is not None:
            return entry.secret
    if config.backup.key_file:
        key_file = Path(config.backup.key_file).expanduser()
        if not key_file.is_file():
            raise ConfigError(
                _("The backup key file {path} named in the config does not exist.").format(
                    path=key_file
                )
            )
        secret = read_secret_file(key_file)
        if secret:
            return secret
    if prompt is not None:
        return Secret(prompt(_("Backup passphrase: ")))
    raise ConfigError(
        _(
            "No backup passphrase: set {var}, name a key file in [backup] key_file, or run "
            "the command in a terminal."
        ).format(var=PASSPHRASE_ENV)
    )


# --- opening and creating --------------------------------------------------------------------


def open_repository(config: Config, secret: Secret) -> Repository:
    return Repository.open(config.backup.repository_path(), secret.reveal())


@dataclass(frozen=True)
class Created:
    repository: Repository
    recovery_key: str
    same_disk: bool  # the repository shares a disk with the records folder


def init_repository(
    config: Config, path: Path, secret: Secret, *, kdf: KdfParams | None = None
) -> Created:
    """A new repository at ``path`` with the passphrase and a printable recovery key."""
    if len(secret.reveal()) < 8:
        raise UsageError(_("The backup passphrase must have at least 8 characters."))
    kdf = kdf or KdfParams()
    repo = Repository.init(path, secret.reveal(), label="passphrase", kdf=kdf)
    recovery = recovery_passphrase()
    repo.add_key(recovery, "recovery", kdf)
    # The running agent backs up without anyone to type the passphrase: it keeps it in the
    # vault, like every secret hoso uses. The recovery key is never stored.
    Vault.open(config, create=True).set(VAULT_ENTRY, secret.reveal(), {"repository": str(path)})
    return Created(repo, recovery, same_disk(config.root, path))


def same_disk(a: Path, b: Path) -> bool:
    def device(path: Path) -> int | None:
        for candidate in (path, *path.parents):
            try:
                return candidate.stat().st_dev
            except OSError:
                continue
        return None

    first, second = device(a), device(b)
    return first is not None and first == second


def record_repository(config: Config, path: Path) -> None:
    """Write ``[backup] repository = PATH`` into the config file, keeping everything else."""
    text = config.path.read_text(encoding="utf-8")
    line = f"repository = {json.dumps(str(path), ensure_ascii=False)}"
    lines = text.splitlines()
    start = next((i for i, raw in enumerate(lines) if raw.strip() == "[backup]"), None)
    if start is None:
        lines += ["", "[backup]", line]
    else:
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("[")),
            len(lines),
        )
        keys = [i for i in range(start + 1, end) if lines[i].split("=")[0].strip() == "repository"]
        if keys:
            lines[keys[0]] = line
        else:
            lines.insert(start + 1, line)
    write_private(config.path, "\n".join(lines) + "\n")


# --- backing up ---------------------------------------------------------------------------------


def backup(
    config: Config,
    repo: Repository,
    *,
    tags: Sequence[str] = (),
    on_progress: Callable[[str], None] = lambda path: None,
) -> CreateResult:
    """One snapshot of the records folder, under the repository lock; then the last good
    backup is remembered and, when configured, the share's copy brought up to date."""
    if not config.root.is_dir():
        raise UsageError(
            _("The records folder {root} does not exist; nothing to back up.").format(
                root=config.root
            )
        )
    rules = ignore_rules(config)

    def ignored(path: str, is_dir: bool) -> bool:
        # Sync leaves the marker alone, but a restored folder needs it: without it the agent
        # would not recognise the folder it synced and would refuse to sync it.
        return path != MARKER_NAME and rules.is_ignored(path, is_dir)

    with repo.lock():
        result = create(
            repo,
            config.root,
            host=config.host_name,
            tags=tags,
            ignore=ignored,
            on_progress=on_progress,
        )
    history.remember(
        config,
        snapshot=result.snapshot,
        files=result.files,
        size=result.bytes,
        skipped=len(result.skipped),
    )
    if config.backup.remote_copy:
        mirror_to_share(config, repo.path)
    return result


# --- retention ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Trimmed:
    forgotten: list[str]
    kept: list[str]
    pruned: PruneResult | None


def apply_retention(
    config: Config,
    repo: Repository,
    *,
    keep_last: int | None = None,
    keep_daily: int | None = None,
    keep_weekly: int | None = None,
    keep_monthly: int | None = None,
    prune_after: bool = True,
    dry_run: bool = False,
) -> Trimmed:
    """Forget the snapshots the policy (arguments, else the config) does not keep, then
    prune what no snapshot uses any more."""
    policy = config.backup
    rules = {
        "keep_last": policy.keep_last if keep_last is None else keep_last,
        "keep_daily": policy.keep_daily if keep_daily is None else keep_daily,
        "keep_weekly": policy.keep_weekly if keep_weekly is None else keep_weekly,
        "keep_monthly": policy.keep_monthly if keep_monthly is None else keep_monthly,
    }
    if not any(rules.values()):
        raise UsageError(_("A retention policy that keeps nothing is refused."))
    with repo.lock():
        kept, forgotten = forget_plan(repo.snapshots(), **rules)
        if dry_run:
            return Trimmed(forgotten, kept, None)
        for snapshot_id in forgotten:
            repo.remove_snapshot(snapshot_id)
        pruned = prune(repo) if prune_after and forgotten else None
    if config.backup.remote_copy and forgotten:
        mirror_to_share(config, repo.path)
    return Trimmed(forgotten, kept, pruned)


# --- the copy on the share --------------------------------------------------------------------


def mirror_to_share(config: Config, repository: Path) -> int:
    """Bring ``[backup] remote_dir`` on the share to the repository's files: upload what is
    missing, then remove what the repository no longer has. The share only ever sees the
    encrypted files. Returns how many files were sent."""
    from ..remote import Remote
    from ..vault import webdav_password

    base = config.backup.remote_dir.strip("/")
    local: dict[str, Path] = {}
    for file in repository.rglob("*"):
        rel = file.relative_to(repository).as_posix()
        if file.is_file() and not file.name.startswith(".tmp-") and not rel.startswith("locks/"):
            local[rel] = file
    remote = Remote.from_config(config, webdav_password(config))
    try:
        there = _remote_files(remote, base)
        sent = 0
        for rel in sorted(local, key=_upload_order):
            file = local[rel]
            size = file.stat().st_size
            if there.get(rel) == size:
                continue  # names are content hashes: same name and size, same file
            target = f"{base}/{rel}"
            if rel in there:  # a copy an interrupted upload left short
                remote.delete(target)
            remote.makedirs(target.rpartition("/")[0])
            remote.upload(
                file,
                target,
                expected_etag=None,
                sha256=hashlib.sha256(file.read_bytes()).hexdigest(),
                mtime_ns=file.stat().st_mtime_ns,
                size=size,
                learn_state=False,
            )
            sent += 1
        for rel in sorted(set(there) - set(local)):
            remote.delete(f"{base}/{rel}")
    except HosoError as exc:
        log.warning("the share's copy of the backups is not up to date: %s", exc)
        raise
    finally:
        remote.close()
    return sent


def _upload_order(rel: str) -> tuple[int, str]:
    """Packs first, then indexes, then snapshots and keys: a copy interrupted midway never
    names data it does not hold."""
    order = {"data": 0, "index": 1, "keys": 2, "config": 2, "snapshots": 3}
    return order.get(rel.split("/")[0], 4), rel


def _remote_files(remote: Any, base: RelPath) -> dict[str, int]:
    from ..model import Kind

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
