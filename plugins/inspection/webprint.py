"""*In*, the print page of the teacher's page: choose weeks, a month or a school year and the
kinds of record, make the binder with progress (binder/service.make_binder, as `hoso print`
does), then open the PDF in the browser to print it.

`hoso print` writes into the folder it runs in; the page has no such folder, so its binders
go to ``<state dir>/print`` (private to the teacher, never the records folder or the school
folder, which sync to the share). The page says where and lists the binders made there.
"""

from __future__ import annotations

import dataclasses
import os
import stat
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from agent.api import (
    Config,
    WebFile,
    WebPage,
    WebRedirect,
    WebRequest,
    WebTask,
    WebView,
    _,
    ngettext,
    open_validator,
    printable_name,
)

from .binder.service import DEFAULT_TYPES, Binder, Request, binder_path, make_binder
from .package import human_size
from .send import Progress
from .webchoice import Choice, default_choice, read_choice, school_years, type_options

TEMPLATES = Path(__file__).resolve().parent / "templates"
FOLDER = "print"  # in the state folder
KINDS = ("weeks", "month", "year")
SHOWN = 10  # binders listed on the page, newest first


def view(request: WebRequest) -> WebView | WebRedirect | WebTask | WebFile:
    if request.subpath == "make" and request.method == "POST":
        return _make(request)
    if request.subpath == "file":
        return _file(request)
    if request.subpath:
        return WebRedirect("/print/")
    return _page(request)


def binder_folder(config: Config) -> Path:
    """Where the page's binders go: the state folder's ``print`` (0700)."""
    folder = config.state_dir / FOLDER
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def _page(request: WebRequest) -> WebView:
    config = request.config
    today = date.fromtimestamp(request.now)
    with open_validator(config) as validator:
        # From the first week to this one: a binder is mostly the year so far.
        fallback = dataclasses.replace(default_choice(validator, today, DEFAULT_TYPES), week_from=1)
        options = type_options(validator, fallback.types, request.language)
        years = school_years(validator, today)
    folder = binder_folder(config)
    binders = _binders(folder)
    made = next((b for b in binders if b["name"] == request.arg("made")), None)
    return WebView(
        "print.html",
        {
            "choice": fallback,
            "types": options,
            "years": years,
            "folder": str(folder),
            "binders": binders,
            "shown": SHOWN,
            "made": made,
        },
    )


def _pdfs(folder: Path) -> list[tuple[float, str, int]]:
    """(modified, name, size) of the binders in the page's folder, newest first."""
    found = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.lower().endswith(".pdf") and entry.is_file(follow_symlinks=False):
                info = entry.stat(follow_symlinks=False)
                found.append((info.st_mtime, entry.name, info.st_size))
    return sorted(found, reverse=True)


def _forget_old_binders(folder: Path) -> None:
    """Keep the binders the page lists: each print makes a new file (a free name), and the
    folder would otherwise grow with every print. A binder is made again from the records
    in a minute; one to keep is saved elsewhere with "Save a copy"."""
    for _mtime, name, _size in _pdfs(folder)[SHOWN:]:
        (folder / name).unlink(missing_ok=True)


def _binders(folder: Path) -> list[dict[str, Any]]:
    found = _pdfs(folder)
    return [
        {
            "name": name,
            "shown": printable_name(name),
            "made": datetime.fromtimestamp(mtime).strftime("%H:%M %d/%m/%Y"),
            "size": human_size(size),
            "link": "/print/file?" + urlencode({"name": name}),
            "download": "/print/file?" + urlencode({"name": name, "save": "1"}),
        }
        for mtime, name, size in found[:SHOWN]
    ]


def _make(request: WebRequest) -> WebTask | WebRedirect:
    config = request.config
    blank = Choice("weeks", 1, 1, "", "", ())
    choice = read_choice(request, blank, KINDS)
    if choice is None:
        return WebRedirect("/print/")
    wanted = Request(
        weeks=choice.weeks,
        month=choice.period,
        year=choice.school_year,
        types=choice.types,
        teacher_folder=None,
        out=None,
        include_failing=request.arg("include_failing") == "1",
    )
    folder = binder_folder(config)
    # Named now, so that the page can open it afterwards (a free name, as `hoso print` gives).
    out = binder_path(config, wanted, folder)
    wanted = dataclasses.replace(wanted, out=out)
    today, now = date.fromtimestamp(request.now), request.now

    def work(progress: Progress) -> str:
        progress(_("Choosing the records…"))
        binder = make_binder(config, wanted, today=today, now=now, cwd=folder, progress=progress)
        _forget_old_binders(folder)
        return _result(binder)

    return WebTask(
        kind="print",
        title=_("Making the binder"),
        run=work,
        then="/print/?" + urlencode({"made": out.name}) + "#made",
    )


def _result(binder: Binder) -> str:
    head = ngettext(
        "The binder is ready: {pages} page, {n} records, in {pdf}.",
        "The binder is ready: {pages} pages, {n} records, in {pdf}.",
        binder.pages,
    ).format(pages=binder.pages, n=len(binder.included), pdf=binder.pdf)
    if not binder.left_out:
        return head
    left = "; ".join(
        f"{printable_name(x.path)}: {printable_name(x.reason)}" for x in binder.left_out
    )
    return " ".join([head, _("Not in the binder: {list}.").format(list=left)])


def _file(request: WebRequest) -> WebFile | WebRedirect:
    """A binder of the page's folder, shown in the browser (or saved, with ``save``)."""
    folder = binder_folder(request.config)
    name = request.arg("name")
    path = folder / name
    if (
        not name
        or "/" in name
        or "\x00" in name  # no file name holds one: the system call refuses it outright
        or name.startswith(".")
        or not name.lower().endswith(".pdf")
    ):
        return WebRedirect("/print/", _("This binder is not known."), problem=True)
    try:
        info = path.lstat()
    except OSError:
        info = None
    if info is None or not stat.S_ISREG(info.st_mode):
        return WebRedirect("/print/", _("This binder is no longer there."), problem=True)
    return WebFile(path, name, "application/pdf", inline=request.arg("save") != "1")


PAGE = WebPage(
    slug="print",
    title=lambda: _("Print"),
    order=40,
    templates=TEMPLATES,
    view=view,
)
