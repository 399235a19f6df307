"""What the command line and the agent do with backups, on top of the repository.

Opening the repository with the passphrase from wherever it comes (HOSO_BACKUP_PASSPHRASE, the
config's key file, a prompt), backing up under the repository lock, remembering the last good
backup for `hoso status` (which never asks for a passphrase), applying the retention policy of
the config, and mirroring the encrypted repository to the school share.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..config import Config, Secret, read_secret_file, write_private
from ..envelope import KdfParams
from ..errors import ConfigError, LocalError, SafetyStop, UsageError
from ..i18n import _
from ..journal import Journal
from ..local import MARKER_NAME, ignore_rules
from ..log import get_logger
from ..model import Kind, RelPath
from ..vault import Vault, VaultLocked, vault_path
from . import clock, files, history, ledger, offsite
from .crypto import canonical_recovery, recovery_passphrase
from .maintenance import Damage, PruneResult, check, forget_plan, prune
from .repository import Repository, config_missing, repository_state
from .restore import RestoreResult, restore
from .snapshots import CreateResult, create

log = get_logger(__name__)

PASSPHRASE_ENV = "HOSO_BACKUP_PASSPHRASE"
VAULT_ENTRY = "backup"  # the repository's passphrase in the credential vault


# --- the passphrase ------------------------------------------------------------------------------


def passphrase(
    config: Config | None,
    *,
    prompt: Callable[[str], str] | None = None,
    repository: Path | None = None,
) -> Secret:
    """HOSO_BACKUP_PASSPHRASE, else the vault's ``backup`` entry (what `hoso backup init`
    stored, so the agent can back up unattended), else the key file named in the config
    (0600 enforced), else the prompt; ConfigError when none is available.

    ``repository``: a folder named on the command line rather than the config's. The vault
    and the key file hold the passphrase of the config's repository: they are used for it
    only when it is the same folder. Without a config (a new PC: only the USB drive and the
    passphrase) only the variable and the prompt remain."""
    from_env = os.environ.get(PASSPHRASE_ENV)
    if from_env:
        return Secret(from_env)
    configured = config is not None and (
        repository is None or _same_folder(repository, config.backup.repository_path())
    )
    if configured and config is not None:
        stored = _stored_passphrase(config)
        if stored:
            return stored
    if prompt is not None:
        return Secret(prompt(_("Backup passphrase: ")))
    raise ConfigError(
        _(
            "No backup passphrase: set {var}, pipe it with --passphrase-stdin, name a key "
            "file in [backup] key_file, or run the command in a terminal."
        ).format(var=PASSPHRASE_ENV)
    )


def _stored_passphrase(config: Config) -> Secret | None:
    """The vault's ``backup`` entry, else the config's key file."""
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
    return None


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return a.expanduser().resolve() == b.expanduser().resolve()
    except OSError:
        return False


# --- opening and creating --------------------------------------------------------------------


def open_repository(config: Config, secret: Secret) -> Repository:
    return Repository.open(config.backup.repository_path(), secret.reveal())


def open_existing(path: Path, secret: Callable[[], Secret]) -> Repository:
    """The repository in a folder a person named (`connect DIR`, `--repository DIR`), with
    a message about the folder, not about `init`, when it holds no repository; ``secret`` is
    asked only then, so nobody types a passphrase for the wrong folder."""
    existing_repository(path)
    return Repository.open(path, secret().reveal())


def existing_repository(path: Path) -> None:
    """UsageError naming what is wrong when ``path`` holds no repository: missing (a drive
    not plugged in), empty, or another folder (with the repository below it named, when it
    is one level down: the drive's root given instead of its backup folder). A repository
    whose config is missing is BackupDamaged, as everywhere."""
    if not path.is_dir():
        raise UsageError(
            _(
                "There is no folder {path}. Plug in the drive that holds the backups (or check "
                "the path), then try again."
            ).format(path=path)
        )
    state = repository_state(path)
    if state == "damaged":
        raise config_missing(path)
    if state == "repository":
        return
    try:
        entries = sorted(path.iterdir())
    except OSError as exc:
        raise files.local_error(path, exc) from None
    if not entries:
        raise UsageError(
            _(
                "{path} is empty: there are no backups in it. Check that this is the drive and "
                "folder that hold them; to start new backups there, use `hoso backup init "
                "--repository {path}`."
            ).format(path=path)
        )
    inner = [e for e in entries if e.is_dir() and repository_state(e) == "repository"]
    if len(inner) == 1:
        raise UsageError(
            _(
                "{path} is not a backup repository, but {inner} is: name that folder instead."
            ).format(path=path, inner=inner[0])
        )
    raise UsageError(
        _(
            "{path} is not a hoso backup repository (it has no file `config`). A repository "
            "folder holds `config`, `keys`, `data`, `index` and `snapshots`."
        ).format(path=path)
    )


@dataclass(frozen=True)
class Connected:
    repository: Repository
    snapshots: list[tuple[str, dict]]
    new_key: str | None  # the slot added when the recovery key opened it


def connect_repository(
    config: Config,
    path: Path,
    secret: Callable[[], Secret],
    *,
    replacement: Callable[[], Secret],
) -> Connected:
    """Make the existing repository at ``path`` this agent's: open it (nothing is written
    when it does not), keep the passphrase in the vault for the unattended backups and
    record ``[backup] repository``. The recovery key is never stored: opened with it, a new
    passphrase (``replacement()``) is added to the repository and kept instead."""
    existing_repository(path)
    given = secret()
    repo = Repository.open(path, given.reveal())
    kept, new_key = given, None
    if canonical_recovery(given.reveal()) is not None:
        kept = replacement()
        if len(kept.reveal()) < 8:
            raise UsageError(_("The backup passphrase must have at least 8 characters."))
        new_key = add_key(config, repo, kept.reveal(), config.host_name)
    Vault.open(config, create=True).set(VAULT_ENTRY, kept.reveal(), {"repository": str(path)})
    record_repository(config, path)
    return Connected(repo, repo.snapshots(), new_key)


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
    first = {slot["id"]: slot["label"] for slot in repo.key_slots()}
    ledger.record(config, repo.id, generation=repo.generation, keys=first)
    recovery = recovery_passphrase()
    add_key(config, repo, recovery, "recovery", kdf)
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
    now: datetime | None = None,
) -> CreateResult:
    """One snapshot of the records folder, under the repository lock; then the last good
    backup is remembered (with what the repository's dates say about the clock) and, when
    configured, the share's copy brought up to date."""
    now = now or datetime.now().astimezone()
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

    synced = _synced_files(config)

    def on_share(path: str, sha256: str) -> bool | None:
        return None if synced is None else synced.get(path) == sha256

    result = snapshot_folder(
        config,
        repo,
        config.root,
        tags=tags,
        ignore=ignored,
        on_progress=on_progress,
        now=now,
        on_share=on_share,
    )
    history.remember(
        config,
        snapshot=result.snapshot,
        seq=result.seq,
        files=result.files,
        size=result.bytes,
        skipped=len(result.skipped),
        clock=[problem.json() for problem in clock.assess(repo.snapshots(), now)],
        now=now.timestamp(),
    )
    if config.backup.remote_copy:
        offsite.mirror(config, repo)
    return result


def _synced_files(config: Config) -> dict[RelPath, str] | None:
    """Path → SHA-256 of the files the journal has as synced and seen on the share: what a
    snapshot marks ``on_share``. None when that is not known (no journal, or an empty one:
    nothing synced yet)."""
    path = config.state_dir / "journal.sqlite3"
    if not path.exists():
        return None
    try:
        with Journal.open(path) as journal:
            entries = journal.entries()
    except LocalError as exc:  # the journal cannot be read
        log.warning("backup without the share's state: %s", exc)  # only a restore's hint
        return None
    if not entries:
        return None
    return {
        p: e.sha256
        for p, e in entries.items()
        if e.kind is Kind.FILE and e.remote_confirmed and e.sha256
    }


def brings_back_a_folder(config: Config | None, target: Path, paths: Sequence[str]) -> bool:
    """Is this restore a records folder coming back (the whole snapshot, into a folder the
    agent does not sync yet), not files asked back into a synced one? Only then may a file
    the backup saw on the share, and missing there now, count as deleted there since."""
    if paths:
        return False  # files chosen by name: wanted back, wherever they go
    if config is None or not _same_folder(target, config.root):
        return True
    path = config.state_dir / "journal.sqlite3"
    if not path.exists():
        return True
    try:
        with Journal.open(path) as journal:
            return journal.count() == 0
    except LocalError:
        return False  # not known: the files go back to the share, as any new file


def snapshot_folder(
    config: Config,
    repo: Repository,
    folder: Path,
    *,
    tags: Sequence[str] = (),
    ignore: Callable[[str, bool], bool] = lambda path, is_dir: False,
    on_progress: Callable[[str], None] = lambda path: None,
    now: datetime | None = None,
    on_share: Callable[[str, str], bool | None] = lambda path, sha256: None,
) -> CreateResult:
    """A snapshot of ``folder`` under the lock, remembered as made by this computer."""
    with repo.lock():
        result = create(
            repo,
            folder,
            host=config.host_name,
            tags=tags,
            ignore=ignore,
            on_progress=on_progress,
            now=now,
            on_share=on_share,
        )
        ledger.record(
            config, repo.id, generation=repo.generation, snapshots={result.snapshot: result.seq}
        )
    return result


def restore_snapshot(
    config: Config | None,
    repo: Repository,
    snapshot_id: str,
    paths: Sequence[str],
    target: Path,
    *,
    overwrite: bool,
    on_kept: Callable[[int, str], None] = lambda files, snapshot: None,
) -> RestoreResult:
    """Bring back ``paths`` of a snapshot (all when none) into ``target``, marked as restored.
    The files it replaces (``overwrite``) are backed up first into a `before-restore` snapshot,
    told to ``on_kept(files, snapshot_id)``; without a config they cannot be, and nothing is
    restored."""

    def keep_what_is_replaced(files: list[Path]) -> None:
        if config is None:
            raise UsageError(
                _(
                    "Without hoso set up on this computer (no config), the {n} files it would "
                    "replace cannot be backed up first; nothing was restored. Restore into an "
                    "empty or new folder."
                ).format(n=len(files))
            )
        saved = snapshot_folder(config, repo, target, tags=["before-restore"])
        on_kept(len(files), saved.snapshot)

    return restore(
        repo,
        snapshot_id,
        [p.strip("/") for p in paths],
        target,
        overwrite=overwrite,
        before_overwrite=keep_what_is_replaced,
        mark=True,
        wanted=not brings_back_a_folder(config, target, paths),
    )


def new_restore_folder(parent: Path, snapshot_id: str) -> Path:
    """A folder in ``parent`` that does not exist yet, named after the snapshot
    (hoso-khoi-phuc-ID, then -2, -3…): a restore without --target replaces nothing."""
    base = parent / f"hoso-khoi-phuc-{snapshot_id[:8]}"
    candidate, n = base, 1
    while candidate.exists():
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate


# --- keys and checks ----------------------------------------------------------------------------


def add_key(
    config: Config, repo: Repository, passphrase: str, label: str, kdf: KdfParams | None = None
) -> str:
    with repo.lock():
        slot_id = repo.add_key(passphrase, label, kdf or KdfParams())
        ledger.record(config, repo.id, generation=repo.generation, keys={slot_id: label})
    return slot_id


def remove_key(config: Config, repo: Repository, slot_ref: str) -> str:
    """Remove the one key slot whose id starts with ``slot_ref`` (never the last slot);
    returns its full id."""
    matches = [s["id"] for s in repo.key_slots() if s["id"].startswith(slot_ref)]
    if len(matches) != 1:
        raise UsageError(_("No single key slot starts with {id}.").format(id=slot_ref))
    with repo.lock():
        repo.remove_key(matches[0])
        ledger.record(config, repo.id, generation=repo.generation, removed_keys=[matches[0]])
    return matches[0]


def accept_missing(config: Config, repo: Repository) -> None:
    """Record what is missing as gone: the manifest lists what is there now, and this
    computer forgets the snapshots and key slots it made that are gone. The next check no
    longer reports them; nothing on disk is removed."""
    with repo.lock():
        written = ledger.load(config, repo.id)
        numbers = [seq for seq in written.snapshots.values() if isinstance(seq, int)]
        rebuilt = repo.rebuild_manifest(written.generation, max(numbers, default=0))
        ledger.record(
            config,
            repo.id,
            generation=rebuilt.generation,
            forgotten=set(written.snapshots) - set(rebuilt.snapshots),
            removed_keys=set(written.keys) - set(rebuilt.keys),
        )


def check_remote(config: Config, repo: Repository) -> offsite.RemoteCheck:
    """Read the share's copy back and send again what is damaged there, under the lock (a
    prune meanwhile would remove what is being sent again)."""
    with repo.lock():
        return offsite.check(config, repo)


def prune_repository(repo: Repository) -> PruneResult:
    """Free the space of data no snapshot uses any more, under the lock."""
    with repo.lock():
        return prune(repo)


def check_repository(
    config: Config | None, repo: Repository, *, read_data: bool
) -> list[Damage]:
    """`check` under the lock (a prune meanwhile would look like damage), with what this
    computer remembers having written (nothing, without a config: a new PC)."""
    written = ledger.load(config, repo.id) if config is not None else ledger.Written()
    with repo.lock():
        return check(repo, read_data=read_data, written=written)


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
    now: datetime | None = None,
    allow_clock_jump: bool = False,
) -> Trimmed:
    """Forget the snapshots the policy does not keep, then prune what no snapshot uses any
    more. The policy is the ``keep_*`` arguments given (those not given keep nothing), or
    the config's when none is given. Rules by day, week or month go by the snapshots'
    dates: SafetyStop (nothing forgotten) when those dates cannot be trusted at ``now``,
    unless ``allow_clock_jump``."""
    now = now or datetime.now().astimezone()
    given = {
        "keep_last": keep_last,
        "keep_daily": keep_daily,
        "keep_weekly": keep_weekly,
        "keep_monthly": keep_monthly,
    }
    if any(value is not None for value in given.values()):
        rules = {key: value or 0 for key, value in given.items()}
    else:
        rules = {key: getattr(config.backup, key) for key in given}
    if not any(rules.values()):
        raise UsageError(_("A retention policy that keeps nothing is refused."))
    with repo.lock():
        snapshots = repo.snapshots()
        by_date = any(rules[key] for key in ("keep_daily", "keep_weekly", "keep_monthly"))
        if by_date and not allow_clock_jump:
            _refuse_untrusted_dates(snapshots, now)
        kept, forgotten = forget_plan(snapshots, **rules)
        if dry_run:
            return Trimmed(forgotten, kept, None)
        for snapshot_id in forgotten:
            repo.remove_snapshot(snapshot_id)
            ledger.record(config, repo.id, generation=repo.generation, forgotten=[snapshot_id])
        pruned = prune(repo) if prune_after and forgotten else None
    if config.backup.remote_copy and forgotten:
        offsite.mirror(config, repo)
    return Trimmed(forgotten, kept, pruned)


def _refuse_untrusted_dates(snapshots: list[tuple[str, dict]], now: datetime) -> None:
    problems = clock.assess(snapshots, now)
    if problems:
        raise SafetyStop(
            _(
                "Retention stopped, nothing forgotten: the snapshots' dates cannot be trusted "
                "({problems}). Rules by day, week or month would keep the wrong snapshots. "
                "Set the computer's clock right; then confirm with --allow-clock-jump, or "
                "use only --keep-last, which goes by the order the snapshots were made."
            ).format(problems="; ".join(problem.describe(now) for problem in problems))
        )
