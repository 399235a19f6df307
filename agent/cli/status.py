"""`hoso status`: the last pass, what waits, conflicts, errors, trash, backups, findings."""

from __future__ import annotations

import json
from typing import Any

import click

from ..context import Ctx, pass_ctx
from ..display import printable_name
from ..i18n import _, ngettext


@click.command()
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def status(ctx: Ctx, as_json: bool) -> None:
    """Last pass, pending changes, conflicts and errors."""
    from .. import status as statusmod
    from ..model import is_within

    cfg = ctx.load()
    st = statusmod.collect(cfg)
    if as_json:
        click.echo(json.dumps(st.to_json(), ensure_ascii=False))
        return
    if st.insecure_http:
        click.echo(
            _(
                "Warning: the share is reached over plain http:// ({url}); its password crosses "
                "the network in clear. Ask for the share's https:// address and run `hoso init` "
                "again with it."
            ).format(url=cfg.remote.url)
        )
    if st.last_pass is None:
        click.echo(_("No sync pass yet."))
    else:
        click.echo(
            _("Last pass: {when} ({outcome}).").format(
                when=st.last_pass["finished"].replace("T", " "),
                outcome=statusmod.outcome_text(st.last_pass["outcome"], waiting=st.waiting),
            )
        )
        stopped_by = (st.last_pass["report"] or {}).get("error")
        if stopped_by:  # the message says what to do; the class name alone does not
            click.echo(f"  {stopped_by}")
    click.echo(_("Changes waiting: {n}").format(n=len(st.pending)))
    # Paths inside what is held back are told once, with their folder, below.
    free = [p for p in st.pending if not any(is_within(p, h["path"]) for h in st.held)]
    for path in free[: statusmod.MAX_LISTED]:
        click.echo(f"  {printable_name(path)}")
    if len(free) < len(st.pending):
        held = len(st.pending) - len(free)
        click.echo("  " + _("{n} of them held back (see below).").format(n=held))
    for line in statusmod.held_lines(st.held):
        click.echo(line)
    if st.conflicts:
        click.echo(_("Conflict copies to look at: {n}").format(n=len(st.conflicts)))
        for path in st.conflicts:
            click.echo(f"  {printable_name(path)}")
    if st.errors:
        click.echo(_("Files that could not be synced: {n}").format(n=len(st.errors)))
        for err in st.errors:
            click.echo(f"  {printable_name(err['path'])}: {err['error']}")
    click.echo(_("Items in the trash: {n}").format(n=st.trash_items))
    _print_server(st.server)
    for warning in st.warnings:
        click.echo(_("Warning: {text}").format(text=warning))
    _print_backup_status(st.backup)
    if st.findings:
        files = sorted({f["path"] for f in st.findings})
        click.echo(
            _("Records with problems to fix: {n} (details: `hoso check`)").format(n=len(files))
        )
        for path in files[:20]:
            click.echo(f"  {printable_name(path)}")
    _print_school_folder(st.school_folder)
    for note in st.plugin_notes:
        click.echo(f"{note['plugin']}: {note['text']}")
    for failure in st.plugin_failures:
        click.echo(
            _("Plugin {plugin} failed in {hook} ({count}×): {detail}").format(**failure),
            err=False,
        )


def _print_school_folder(school: dict[str, Any] | None) -> None:
    """The school folder's state in a line, and what the share refused to take from here."""
    if school is None:
        return
    n = len(school["refused"])
    words = {
        "not_synced_yet": _("not synced yet"),
        "unreachable": _("the share could not be reached; hoso tries again"),
        "login_refused": _("the login was refused"),
        "stopped": _("stopped by an error"),
        "refused": ngettext(
            "{n} file refused by the server (kept on this computer)",
            "{n} files refused by the server (kept on this computer)",
            n,
        ).format(n=n),
        "waiting": ngettext(
            "waiting: {n} change not synced yet",
            "waiting: {n} changes not synced yet",
            school["pending"] or len(school["held"]),
        ).format(n=school["pending"] or len(school["held"])),
        "synced": _("synced"),
    }
    click.echo(
        _("School folder {root}: {state}.").format(
            root=printable_name(school["root"]), state=words[school["state"]]
        )
    )
    if school["error"]:
        click.echo(f"  {school['error']}")
    for item in school["refused"][:20]:
        click.echo(f"  {printable_name(item['path'])}: {item['error']}")


def _print_server(server: dict[str, Any] | None) -> None:
    """What the last probe saw the share do, and what hoso does about what it lacks."""
    if server is None:
        return
    yes, no = _("yes"), _("no")
    click.echo(
        _(
            "Share's server: ETags in listings {etags}, conditional writes {conditional}, "
            "atomic uploads {atomic}, lists dot-names {dots}, Depth: infinity {infinity}."
        ).format(
            etags=yes if server["etags_in_listings"] else no,
            conditional=yes if server["conditional_writes"] else no,
            atomic=yes if server["atomic_put"] else no,
            dots=yes if server["lists_dot_names"] else no,
            infinity=yes if server["depth_infinity"] else no,
        )
    )


def _print_backup_status(backup: dict[str, Any] | None) -> None:
    from ..backup.history import clock_lines

    if backup is None:
        click.echo(_("Backups: none yet (`hoso backup init`, then `hoso backup create`)."))
        return
    if backup["damaged"]:
        click.echo(_("Warning: {problem}").format(problem=backup["damaged"]), err=True)
    if backup["last"] is None:
        return
    if backup["age_hours"] is None:
        click.echo(
            _(
                "Last good backup: dated {when}, in the future: the clock is off; {files} files."
            ).format(when=backup["last"].replace("T", " "), files=backup["files"])
        )
    else:
        click.echo(
            _("Last good backup: {when} ({hours} hours ago), {files} files.").format(
                when=backup["last"].replace("T", " "),
                hours=backup["age_hours"],
                files=backup["files"],
            )
        )
    for line in clock_lines(backup):
        click.echo(line, err=True)
    if backup["stale"] and backup["age_hours"] is not None:
        click.echo(
            _(
                "Warning: the last backup is older than allowed ([backup] max_age). Is the backup "
                "drive connected? Run `hoso backup create`."
            ),
            err=True,
        )
