"""`hoso backup …`: the encrypted backups on the command line.

Thin like the rest of the CLI: parse, get the passphrase, call agent.backup, print text or
JSON. Errors are HosoErrors and reach the user through agent.cli.app.main (exit 2 for a wrong
passphrase or bad input, 1 for damage, 3 for an unreachable share).
"""

from __future__ import annotations

import getpass
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..config import Config, Secret
from ..context import Ctx, pass_ctx
from ..display import size_text
from ..errors import ExitCode, UsageError
from ..i18n import _
from ..vault import Prompt, terminal_prompt

if TYPE_CHECKING:  # imported where used: `hoso --help` does not load the backup code
    from ..backup.maintenance import Damage
    from ..backup.repository import Repository


def _confirmed_prompt() -> Prompt | None:
    """A terminal prompt that asks for a new passphrase twice, or None without a terminal
    (a passphrase to open something is asked once: agent.vault.terminal_prompt)."""
    if not sys.stdin.isatty():
        return None

    def ask(text: str) -> str:
        first = getpass.getpass(text)
        if getpass.getpass(_("Type it again: ")) != first:
            raise UsageError(_("The two passphrases differ; nothing was created."))
        return first

    return ask


def _passphrase(cfg: Config | None, from_stdin: bool, *, repository: Path | None = None) -> Secret:
    """The first line of stdin with --passphrase-stdin, else what service.passphrase finds."""
    from ..backup import service

    if from_stdin:
        line = click.get_text_stream("stdin").readline().rstrip("\r\n")
        if not line:
            raise UsageError(
                _("--passphrase-stdin: the input is empty; pipe the passphrase into the command.")
            )
        return Secret(line)
    return service.passphrase(cfg, prompt=terminal_prompt(), repository=repository)


def _open(cfg: Config, from_stdin: bool = False) -> Repository:
    from ..backup import service

    return service.open_repository(cfg, _passphrase(cfg, from_stdin))


passphrase_stdin_option = click.option(
    "--passphrase-stdin",
    is_flag=True,
    help="Read the passphrase (or the recovery key) from the first line of standard input.",
)


def repository_options(command: Any) -> Any:
    """``--repository DIR`` and ``--passphrase-stdin`` for the commands that only read a
    repository: with ``--repository`` they need no `[backup]` table, nor any config at all
    (a new PC where hoso is not set up yet: only the USB drive and the passphrase)."""
    command = passphrase_stdin_option(command)
    return click.option(
        "--repository",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="The repository folder to read (default: [backup] repository of the config).",
    )(command)


def _open_for_reading(
    ctx: Ctx, repository: Path | None, from_stdin: bool
) -> tuple[Config | None, Repository]:
    """(the config or None, the open repository) for a command of `repository_options`."""
    from ..backup import service

    if repository is None:
        cfg = ctx.load()
        return cfg, _open(cfg, from_stdin)
    cfg = ctx.load_if_present()
    path = repository.expanduser().absolute()
    return cfg, service.open_existing(path, lambda: _passphrase(cfg, from_stdin, repository=path))


def _new_passphrase() -> str:
    """A new passphrase: HOSO_BACKUP_NEW_PASSPHRASE, else typed twice at a terminal."""
    import os

    new = os.environ.get("HOSO_BACKUP_NEW_PASSPHRASE") or ""
    if not new:
        ask = _confirmed_prompt()
        if ask is None:
            raise UsageError(_("Set HOSO_BACKUP_NEW_PASSPHRASE or run in a terminal."))
        new = ask(_("New passphrase: "))
    if len(new) < 8:
        raise UsageError(_("The backup passphrase must have at least 8 characters."))
    return new


@click.group()
def backup() -> None:
    """Encrypted backups of the records folder (a USB drive, a second disk)."""


@backup.command("init")
@click.option(
    "--repository",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to keep the backups (default: [backup] repository, else the user data folder).",
)
@pass_ctx
def init(ctx: Ctx, repository: Path | None) -> None:
    """Create the encrypted repository, record it in the config, print the recovery key."""
    from ..backup import service

    cfg = ctx.load()
    path = (repository or cfg.backup.repository_path()).expanduser().absolute()
    secret = service.passphrase(cfg, prompt=_confirmed_prompt())
    created = service.init_repository(cfg, path, secret)
    if repository is not None or not cfg.backup.repository:
        service.record_repository(cfg, path)
    click.echo(_("Backup repository created at {path}.").format(path=path))
    if created.same_disk:
        click.echo(
            _(
                "Warning: it is on the same disk as the records folder; a dead disk would take "
                "both. Use a USB drive or a second disk: `hoso backup init --repository DIR`."
            ),
            err=True,
        )
    click.echo(_("Recovery key (print it and keep it in the principal's safe; it is shown once):"))
    click.echo(f"    {created.recovery_key}")


@backup.command("connect")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@passphrase_stdin_option
@pass_ctx
def connect(ctx: Ctx, directory: Path, passphrase_stdin: bool) -> None:
    """Use an existing repository (the USB drive of a PC that died): open it with its
    passphrase or the recovery key, and record it in the config. Nothing is written when
    it does not open."""
    from ..backup import service

    path = directory.expanduser().absolute()
    if not ctx.config_path.exists():
        raise UsageError(
            _(
                "hoso is not set up on this computer yet (no config at {config}). Get the records "
                "back first: `hoso backup restore latest --repository {path} --target ~/HoSo`, "
                "then `hoso init`, then connect the repository."
            ).format(config=ctx.config_path, path=path)
        )
    cfg = ctx.load()

    def replacement() -> Secret:
        click.echo(
            _(
                "Opened with the recovery key, which hoso never stores: choose a new "
                "passphrase for this computer's backups."
            ),
            err=True,
        )
        return Secret(_new_passphrase())

    connected = service.connect_repository(
        cfg,
        path,
        lambda: _passphrase(cfg, passphrase_stdin, repository=path),
        replacement=replacement,
    )
    click.echo(_("Backup repository at {path} connected.").format(path=path))
    before = Path(cfg.backup.repository).expanduser() if cfg.backup.repository else None
    if before is not None and before.absolute() != path:
        click.echo(
            _(
                "It replaces {before}, which the agent no longer backs up into; its passphrase "
                "is no longer kept in the vault."
            ).format(before=before),
            err=True,
        )
    if connected.snapshots:
        last_id, last = connected.snapshots[-1]
        click.echo(
            _("{n} snapshots; the last one, {id}, made {time} on {host}.").format(
                n=len(connected.snapshots),
                id=last_id[:8],
                time=last["time"][:19].replace("T", " "),
                host=last.get("host", "?"),
            )
        )
    if connected.new_key is not None:
        click.echo(
            _("Your new passphrase was added (key {id}); the recovery key still opens it.").format(
                id=connected.new_key[:8]
            )
        )
    click.echo(_("The agent backs up into it from now on, a running agent too."))


@backup.command("create")
@click.option("--tag", "tags", multiple=True, help="A label for the snapshot (repeatable).")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def create(ctx: Ctx, tags: tuple[str, ...], as_json: bool) -> None:
    """Back up the records folder now (only what changed is read)."""
    from ..backup import service

    cfg = ctx.load()
    repo = _open(cfg)
    result = service.backup(cfg, repo, tags=tags)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "snapshot": result.snapshot,
                    "files": result.files,
                    "bytes_added": result.bytes_added,
                    "bytes": result.bytes,
                    "skipped": [{"path": p, "reason": r} for p, r in result.skipped],
                },
                ensure_ascii=False,
            )
        )
    else:
        click.echo(
            _("Snapshot {id}: {files} files; new data stored: {added}.").format(
                id=result.snapshot[:8], files=result.files, added=size_text(result.bytes_added)
            )
        )
    for path, reason in result.skipped:
        shown = _("not backed up: {path} ({reason})").format(path=path, reason=reason)
        click.echo(shown, err=True)
    if result.skipped:
        sys.exit(ExitCode.PARTIAL)


def _snapshot_json(
    snapshot_id: str, snapshot: dict[str, Any], clock: str | None = None
) -> dict[str, Any]:
    return {
        "id": snapshot_id,
        "seq": snapshot.get("seq"),
        "time": snapshot["time"],
        "tags": snapshot.get("tags", []),
        "files": snapshot.get("files", 0),
        "bytes": snapshot.get("bytes", 0),
        "host": snapshot.get("host", ""),
        "clock": clock,
    }


@backup.command("list")
@click.option("--json", "as_json", is_flag=True)
@repository_options
@pass_ctx
def list_(ctx: Ctx, as_json: bool, repository: Path | None, passphrase_stdin: bool) -> None:
    """The snapshots, oldest first in the order they were made. A snapshot dated in the
    future, or before the one made ahead of it, is marked (`clock`) and explained."""
    from ..backup.clock import assess

    _cfg, repo = _open_for_reading(ctx, repository, passphrase_stdin)
    snapshots = repo.snapshots()
    now = datetime.now().astimezone()
    problems = assess(snapshots, now)
    marks: dict[str, str] = {}
    for problem in problems:
        marks.setdefault(problem.snapshot, problem.kind)
    rows = [_snapshot_json(i, s, marks.get(i)) for i, s in snapshots]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
    elif not rows:
        click.echo(_("No snapshots yet: `hoso backup create` makes one."))
    for row in [] if as_json else rows:
        tags = ", ".join(row["tags"])
        mark = "  !" if row["clock"] else ""
        click.echo(
            f"{row['id'][:8]}  {row['time'][:19].replace('T', ' ')}  "
            f"{row['files']:>6}  {size_text(row['bytes']):>9}  {tags}{mark}"
        )
    for problem in problems:
        click.echo(_("Warning: {problem}.").format(problem=problem.describe(now)), err=True)


@backup.command("ls")
@click.argument("snapshot")
@click.argument("path", default="")
@repository_options
@pass_ctx
def ls(ctx: Ctx, snapshot: str, path: str, repository: Path | None, passphrase_stdin: bool) -> None:
    """What a snapshot holds below PATH. SNAPSHOT: an id, `latest` or a date."""
    from ..backup.snapshots import find_by_ref
    from ..backup.snapshots import ls as list_entries

    _cfg, repo = _open_for_reading(ctx, repository, passphrase_stdin)
    snapshot_id, _snap = find_by_ref(repo, snapshot)
    for entry in list_entries(repo, snapshot_id, path.strip("/")):
        mark = "/" if entry.get("type") == "dir" else ""
        click.echo(f"{entry.get('path', entry.get('name'))}{mark}")


@backup.command("diff")
@click.argument("first")
@click.argument("second")
@repository_options
@pass_ctx
def diff(
    ctx: Ctx, first: str, second: str, repository: Path | None, passphrase_stdin: bool
) -> None:
    """What changed between two snapshots."""
    from ..backup.snapshots import diff as compare
    from ..backup.snapshots import find_by_ref

    _cfg, repo = _open_for_reading(ctx, repository, passphrase_stdin)
    changes = compare(repo, find_by_ref(repo, first)[0], find_by_ref(repo, second)[0])
    for sign, key in (("+", "added"), ("-", "removed"), ("M", "changed")):
        for path in changes.get(key, []):
            click.echo(f"{sign} {path}")


@backup.command("restore")
@click.argument("snapshot")
@click.argument("paths", nargs=-1)
@click.option(
    "--target",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to put the files (default: a new folder here).",
)
@click.option(
    "--overwrite", is_flag=True, help="Replace existing files (they are backed up first)."
)
@repository_options
@pass_ctx
def restore(
    ctx: Ctx,
    snapshot: str,
    paths: tuple[str, ...],
    target: Path | None,
    overwrite: bool,
    repository: Path | None,
    passphrase_stdin: bool,
) -> None:
    """Bring back files as they were in SNAPSHOT (an id, `latest`, or a date such as
    2026-11-24 for the last backup of that day). PATHS narrow it to files or folders."""
    from ..backup import service
    from ..backup.snapshots import find_by_ref

    cfg, repo = _open_for_reading(ctx, repository, passphrase_stdin)
    snapshot_id, snap = find_by_ref(repo, snapshot)
    target = (target or service.new_restore_folder(Path.cwd(), snapshot_id)).expanduser()
    target = target.absolute()

    def kept(files: int, saved: str) -> None:
        click.echo(
            _("{n} files about to be replaced were backed up first (snapshot {id}).").format(
                n=files, id=saved[:8]
            ),
            err=True,
        )

    result = service.restore_snapshot(
        cfg, repo, snapshot_id, paths, target, overwrite=overwrite, on_kept=kept
    )
    click.echo(
        _("Restored {files} files from snapshot {id} ({time}) into {target}.").format(
            files=result.files,
            id=snapshot_id[:8],
            time=snap["time"][:19].replace("T", " "),
            target=target,
        )
    )
    if cfg is not None and target == cfg.root.absolute():
        click.echo(_("The next sync carries the restored files to the share."))


@backup.command("check")
@click.option("--read-data", is_flag=True, help="Also read and verify every stored byte.")
@click.option(
    "--remote",
    is_flag=True,
    help="Also read back the copy on the share, and send again what is damaged there.",
)
@click.option(
    "--accept-missing",
    is_flag=True,
    help="Record the snapshots, key slots and manifest found missing as gone, so that the "
    "next check passes (copy them back first if a copy exists).",
)
@repository_options
@pass_ctx
def check(
    ctx: Ctx,
    read_data: bool,
    remote: bool,
    accept_missing: bool,
    repository: Path | None,
    passphrase_stdin: bool,
) -> None:
    """Verify the repository; exit 1 and name the damage when something is wrong."""
    from ..backup import service

    cfg, repo = _open_for_reading(ctx, repository, passphrase_stdin)
    if cfg is None and (remote or accept_missing):
        raise UsageError(
            _("--remote and --accept-missing need hoso set up on this computer (`hoso init`).")
        )
    damage = service.check_repository(cfg, repo, read_data=read_data)
    if accept_missing and damage:
        assert cfg is not None
        _print_damage(damage)
        service.accept_missing(cfg, repo)
        click.echo(_("What was missing is now recorded as gone. Checking again:"))
        damage = service.check_repository(cfg, repo, read_data=read_data)
    _print_damage(damage)
    if not damage:
        click.echo(
            _("The repository is sound ({what}).").format(
                what=_("every byte read") if read_data else _("structure checked")
            )
        )
    if remote and cfg is not None and not _check_remote(cfg, repo):
        sys.exit(ExitCode.PARTIAL)
    if damage:
        sys.exit(ExitCode.PARTIAL)


def _print_damage(damage: list[Damage]) -> None:
    for item in damage:
        click.echo(f"{item.file}: {item.problem}")
        for snapshot_id in item.snapshots:
            click.echo("  " + _("affects snapshot {id}").format(id=snapshot_id[:8]))
        for path in item.paths[:20]:
            click.echo(f"    {path}")


def _check_remote(cfg: Config, repo: Repository) -> bool:
    """Read the share's copy back; print what is damaged there and what was sent again."""
    from ..backup import service

    result = service.check_remote(cfg, repo)
    for item in result.damage:
        click.echo(
            _("on the share: {file}: {problem}").format(file=item.file, problem=item.problem)
        )
    for file in result.resent:
        click.echo("  " + _("sent again from this computer: {file}").format(file=file))
    for file in result.not_resent:
        click.echo(
            "  " + _("not sent again (the copy here is damaged too): {file}").format(file=file)
        )
    if not result.damage:
        click.echo(
            _("The copy on the share is sound ({n} files read back).").format(n=result.checked)
        )
    return not result.damage


@backup.command("forget")
@click.option("--keep-last", type=click.IntRange(0), default=None)
@click.option("--keep-daily", type=click.IntRange(0), default=None)
@click.option("--keep-weekly", type=click.IntRange(0), default=None)
@click.option("--keep-monthly", type=click.IntRange(0), default=None)
@click.option("--prune", "and_prune", is_flag=True, help="Free the space right away.")
@click.option("--dry-run", is_flag=True, help="Only say which snapshots would go.")
@click.option(
    "--allow-clock-jump",
    is_flag=True,
    help="Apply the day, week and month rules although snapshot dates show a wrong clock.",
)
@pass_ctx
def forget(
    ctx: Ctx,
    keep_last: int | None,
    keep_daily: int | None,
    keep_weekly: int | None,
    keep_monthly: int | None,
    and_prune: bool,
    dry_run: bool,
    allow_clock_jump: bool,
) -> None:
    """Forget the snapshots the policy does not keep (default: the config's keep_* keys).
    "Last" is the order snapshots were made; the day, week and month rules go by their
    dates, and stop (exit 4) when those show a clock in the future or gone backwards."""
    from ..backup import service

    cfg = ctx.load()
    repo = _open(cfg)
    trimmed = service.apply_retention(
        cfg,
        repo,
        keep_last=keep_last,
        keep_daily=keep_daily,
        keep_weekly=keep_weekly,
        keep_monthly=keep_monthly,
        prune_after=and_prune,
        dry_run=dry_run,
        now=datetime.now().astimezone(),
        allow_clock_jump=allow_clock_jump,
    )
    verb = _("would forget") if dry_run else _("forgot")
    for snapshot_id in trimmed.forgotten:
        click.echo(f"{verb} {snapshot_id[:8]}")
    click.echo(_("{kept} snapshots kept.").format(kept=len(trimmed.kept)))


@backup.command("prune")
@pass_ctx
def prune(ctx: Ctx) -> None:
    """Free the space of data no snapshot uses any more."""
    from ..backup import service

    result = service.prune_repository(_open(ctx.load()))
    click.echo(
        _("{packs} pack files removed, {freed} freed.").format(
            packs=result.packs_removed, freed=size_text(result.bytes_freed)
        )
    )


@backup.group("key")
def key() -> None:
    """The passphrases that open the repository."""


@key.command("add")
@click.option("--label", default="", help="Whose passphrase this is.")
@click.option("--recovery", is_flag=True, help="Make a new printable recovery key instead.")
@pass_ctx
def key_add(ctx: Ctx, label: str, recovery: bool) -> None:
    """Add a passphrase (asked for twice, or HOSO_BACKUP_NEW_PASSPHRASE)."""
    from ..backup import service
    from ..backup.crypto import recovery_passphrase

    cfg = ctx.load()
    repo = _open(cfg)
    new = recovery_passphrase() if recovery else _new_passphrase()
    slot = service.add_key(cfg, repo, new, "recovery" if recovery else label)
    click.echo(_("Key {id} added.").format(id=slot[:8]))
    if recovery:
        click.echo(
            _("Recovery key (print it and keep it in the principal's safe; it is shown once):")
        )
        click.echo(f"    {new}")


@key.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def key_list(ctx: Ctx, as_json: bool) -> None:
    """The key slots (never the keys)."""
    repo = _open(ctx.load())
    rows = [
        {"id": s["id"], "label": s.get("label", ""), "created": s.get("created", "")}
        for s in repo.key_slots()
    ]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    for row in rows:
        click.echo(f"{row['id'][:8]}  {row['created'][:19].replace('T', ' ')}  {row['label']}")


@key.command("remove")
@click.argument("slot_id")
@pass_ctx
def key_remove(ctx: Ctx, slot_id: str) -> None:
    """Remove a key slot (never the last one)."""
    from ..backup import service

    cfg = ctx.load()
    repo = _open(cfg)
    removed = service.remove_key(cfg, repo, slot_id)
    click.echo(_("Key {id} removed.").format(id=removed[:8]))
