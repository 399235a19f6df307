"""`hoso trash list` / `hoso trash restore ID`: what the agent removed, and getting it back;
with ``--school``, the school folder's own trash (agent/schoolfolder.py: its lane keeps one)."""

from __future__ import annotations

import json

import click

from ..config import Config
from ..context import Ctx, pass_ctx
from ..display import printable_name
from ..i18n import _
from .sync import show_event


@click.group()
def trash() -> None:
    """Files the agent removed or replaced, and getting them back."""


_SCHOOL_HELP = "The school folder's trash (files of the school folder), not the records folder's."


@trash.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.option("--school", is_flag=True, help=_SCHOOL_HELP)
@pass_ctx
def trash_list(ctx: Ctx, as_json: bool, school: bool) -> None:
    """What the agent removed or replaced, newest first, with the ID to restore it."""
    from .. import trash as trashmod
    from ..journal import Journal

    cfg = ctx.load()
    state_dir = _school_lane(cfg).state_dir if school else cfg.state_dir
    journal = Journal.open(state_dir / "journal.sqlite3")
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
@click.option("--school", is_flag=True, help=_SCHOOL_HELP)
@pass_ctx
def trash_restore(ctx: Ctx, item_id: int, school: bool) -> None:
    """Put item ITEM_ID back where it was (beside it when that name is taken); done by the
    running agent when one runs."""
    from ..control import carry_out

    cfg = ctx.load()
    if school:
        _school_lane(cfg)
    request = "school.trash.restore" if school else "trash.restore"
    restored = carry_out(cfg, request, {"item": item_id}, emit=show_event)["path"]
    click.echo(
        _("Restored as {path}. The next sync carries it to the other side.").format(
            path=printable_name(restored)
        )
    )


def _school_lane(cfg: Config) -> Config:
    """The school folder's lane config; a usage error (exit 2) without a school folder."""
    from ..control import no_school_folder
    from ..schoolfolder import lane_config

    lane = lane_config(cfg)
    if lane is None:
        raise no_school_folder(cfg)
    return lane
