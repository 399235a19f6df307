"""`hoso search`: the click wiring of the search plugin. Parses the options, calls
service.py, prints the answer as text (the teacher's language) or JSON.

Exit codes: 0 results, 1 none, 2 a bad query or bad options (nothing changed).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from agent.api import Ctx, ExitCode, UsageError, _, pass_ctx, printable_name

from .query import DEFAULT_LIMIT

if TYPE_CHECKING:
    from .service import Answer

# Also on a terminal: stdout escapes every control character (agent.display), bold included.
TEXT_MARKS = ("[", "]")


# "-word" (leave out) is a word of the query, not an option click does not know.
@click.command("search", context_settings={"ignore_unknown_options": True})
@click.argument("query", nargs=-1, required=True)
@click.option("--type", "type_", metavar="CODE", help=_("Only records of this type (KHBD…)."))
@click.option("--week", type=int, metavar="N", help=_("Only records of school week N."))
@click.option("--weeks", metavar="A-B", help=_("Only records of weeks A to B."))
@click.option("--subject", metavar="S", help=_("Only records of this subject (its folder)."))
@click.option(
    "--folder",
    type=click.Path(path_type=Path, file_okay=False),
    help=_("Search this folder (a copy of the whole school share) instead of your records."),
)
@click.option(
    "--teacher-folder",
    metavar="NAME",
    help=_("With --folder: only the records in this teacher's folder."),
)
@click.option(
    "--limit", type=int, default=DEFAULT_LIMIT, show_default=True, help=_("Results shown.")
)
@click.option("--json", "as_json", is_flag=True, help=_("Print the results as JSON."))
@click.option("--reindex", is_flag=True, help=_("Read every file again to rebuild the index."))
@pass_ctx
def search_command(
    ctx: Ctx,
    query: tuple[str, ...],
    type_: str | None,
    week: int | None,
    weeks: str | None,
    subject: str | None,
    folder: Path | None,
    teacher_folder: str | None,
    limit: int,
    as_json: bool,
    reindex: bool,
) -> None:
    """Find records by their name and text: accents, case and spacing do not matter.

    QUERY: words, "a phrase", nghi* (a word beginning), -word (leave out)."""
    # The index and the readers load only now: `hoso --help` lists this command without them.
    from .service import Options, search

    # A manager may search a copy of the school share with no records folder of their own.
    config = ctx.load() if folder is None else ctx.load_or_default()
    options = Options(
        type=type_,
        week=week,
        weeks=weeks,
        subject=subject,
        folder=folder,
        teacher=teacher_folder,
        limit=limit,
        reindex=reindex,
    )
    _no_unknown_options(query)
    text = " ".join(query)
    if as_json:
        answer = search(config, text, options)
        click.echo(json.dumps(answer.to_json(), ensure_ascii=False, indent=2))
    else:
        answer = search(config, text, options, marks=TEXT_MARKS)
        print_answer(answer)
    if not answer.results:
        sys.exit(ExitCode.PARTIAL)


def _no_unknown_options(query: tuple[str, ...]) -> None:
    """A mistyped option (``--wek 12``) would else be a word to leave out and one to find."""
    for word in query:
        if word.startswith("--") and word[2:3].isalpha():
            raise UsageError(
                _(
                    "{word} is no option of hoso search (hoso search --help lists them). To "
                    "leave a word out, write it with one dash: -{bare}"
                ).format(word=printable_name(word), bare=printable_name(word.lstrip("-")))
            )


def print_answer(answer: Answer) -> None:
    if not answer.results:
        click.echo(_("Nothing found. Try fewer words, or a word beginning with * (nghi*)."))
        return
    for result in answer.results:
        facts = [
            _("week {n}").format(n=result.week) if result.week is not None else "",
            printable_name(result.subject or ""),
            result.type or "",
            result.modified[:16].replace("T", " "),
        ]
        click.echo(printable_name(result.path))
        click.echo("    " + " · ".join(f for f in facts if f))
        if result.snippet:
            click.echo("    " + result.snippet)
    shown = len(answer.results)
    if answer.total > shown:
        click.echo(
            _("{shown} of {total} results shown; --limit shows more.").format(
                shown=shown, total=answer.total
            )
        )
    else:
        click.echo(_("{total} result(s).").format(total=answer.total))
