"""`hoso school …`: the school folder every agent keeps beside the records folder, and the
signed school profile in it.

`hoso school sync` runs one pass of the school folder now, by the running agent when one runs
(as `hoso sync` does for the records folder), with the same report and exit codes.
`hoso school show / edit / sign`: the school profile (hoso-truong.toml).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click

from ..context import Ctx, pass_ctx
from ..display import printable_name
from ..errors import ConfigError, ExitCode
from ..i18n import _
from .sync import end_report, pass_options, print_report, show_event


@click.group()
def school() -> None:
    """The school folder ([school] folder_url) and the school profile (hoso-truong.toml)."""


@school.command()
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def show(ctx: Ctx, as_json: bool) -> None:
    """The profile in force, where each value comes from, and the school folder's copy.

    Exit 4 when the school folder's copy is refused for its signature (changed after
    signing, an unknown key, an older copy put back), 2 when it is signed but not valid."""
    from .. import profilestore, schoolprofile

    config = ctx.load()
    folder = schoolprofile.folder_of(config)
    # Like the agent after each pass: a good new copy goes into force now.
    outcome = schoolprofile.refresh(config, time.time())
    config = ctx.load()
    info = profilestore.in_force_info(config.state_dir)
    warning = profilestore.first_use_warning(config)
    document: dict[str, Any] = {
        "file": str(folder.root / profilestore.PROFILE_NAME),
        "in_force": info.to_json() if info else None,
        "pinned_key": folder.profile_key or None,
        "trusted_on_first_use": warning is not None,
        "folder_copy": outcome.to_json(),
        "sources": dict(config.school_sources),
    }
    if as_json:
        click.echo(json.dumps(document, ensure_ascii=False))
    else:
        _show_text(document, outcome, info, warning)
    if outcome.state is schoolprofile.State.REFUSED:
        invalid = outcome.reason is schoolprofile.Reason.INVALID
        sys.exit(ExitCode.USAGE if invalid else ExitCode.SAFETY_STOP)


def _show_text(document: dict[str, Any], outcome: Any, info: Any, warning: str | None) -> None:
    from ..schoolprofile import State

    click.echo(_("School profile: {path}").format(path=document["file"]))
    if info is None:
        click.echo(_("In force: none (this computer's config is used)."))
    else:
        click.echo(
            _("In force: serial {serial}, signed by {signer} at {time}").format(
                serial=info.serial, signer=info.signer, time=info.signed_at
            )
        )
    click.echo(
        _("Pinned signer key: {key}").format(key=document["pinned_key"] or _("(none pinned)"))
    )
    state = {
        State.ABSENT: _("The school folder holds no profile yet."),
        State.ACCEPTED: _("The school folder's copy was taken now."),
        State.IN_FORCE: _("The school folder's copy is the one in force."),
    }.get(outcome.state)
    click.echo(state or _("The school folder's copy is refused: {why}").format(why=outcome.message))
    for line in source_lines(document["sources"]):
        click.echo(line)
    if warning:
        click.echo(_("Warning: {message}").format(message=warning), err=True)


def source_lines(sources: dict[str, str] | Any) -> list[str]:
    """One line per value: its key and whether the school profile or this PC gives it."""
    words = {"profile": _("from the school profile"), "config": _("from this PC's config")}
    return [f"  {key}: {words.get(where, where)}" for key, where in sorted(sources.items())]


@school.command()
@pass_ctx
def edit(ctx: Ctx) -> None:
    """Edit the school profile in $VISUAL / $EDITOR, check it key by key, then sign it."""
    from .. import schoolprofile
    from ..vault import terminal_prompt

    config = ctx.load()
    # The key first: a profile this computer cannot sign is not worth editing (exit 4).
    signer = schoolprofile.signer_of(config, prompt=terminal_prompt())
    # A good newer copy goes into force first (as `show` does), then the edit starts from
    # the profile in force, never a folder copy nobody trusted signed.
    schoolprofile.refresh(config, time.time())
    text = schoolprofile.template(ctx.load())
    while True:
        edited = click.edit(text, extension=".toml", require_save=True)
        if edited is None:
            click.echo(_("Nothing was changed."))
            return
        try:
            saved = schoolprofile.save(config, edited)
        except ConfigError as exc:
            click.echo(str(exc), err=True)
            text = edited
            if click.confirm(_("Edit it again?"), default=True):
                continue
            raise ConfigError(
                _("The school profile was left as it was: nothing was written.")
            ) from None
        break
    # What the admin saw and saved is signed, and only that (exit 4 if it changed since).
    _signed(schoolprofile.sign(config, time.time(), signer=signer, expected=saved))


@school.command()
@pass_ctx
def sign(ctx: Ctx) -> None:
    """Check the school profile as it stands and sign it with this computer's key.

    A copy no trusted key signed is shown as its difference from the profile in force and
    signed only when confirmed at a terminal (exit 4 otherwise)."""
    from .. import schoolprofile
    from ..vault import terminal_prompt

    signed = schoolprofile.sign(
        ctx.load(), time.time(), prompt=terminal_prompt(), confirm=_confirm_change
    )
    _signed(signed)


def _confirm_change(difference: str) -> bool:
    """Show the school folder's copy's difference from the profile in force and ask; no
    terminal to ask at: no."""
    if not sys.stdin.isatty():
        return False
    click.echo(
        _(
            "The school folder's profile is not a copy a trusted key signed: someone may "
            "have changed it. Its difference from the profile in force:"
        )
    )
    click.echo(difference)
    return click.confirm(_("Sign it with these changes?"), default=False)


def _signed(signed: Any) -> None:
    if signed.key_created:
        click.echo(_("A new signing key was made and stored in the vault."), err=True)
    click.echo(_("Signed: serial {serial}.").format(serial=signed.serial))
    click.echo(_("Signing key fingerprint: {fingerprint}").format(fingerprint=signed.fingerprint))
    click.echo(
        _(
            "On each computer, pin this key once: `hoso init --school-key {fingerprint}` "
            "(or school.profile_key in its config)."
        ).format(fingerprint=signed.fingerprint)
    )
    if signed.outcome.message:
        click.echo(signed.outcome.message, err=True)


@school.command("sync")
@pass_options
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_ctx
def school_sync(
    ctx: Ctx, dry_run: bool, allow_mass_delete: bool, allow_restored_share: bool, as_json: bool
) -> None:
    """One pass of the school folder now (by the running agent when one runs)."""
    from ..control import carry_out, no_school_folder, report_of
    from ..log import setup_logging

    cfg = ctx.load()
    if cfg.school_folder is None:
        raise no_school_folder(cfg)
    setup_logging(cfg.state_dir, verbose=False, to_stderr=False)
    args = {
        "dry_run": dry_run,
        "allow_mass_delete": allow_mass_delete,
        "allow_restored_share": allow_restored_share,
    }
    result = carry_out(cfg, "school.sync", args, emit=show_event)
    report = report_of(result)
    if as_json:
        document = {**report.to_json(), "profile": result.get("profile")}
        click.echo(json.dumps(document, ensure_ascii=False))
    else:
        root = printable_name(str(cfg.school_folder.root))
        click.echo(_("School folder: {root}").format(root=root))
        print_report(report, dry_run=dry_run)
        profile = result.get("profile") or {}
        if profile.get("state") == "accepted":
            click.echo(
                _("School profile serial {serial} is now in force on this computer.").format(
                    serial=profile.get("serial")
                )
            )
    end_report(report)
