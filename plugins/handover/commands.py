"""`hoso handover …`: the click wiring of the handover plugin. Each command parses its
options, calls one function of service.py and prints its result as text or JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from agent.api import Config, Ctx, ExitCode, UsageError, _, pass_ctx, terminal_prompt

from . import keys as keymod
from . import ledger, trust
from .bundle import Party
from .inbox import Waiting
from .moving import move_earlier_logs
from .service import (
    MAILBOX,
    Arrived,
    accept,
    confirm_password_changed,
    giver_of,
    history,
    make_keys,
    open_vault_quietly,
    prepare,
    read_log,
    release_given_copy,
    reminder_message,
    removed_message,
    waiting_for_confirmation,
    waiting_list,
)


def _loaded(obj: Ctx) -> Config:
    """The config, after moving the log files an earlier version kept in the records folder
    to the school folder (every handover command does it first), saying what happened."""
    config = obj.load()
    moved = move_earlier_logs(config)
    for name in moved.moved:
        click.echo(
            _(
                "The handover log file {name} moved from the records folder to the school "
                "folder (the records folder's copy is in hoso's trash)."
            ).format(name=name),
            err=True,
        )
    for path in moved.diverged:
        click.echo(_("Warning: {problem}").format(problem=ledger.diverged_problem(path)), err=True)
    for problem in moved.failed:
        click.echo(_("Warning: {problem}").format(problem=problem), err=True)
    return config


def _release_and_say(config: Config) -> keymod.HandoverKeys | None:
    """Remove a handed-over copy whose password change is logged (and say so); this
    computer's handover keys, or None when it has none (or its vault is locked)."""
    vault = open_vault_quietly(config, terminal_prompt())
    if vault is None:
        return None
    released = release_given_copy(config, vault)
    if released is not None:
        click.echo(removed_message(released), err=True)
    return keymod.load(vault)


def _warn_first_use_of(fingerprint: str | None) -> None:
    if fingerprint is not None:
        click.echo(
            _(
                "Warning: no keeper key is pinned in the config, so this computer now trusts "
                "the handover log's first keeper key {fingerprint} (trust on first use). Check "
                "it with that keeper and pin it in the config: [[school.keepers]] with "
                'name = "…" and key = "{fingerprint}".'
            ).format(fingerprint=fingerprint),
            err=True,
        )


@click.group()
def handover() -> None:
    """Hand the school mailbox account to the next keeper, with signed-off minutes."""


@handover.command()
@click.option("--new", is_flag=True, help="Make a new key pair even if one exists.")
@pass_ctx
def keygen(obj: Ctx, new: bool) -> None:
    """Show this computer's public key (made on first use), for the giver."""
    public, created = make_keys(_loaded(obj), new=new, prompt=terminal_prompt())
    if created:
        click.echo(_("A new handover key was made and stored in the vault."), err=True)
    click.echo(f"public key: {public.text()}")
    click.echo(f"fingerprint: {public.fingerprint()}")


@handover.command("prepare")
@click.option("--to", "to", required=True, help="The receiver's public key (hoso1:…).")
@click.option("--receiver", required=True, help='"NAME, POSITION" of the new keeper.')
@click.option("--witness", default=None, help='"NAME, POSITION" of the witness.')
@click.option("--giver", default=None, help='"NAME, POSITION" (default: the config\'s keeper).')
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for the bundle and the minutes (default: the school folder's "
    "“Bàn giao tài khoản”, or the current folder on a computer without a school folder).",
)
@pass_ctx
def prepare_command(
    obj: Ctx, to: str, receiver: str, witness: str | None, giver: str | None, out: Path | None
) -> None:
    """Seal the school mailbox account for the receiver and write the minutes."""
    config = _loaded(obj)
    done = prepare(
        config,
        to=to,
        giver=giver_of(config, giver),
        receiver=Party.parse(receiver, "--receiver"),
        witness=Party.parse(witness, "--witness") if witness else None,
        out=out,
        prompt=terminal_prompt(),
    )
    if done.snapshot is None:
        click.echo(
            _("Warning: no backup repository on this computer, so no backup was taken first."),
            err=True,
        )
    else:
        click.echo(_("Backup taken first: snapshot {id}.").format(id=done.snapshot))
    click.echo(_("Sealed bundle: {path}").format(path=done.bundle))
    for path in done.minutes:
        click.echo(_("Minutes: {path}").format(path=path))
    click.echo(
        _(
            "Give the bundle to the receiver (USB stick or the share). Print the minutes for "
            "everyone to sign."
        )
    )


@handover.command("accept")
@click.argument("bundle", type=click.Path(dir_okay=False, path_type=Path), required=False)
@click.option(
    "--fingerprint",
    default=None,
    help="The giver's key fingerprint, as the giver reads it out (or as the minutes print it).",
)
@pass_ctx
def accept_command(obj: Ctx, bundle: Path | None, fingerprint: str | None) -> None:
    """Import the school mailbox account from a sealed bundle (without BUNDLE: the one
    waiting for you in the school folder), once you have confirmed the giver's key
    fingerprint."""

    def confirm(arrived: Arrived) -> str:
        if bundle is None:
            click.echo(_("Bundle found in the school folder: {path}").format(path=arrived.path))
        click.echo(
            _("Bundle from {giver}, key fingerprint {fingerprint}.").format(
                giver=arrived.opened.giver.label(),
                fingerprint=arrived.giver_fingerprint,
            )
        )
        click.echo(_known_line(arrived))
        if fingerprint is not None:
            return fingerprint
        if not sys.stdin.isatty():
            raise UsageError(
                _(
                    "Confirm the giver's key fingerprint before anything is imported: run this "
                    "at a terminal, or give --fingerprint XXXX-XXXX-XXXX-XXXX as the giver reads "
                    "it out from `hoso handover keygen`. Nothing was imported."
                )
            )
        answer: str = click.prompt(
            _(
                "Ask the giver to read out the fingerprint `hoso handover keygen` shows on their "
                "computer, and type it here"
            )
        )
        return answer

    def choose(waiting: list[Waiting]) -> str:
        click.echo(_("Several handover bundles for this computer wait in the school folder:"))
        click.echo(waiting_list(waiting))
        answer: str = click.prompt(
            _("Ask the giver which one is theirs, and type its path (or its file name)")
        )
        return answer

    _arrived, opened = accept(
        _loaded(obj),
        bundle,
        prompt=terminal_prompt(),
        confirm=confirm,
        choose=choose if sys.stdin.isatty() else None,
    )
    click.echo(_("The fingerprint matches."))
    click.echo(
        _("The account {address} is now in your vault as `{name}`.").format(
            address=opened.account.address, name=MAILBOX
        )
    )
    click.echo(
        _(
            "Now change the mailbox password and move the recovery phone/email to yours, then "
            "run `hoso handover confirm --password-changed`."
        )
    )


def _known_line(arrived: Arrived) -> str:
    if arrived.known_as == trust.PINNED:
        return _("This key is pinned in the config as {name}'s keeper key.").format(
            name=arrived.keeper_name or ""
        )
    if arrived.known_as is not None:
        return _("The handover log already knows this key as a keeper's.")
    return _(
        "This computer does not know this key yet: compare the fingerprint with the giver in "
        "person, not by chat."
    )


@handover.command("confirm")
@click.option("--password-changed", is_flag=True, help="You changed the mailbox password.")
@pass_ctx
def confirm_command(obj: Ctx, password_changed: bool) -> None:
    """Record that you changed the mailbox password (the giver's copy is then removed)."""
    if not password_changed:
        raise UsageError(_("Say what to confirm: `hoso handover confirm --password-changed`."))
    done = confirm_password_changed(_loaded(obj), prompt=terminal_prompt())
    click.echo(
        _("Recorded: the password of the mailbox from {giver} was changed.").format(
            giver=done.giver.label()
        )
    )


@handover.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def status_command(obj: Ctx, as_json: bool) -> None:
    """What the handover waits for on this computer (and remove a handed-over copy)."""
    config = _loaded(obj)
    keys = _release_and_say(config)
    log = read_log(config, keys)
    _warn_first_use_of(log.trusted_now)
    waiting = waiting_for_confirmation(log.log.entries, keys) if keys is not None else []
    if as_json:
        click.echo(json.dumps({"waiting": [h.to_json() for h in waiting]}, ensure_ascii=False))
        return
    for handover_ in waiting:
        click.echo(reminder_message(handover_))
    if not waiting:
        click.echo(_("No handover is waiting for you."))


@handover.command("history")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def history_command(obj: Ctx, as_json: bool) -> None:
    """The handover log: who handed the mailbox to whom, when; and whether it verifies
    (exit code 1 when it does not)."""
    config = _loaded(obj)
    screened, handovers = history(config, _release_and_say(config))
    log = screened.log
    _warn_first_use_of(screened.trusted_now)
    if as_json:
        document = {
            "verified": log.verified,
            "entries": [h.to_json() for h in handovers],
            "problems": log.problems,
            "keys": screened.to_json(),
        }
        click.echo(json.dumps(document, ensure_ascii=False))
    else:
        for h in handovers:
            click.echo(_history_line(h))
        for problem in log.problems:
            click.echo(_("Problem: {problem}").format(problem=problem))
        for fingerprint, how in sorted(screened.known.items()):
            if how == trust.FIRST_USE:
                click.echo(
                    _(
                        "Note: no keeper key is pinned in the config; this computer trusts "
                        "{fingerprint} because it was the log's first keeper key when this "
                        "computer first read it. Pin it: [[school.keepers]] in the config."
                    ).format(fingerprint=fingerprint)
                )
        click.echo(
            _("The handover log verifies.")
            if log.verified
            else _("The handover log does NOT verify.")
        )
    if not log.verified:
        sys.exit(ExitCode.PARTIAL)


def _history_line(h: ledger.Handover) -> str:
    changed = h.password_changed_at or _("not yet")
    witness = h.witness.label() if h.witness else "—"
    return _(
        "{time}: {giver} → {receiver} (witness: {witness}); password changed: {changed}"
    ).format(
        time=h.time,
        giver=h.giver.label(),
        receiver=h.receiver.label(),
        witness=witness,
        changed=changed,
    )
