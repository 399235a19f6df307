"""`hoso roles`: who holds which role at the school, from the config and the school profile."""

from __future__ import annotations

import json

import click

from .. import profilestore
from ..context import Ctx, pass_ctx
from ..i18n import _
from ..roles import Person
from .school import source_lines


@click.command()
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def roles(ctx: Ctx, as_json: bool) -> None:
    """Who holds which role: the principal's decision, the mailbox keeper, the reviewers."""
    config = ctx.load()
    found = config.roles
    # With a school folder: where each value comes from, and the school profile in force.
    profile = None
    if config.school_folder is not None:
        info = profilestore.in_force_info(config.state_dir)
        profile = info.to_json() if info else None
    if as_json:
        document = found.to_json()
        if config.school_folder is not None:
            document["sources"] = dict(config.school_sources)
            document["profile"] = profile
        click.echo(json.dumps(document, ensure_ascii=False))
        return
    school = found.school
    unset = _("(not set)")

    def person(who: Person | None) -> str:
        if who is None:
            return unset
        return ", ".join(part for part in (who.name, who.position, who.email) if part)

    click.echo(_("School: {name}").format(name=school.name or unset))
    click.echo(_("School mailbox: {address}").format(address=school.mailbox or unset))
    click.echo(_("Principal: {who}").format(who=person(school.principal)))
    if school.decision:
        click.echo(
            _("Assignment decision: No. {number} of {date}").format(
                number=school.decision.number, date=school.decision.date.strftime("%d/%m/%Y")
            )
        )
    else:
        click.echo(_("Assignment decision: {value}").format(value=unset))
    click.echo(_("Mailbox keeper: {who}").format(who=person(school.mailbox_keeper)))
    for reviewer in school.reviewers:
        scope = ", ".join((*reviewer.groups, *reviewer.teachers))
        click.echo(
            _("Reviews lesson plans: {who} ({scope})").format(who=person(reviewer), scope=scope)
        )
    mine = ", ".join(r.name for r in found.my_reviewers()) or unset
    click.echo(_("Your lesson plans are reviewed by: {names}").format(names=mine))
    if config.school_folder is None:
        return
    if profile is None:
        click.echo(_("School profile: none in force (this computer's config is used)."))
    else:
        click.echo(
            _("School profile in force: serial {serial}, signed by {signer} at {time}").format(
                serial=profile["serial"], signer=profile["signer"], time=profile["signed_at"]
            )
        )
    for line in source_lines(config.school_sources):
        click.echo(line)
