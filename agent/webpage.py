"""What a plugin hands the teacher's page (agent/web): pages, and the answers of their views.

Plain data, no web framework: a plugin never imports Flask (the web layer owns it), it
describes a page (:class:`WebPage`, returned by the ``hoso_web_pages`` hook) whose view takes
a :class:`WebRequest` and answers with one of :class:`WebView` (render a template),
:class:`WebRedirect` (go elsewhere, with a message), :class:`WebTask` (long work with
progress lines, run on a thread of the web layer) or :class:`WebFile` (send a file the
plugin made, such as a printed binder). The web layer does the rest: the session, the Host
and CSRF checks, the language, the menu and the layout every template extends.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from .config import Config

Progress = Callable[[str], None]  # one line of progress, in the teacher's language


@dataclass(frozen=True)
class WebRequest:
    """One request to a plugin page. ``subpath`` is what follows ``/<slug>/`` in the
    address ("" for the page itself); ``query`` and ``form`` hold the address's parameters
    and a posted form's fields (each name's values in order; the CSRF token already checked
    and removed). ``now`` is the request's time (time.time()): pass it on, never read the
    clock in a view."""

    config: Config
    method: str  # "GET" or "POST"
    subpath: str
    query: Mapping[str, Sequence[str]]
    form: Mapping[str, Sequence[str]]
    now: float
    language: str  # "vi" or "en": what the page is shown in (``_`` already follows it)
    # Every page of the site on this computer, in menu order (the overview gathers their cards).
    pages: tuple[WebPage, ...] = ()

    def arg(self, name: str, default: str = "") -> str:
        """The first value of ``name`` in the form (a POST) or else the address."""
        for source in (self.form, self.query):
            values = source.get(name)
            if values:
                return values[0]
        return default


@dataclass(frozen=True)
class WebView:
    """Render ``template`` (a file of the page's ``templates`` folder, which extends
    ``"base.html"``) with ``context``; ``status`` for a page that reports a problem."""

    template: str
    context: Mapping[str, Any] = field(default_factory=dict)
    status: int = 200


@dataclass(frozen=True)
class WebRedirect:
    """Go to ``to`` (an address on this page: "/<slug>/…" or "/") and show ``message``
    there once; ``problem`` marks the message as one."""

    to: str
    message: str = ""
    problem: bool = False


@dataclass(frozen=True)
class WebTask:
    """Long work (sending an inspection email, printing a binder): the web layer runs
    ``run(progress)`` on a thread of its own and shows a page with the progress lines as they
    come, then the returned line (or the error's message). ``then`` is where the page offers
    to go afterwards. One task of the same ``kind`` at a time: a second is refused. Only the
    answer to a POST (a form with the CSRF token) may start a task: a GET address can be
    opened in the teacher's browser, session and all, by another local user's page on
    127.0.0.1 (cookies ignore ports)."""

    kind: str
    title: str
    run: Callable[[Progress], str]
    then: str = "/"


@dataclass(frozen=True)
class WebFile:
    """Send the file at ``path`` (made by the plugin, outside the records folder or a copy
    of a record) as ``name``; ``inline`` lets the browser show it (a PDF) rather than save it,
    for kinds that cannot hold a script (PDF, plain text, PNG/JPEG/GIF/WebP images); any other
    kind (HTML, SVG…) is always saved, so a record from the share never runs as the page."""

    path: Path
    name: str
    media_type: str = "application/octet-stream"
    inline: bool = True


WebAnswer = Union[WebView, WebRedirect, WebTask, WebFile]


@dataclass(frozen=True)
class WebCard:
    """A page's box on the overview (home): a title, a few plain sentences, how things
    stand (``"ok"``, ``"warn"`` or ``"bad"``) and the address that shows more. The overview
    refreshes itself, so a card is made again every few seconds: quick, no network."""

    title: str
    lines: Sequence[str]
    state: str = "ok"
    link: str = ""
    link_text: str = ""


@dataclass(frozen=True)
class WebPage:
    """A page of the teacher's page, at ``/<slug>/``. ``title`` gives the menu's label in
    the current language (call ``_`` inside it). ``order`` places it in the menu (home 0,
    problems 10, conflicts 20, search 30, print 40, restore 50, inspection 60, managers 70,
    setup 90). ``templates`` is the folder of the page's Jinja templates; their names must
    not clash with another page's (prefix them with the slug). ``shown`` decides, per
    config, whether the page is in the menu at all (a managers' page on a teacher's PC is
    not). ``card``, when given, makes the page's box on the overview."""

    slug: str
    title: Callable[[], str]
    order: int
    templates: Path
    view: Callable[[WebRequest], WebAnswer]
    shown: Callable[[Config], bool] = lambda config: True
    card: Callable[[WebRequest], WebCard | None] | None = None

