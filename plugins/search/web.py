"""*Tìm kiếm*: the search plugin's page of the teacher's page (``hoso_web_pages``).

A view over :func:`service.search`, the one `hoso search` calls, with the same options and
the same messages for a bad query; it refreshes the index exactly as the one-shot search
does when no agent runs. On a manager's computer (``config.roles.manager()``) the records
folder is a copy of the teachers' folders: the page searches it as ``--folder`` does, and
offers the ``--teacher-folder`` filter.

Everything shown comes from the share and is hostile: names and snippets reach the template
as plain text (Jinja escapes them); the snippet's matches are marked with two control
characters that :func:`agent.api.printable_name` escapes wherever a text holds them, so only
the service's marks become ``<mark>``. "Open" acts only on a regular file inside the folder
searched, reached without a symbolic link, and opens only documents: a program or a
``.desktop`` file from the share is never started.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlencode

from agent.api import (
    OPENABLE_SUFFIXES,
    Config,
    HosoError,
    WebPage,
    WebRedirect,
    WebRequest,
    WebView,
    _,
    natural_key,
    nfc,
    ngettext,
    open_record,
    open_validator,
    printable_name,
)

from .service import DEFAULT_LIMIT, Options, Result, search

SLUG = "search"
TEMPLATES = Path(__file__).resolve().parent / "templates"
# STX/ETX: printable_name turns any in a record's text into "\x02", so these are the service's.
MARKS = ("\x02", "\x03")
MAX_SHOWN = 500  # "show more" stops here: past it, narrow the search


def page() -> WebPage:
    return WebPage(slug=SLUG, title=lambda: _("Search"), order=30, templates=TEMPLATES, view=view)


@dataclass(frozen=True)
class Form:
    """What the teacher typed, as typed (shown back in the form)."""

    text: str
    type: str
    weeks: str
    subject: str
    teacher: str
    limit: int

    def address(self, **changed: Any) -> str:
        fields = {
            "q": self.text,
            "type": self.type,
            "weeks": self.weeks,
            "subject": self.subject,
            "teacher": self.teacher,
            "limit": str(self.limit) if self.limit != DEFAULT_LIMIT else "",
        }
        fields.update({k: str(v) for k, v in changed.items()})
        return f"/{SLUG}/?" + urlencode({k: v for k, v in fields.items() if v})


@dataclass(frozen=True)
class Piece:
    text: str
    marked: bool


@dataclass(frozen=True)
class Shown:
    """One result as the page shows it: names made printable, the snippet in pieces."""

    path: str  # as in the index (sent back by "open")
    name: str
    folder: str
    type: str
    week: int | None
    subject: str
    teacher: str
    modified: str
    snippet: tuple[Piece, ...]
    openable: bool


def form_of(request: WebRequest) -> Form:
    limit = request.arg("limit").strip()
    return Form(
        text=request.arg("q"),
        type=request.arg("type").strip(),
        weeks=request.arg("weeks").strip(),
        subject=request.arg("subject").strip(),
        teacher=request.arg("teacher").strip(),
        limit=min(max(int(limit), 1), MAX_SHOWN) if _number(limit) else DEFAULT_LIMIT,
    )


def _number(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 4


def options_of(config: Config, form: Form) -> Options:
    """The options of `hoso search` the form stands for: the service checks them (and says
    what is wrong in the command's words). "12" is ``--week 12``, anything else ``--weeks``."""
    single = _number(form.weeks)
    managing = config.roles.manager() is not None
    return Options(
        type=form.type or None,
        week=int(form.weeks) if single else None,
        weeks=None if single or not form.weeks else form.weeks,
        subject=form.subject or None,
        folder=config.root if managing else None,
        teacher=(form.teacher or None) if managing else None,
        limit=form.limit,
    )


def pieces(snippet: str) -> tuple[Piece, ...]:
    """The snippet cut at the service's marks: (text, whether it matched)."""
    found: list[Piece] = []
    for index, part in enumerate(snippet.split(MARKS[0])):
        matched, _sep, rest = part.partition(MARKS[1]) if index else ("", "", part)
        if matched:
            found.append(Piece(matched, True))
        if rest:
            found.append(Piece(rest, False))
    return tuple(found)


def shown(result: Result, config: Config) -> Shown:
    folder = str(PurePosixPath(result.path).parent)
    return Shown(
        path=result.path,
        name=printable_name(result.name),
        folder="" if folder == "." else printable_name(folder),
        type=result.type or "",
        week=result.week,
        subject=printable_name(result.subject or ""),
        teacher=printable_name(config.roles.school.teacher_name(result.teacher or "")),
        modified=datetime.fromisoformat(result.modified).strftime("%d/%m/%Y %H:%M"),
        snippet=pieces(result.snippet),
        openable=PurePosixPath(result.path).suffix.lower() in OPENABLE_SUFFIXES,
    )


def teachers(config: Config) -> list[tuple[str, str]]:
    """(folder, full name) of the teacher folders of a manager's copy (its first level), for
    the filter; the name as ``[school.teachers]`` gives it, else the folder's."""
    try:
        entries = list(os.scandir(config.root))
    except OSError:
        return []
    names = {
        nfc(e.name)
        for e in entries
        if not e.name.startswith(".") and e.is_dir(follow_symlinks=False) and _utf8(e.name)
    }
    named = [(n, printable_name(config.roles.school.teacher_name(n))) for n in names]
    return sorted(named, key=lambda pair: natural_key(pair[1]))


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def record_types(config: Config, language: str) -> list[tuple[str, str]]:
    """(code, name in the page's language) of the record types, for the type filter."""
    with open_validator(config) as validator:
        return [(t.code, t.name_vi if language == "vi" else t.name_en) for t in validator.types]


def found_line(shown: int, total: int) -> str:
    if total > shown:
        return _("{shown} of {total} records found are shown.").format(shown=shown, total=total)
    return ngettext("{n} record found.", "{n} records found.", total).format(n=total)


def view(request: WebRequest) -> WebView | WebRedirect:
    if request.subpath == "open" and request.method == "POST":
        return open_view(request)
    config = request.config
    form = form_of(request)
    managing = config.roles.manager() is not None
    context: dict[str, Any] = {
        "form": form,
        "types": record_types(config, request.language),
        "teachers": teachers(config) if managing else [],
        "managing": managing,
        "back": form.address(),
    }
    if form.text.strip():
        try:
            answer = search(config, form.text, options_of(config, form), marks=MARKS)
        except HosoError as exc:
            context["problem"] = str(exc)
        else:
            context["results"] = [shown(r, config) for r in answer.results]
            context["found"] = found_line(len(answer.results), answer.total)
            if answer.total > len(answer.results) and form.limit < MAX_SHOWN:
                context["more"] = form.address(limit=min(form.limit + DEFAULT_LIMIT, MAX_SHOWN))
    return WebView("search.html", context)


def open_view(request: WebRequest) -> WebRedirect:
    """Open a result's file or its folder on this computer's desktop."""
    back = request.arg("back")
    back = back if back.startswith(f"/{SLUG}/") else f"/{SLUG}/"
    path = request.arg("path")
    try:
        message = open_record(request.config.root, nfc(path), folder=request.arg("what") == "folder")
    except HosoError as exc:
        return WebRedirect(back, str(exc), problem=True)
    return WebRedirect(back, message)
