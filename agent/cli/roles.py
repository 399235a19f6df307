"""`hoso roles`: who holds which role at the school, from the config."""

from __future__ import annotations

import json

import click

from ..context import Ctx, pass_ctx
from ..i18n import _
from ..roles import Person


@click.command()
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def roles(ctx: Ctx, as_json: bool) -> None:
    """Who holds which role: the principal's decision, the mailbox keeper, the reviewers."""
    found = ctx.load().roles
    if as_json:
        click.echo(json.dumps(found.to_json(), ensure_ascii=False))
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
