"""`hoso vault …`: the encrypted credentials on the command line.

Thin like the rest of the CLI: parse, read the secret, call agent.vault, print text or JSON.
A secret only ever comes in through a prompt or stdin (never argv, which `ps` shows) and
only ever goes out with `show --reveal`. Errors are HosoErrors and reach the user through
cli.main (exit 2 for bad input or an absent entry, 1 for a damaged vault).
"""

from __future__ import annotations

import getpass
import json
import os
import sys

import click

from ..config import Config
from ..context import Ctx, pass_ctx
from ..errors import UsageError
from ..i18n import _
from ..log import register_secret
from ..vault import Vault, check_name, protect, public_fields, terminal_prompt, vault_path

NEW_PASSPHRASE_ENV = "HOSO_VAULT_NEW_PASSPHRASE"
MASK = "********"


def _open(cfg: Config, *, create: bool = False) -> Vault:
    return Vault.open(cfg, create=create, prompt=terminal_prompt())


def _read_secret() -> str:
    """The secret: typed twice at a terminal, else the first line of stdin."""
    if sys.stdin.isatty():
        first = getpass.getpass(_("Secret: "))
        if getpass.getpass(_("Type it again: ")) != first:
            raise UsageError(_("The two entries differ; nothing was stored."))
        secret = first
    else:
        secret = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    if not secret:
        raise UsageError(_("The secret is empty; nothing was stored."))
    register_secret(secret)
    return secret


@click.group()
def vault() -> None:
    """The encrypted credentials hoso uses (share, mail, the school mailbox)."""


@vault.command("set")
@click.argument("name")
@click.option(
    "--field",
    "pairs",
    multiple=True,
    metavar="KEY=VALUE",
    help="A non-secret detail shown by `list` (address, provider, login_url, recovery…).",
)
@pass_ctx
def set_(ctx: Ctx, name: str, pairs: tuple[str, ...]) -> None:
    """Store a secret under NAME: read from the prompt, or the first line of stdin."""
    check_name(name)
    fields = public_fields(pairs)
    cfg = ctx.load()
    secret = _read_secret()
    _open(cfg, create=True).set(name, secret, fields)
    click.echo(_("Stored `{name}` in the vault.").format(name=name))


@vault.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def list_(ctx: Ctx, as_json: bool) -> None:
    """The entries with their non-secret fields (never a secret)."""
    cfg = ctx.load()
    rows = _open(cfg).public() if vault_path(cfg).exists() else []
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    if not rows:
        click.echo(_("The vault is empty: `hoso vault set NAME` stores a secret."))
    for row in rows:
        details = ", ".join(f"{k}={v}" for k, v in row["fields"].items())
        click.echo(f"{row['name']:<20} {row['updated'][:19].replace('T', ' ')}  {details}")


@vault.command("show")
@click.argument("name")
@click.option("--reveal", is_flag=True, help="Print the secret itself.")
@pass_ctx
def show(ctx: Ctx, name: str, reveal: bool) -> None:
    """One entry: its fields, and its secret only with --reveal."""
    entry = _open_for(ctx.load(), name).get(name)
    if entry is None:
        raise _absent(name)
    click.echo(f"name: {entry.name}")
    for key, value in entry.fields.items():
        click.echo(f"{key}: {value}")
    click.echo(f"updated: {entry.updated}")
    click.echo(f"secret: {entry.secret.reveal() if reveal else MASK}")


@vault.command("remove")
@click.argument("name")
@pass_ctx
def remove(ctx: Ctx, name: str) -> None:
    """Delete an entry (exit 2 when there is none)."""
    if not _open_for(ctx.load(), name).remove(name):
        raise _absent(name)
    click.echo(_("Removed `{name}` from the vault.").format(name=name))


@vault.command("protect")
@pass_ctx
def protect_(ctx: Ctx) -> None:
    """Wrap the vault key file with a passphrase (asked twice, or HOSO_VAULT_NEW_PASSPHRASE)."""
    cfg = ctx.load()
    new = os.environ.get(NEW_PASSPHRASE_ENV) or ""
    if not new:
        if not sys.stdin.isatty():
            raise UsageError(_("Set {var} or run in a terminal.").format(var=NEW_PASSPHRASE_ENV))
        new = getpass.getpass(_("New vault passphrase: "))
        if getpass.getpass(_("Type it again: ")) != new:
            raise UsageError(_("The two entries differ; nothing was changed."))
    protect(cfg, new, prompt=terminal_prompt())
    click.echo(
        _(
            "The vault key is now protected by the passphrase. The agent needs it in "
            "HOSO_VAULT_PASSPHRASE to start without a terminal."
        )
    )


def _open_for(cfg: Config, name: str) -> Vault:
    """The vault holding NAME; no vault at all is the same answer as no such entry."""
    if not vault_path(cfg).exists():
        raise _absent(name)
    return _open(cfg)


def _absent(name: str) -> UsageError:
    return UsageError(_("There is no vault entry `{name}`.").format(name=name[:80]))
