"""`hoso trash list` / `hoso trash restore ID`: what the agent removed, and getting it back."""

from __future__ import annotations

import json

import click

from ..context import Ctx, pass_ctx
from ..display import printable_name
from ..i18n import _
from .sync import show_event


@click.group()
def trash() -> None:
    """Files the agent removed or replaced, and getting them back."""


@trash.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def trash_list(ctx: Ctx, as_json: bool) -> None:
    """What the agent removed or replaced, newest first, with the ID to restore it."""
    from .. import trash as trashmod
    from ..journal import Journal

    cfg = ctx.load()
    journal = Journal.open(cfg.state_dir / "journal.sqlite3")
    try:
        rows = [trashmod.as_json(i) for i in trashmod.items(journal)]
    finally:
        journal.close()
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    if not rows:
        click.echo(_("The trash is empty."))
    side_names = {"local": _("this computer"), "remote": _("the share")}
    for row in rows:
        click.echo(
            f"{row['id']:>5}  {row['deleted_at']}  {side_names[str(row['side'])]:<14} "
            f"{printable_name(str(row['path']))}  ({row['reason_text']})"
        )


@trash.command("restore")
@click.argument("item_id", type=int)
@pass_ctx
def trash_restore(ctx: Ctx, item_id: int) -> None:
    """Put item ITEM_ID back where it was (beside it when that name is taken); done by the
    running agent when one runs."""
    from ..control import carry_out

    cfg = ctx.load()
    restored = carry_out(cfg, "trash.restore", {"item": item_id}, emit=show_event)["path"]
    click.echo(
        _("Restored as {path}. The next sync carries it to the other side.").format(
            path=printable_name(restored)
        )
    )
