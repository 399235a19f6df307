"""The teacher's page as a Flask application: access checks, language, layout, dispatch.

Every page is a :class:`agent.webpage.WebPage`, the core's own (agent/web/pages) and the
plugins' (``hoso_web_pages``) alike; this module turns requests into
:class:`~agent.webpage.WebRequest` and a view's answer into a response. It holds no logic
of its own about records: views call the services the commands call.

Each request is checked in this order: the Host header (DNS rebinding), the user whose
socket asks (only the teacher's own processes), then, except for
the login and the static files, a session this process opened from a ticket (so a restart
asks for `hoso ui` again), then for a POST the origin and the CSRF token. Answers are never
cached, never framed, and allow scripts from this page only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import flask
from jinja2 import ChoiceLoader, FileSystemLoader
from markupsafe import Markup, escape
from werkzeug.exceptions import HTTPException, InternalServerError

from ..config import Config
from ..display import printable
from ..errors import ConfigError, HosoError
from ..i18n import _, current_language, language, ngettext
from ..log import get_logger
from ..webpage import WebAnswer, WebFile, WebPage, WebRedirect, WebRequest, WebTask, WebView
from . import access
from .site import Site

log = get_logger(__name__)

HERE = Path(__file__).parent
# What a WebFile may be shown as in the browser; anything else is saved (see _answer).
SAFE_INLINE = {
    "application/pdf", "text/plain", "image/png", "image/jpeg", "image/gif", "image/webp"
}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def page_language(config: Config | None, chosen: object) -> str:
    """The page's language: the teacher's switch, else the config's explicit choice, else
    Vietnamese (the page is for teachers, whatever the admin's shell said)."""
    if chosen in ("vi", "en"):
        return str(chosen)
    if config is not None and config.language in ("vi", "en"):
        return config.language
    return "vi"


def create_app(site: Site) -> flask.Flask:
    secret = access.install_secret(site.state_dir)
    tickets = access.Tickets(secret)
    app = flask.Flask(
        "hoso.web",
        static_folder=str(HERE / "static"),
        template_folder=str(HERE / "templates"),
    )
    app.config.update(
        # Never debug, whatever FLASK_DEBUG a developer's shell holds: a fault would reach
        # the server raw instead of the plain page, and templates would be reloaded.
        DEBUG=False,
        PROPAGATE_EXCEPTIONS=False,
        SECRET_KEY=access.session_key(secret),
        SESSION_COOKIE_NAME=f"hoso_{site.port}",  # cookies are per host, not per port
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        MAX_CONTENT_LENGTH=2 * 2**20,  # forms only: no upload goes through the page
        MAX_FORM_PARTS=200,
        TEMPLATES_AUTO_RELOAD=False,
    )
    app.jinja_env.add_extension("jinja2.ext.i18n")
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        lambda message: _(message),
        lambda singular, plural, n: ngettext(singular, plural, n),
        newstyle=True,
    )
    # Every template makes HTML, whatever its name ends in (a plugin's "plan.jinja" too),
    # and every value shown has its control and bidi characters made visible.
    app.jinja_env.autoescape = True
    app.jinja_env.finalize = _shown
    app.jinja_env.filters["verbatim"] = _verbatim
    loader_for = _Folders(HERE / "templates")
    app.jinja_env.loader = loader_for.loader

    def plain_language() -> str:
        try:
            config = site.config()
        except ConfigError:
            config = None
        return page_language(config, flask.session.get("lang"))

    @app.before_request
    def check_access() -> Any:
        if not access.host_allowed(flask.request.host, site.port):
            return _plain(lambda: _("This address is not the teacher's page."), 400, "vi")
        if not access.peer_allowed(flask.request.environ.get("REMOTE_PORT"), site.port):
            return _plain(
                lambda: _("This page belongs to another user of this computer."), 403, "vi"
            )
        endpoint = flask.request.endpoint or ""
        if endpoint in ("static", "login", "health"):
            return None
        if not site.session_valid(flask.session.get("sid")):
            return _plain(
                lambda: _(
                    "Open this page from the “Hồ sơ điện tử” icon or with the command "
                    "`hoso ui` on this computer."
                ),
                401,
                plain_language(),
            )
        if flask.request.method == "POST":
            form_token = flask.request.form.get("csrf") or flask.request.headers.get(
                "X-CSRF-Token"
            )
            if not access.origin_allowed(
                flask.request.headers.get("Origin"), site.port
            ) or not access.same_token(form_token, flask.session.get("csrf")):
                return _plain(
                    lambda: _("This change did not come from the teacher's page."),
                    403,
                    plain_language(),
                )
        return None

    @app.after_request
    def harden(response: flask.Response) -> flask.Response:
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        # Not "no-referrer": Chromium then sends "Origin: null" with the page's own forms.
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/health")
    def health() -> Any:
        # Only that this install's page answers here (for `hoso ui` to find it): the proof
        # needs the secret, so a foreign server on the port cannot pass for it.
        challenge = flask.request.args.get("challenge", "")[:200]
        return flask.jsonify(
            {"hoso": True, "proof": access.health_proof(secret, site.port, challenge)}
        )

    @app.get("/login")
    def login() -> Any:
        ticket = flask.request.args.get("ticket", "")
        if not tickets.take(ticket, site.now()):
            taken_by = tickets.replayed(ticket, site.now())
            if taken_by is not None:  # someone came first with the teacher's ticket
                site.close_session(taken_by)
                log.warning("a ticket was used twice: the session it opened is closed")
            return _plain(
                lambda: _(
                    "This link has expired or was already used. Open the page again from "
                    "the “Hồ sơ điện tử” icon or with `hoso ui`."
                ),
                401,
                plain_language(),
            )
        # A new session, nothing of the old one but the language the teacher chose.
        chosen = flask.session.get("lang")
        flask.session.clear()
        if chosen in ("vi", "en"):
            flask.session["lang"] = chosen
        flask.session["sid"] = site.open_session()
        tickets.opened(ticket, flask.session["sid"])
        flask.session["csrf"] = access.new_csrf_token()
        return flask.redirect(_local_target(flask.request.args.get("next", "/")), 303)

    @app.post("/logout")
    def logout() -> Any:
        site.close_session(flask.session.get("sid"))
        flask.session.clear()
        return _plain(lambda: _("You have left the teacher's page."), 200, plain_language())

    @app.post("/lang")
    def switch_language() -> Any:
        chosen = flask.request.form.get("lang", "")
        if chosen in ("vi", "en"):
            flask.session["lang"] = chosen
        return flask.redirect(_local_target(flask.request.form.get("back", "/")), 303)

    @app.get("/tasks/<task_id>")
    def task_page(task_id: str) -> Any:
        config = site.config()
        with language(page_language(config, flask.session.get("lang"))):
            task = site.tasks.get(task_id)
            if task is None:
                return _render(site, config, loader_for, "task_gone.html", {}, 404)
            if flask.request.args.get("part"):
                return flask.jsonify(task.to_json())
            return _render(site, config, loader_for, "task.html", {"task": task}, 200)

    def dispatch(slug: str, subpath: str) -> Any:
        config = site.config()
        lang = page_language(config, flask.session.get("lang"))
        with language(lang):
            pages = site.pages(config)
            page = next((p for p in pages if p.slug == slug), None)
            if page is None or (config is not None and not page.shown(config)):
                return _render(site, config, loader_for, "not_found.html", {}, 404)
            if config is None and slug != "setup":
                return flask.redirect("/setup/", 303)
            request = WebRequest(
                config=config if config is not None else _no_config(site),
                method=flask.request.method,
                subpath=subpath,
                query={k: flask.request.args.getlist(k) for k in flask.request.args},
                form={
                    k: flask.request.form.getlist(k) for k in flask.request.form if k != "csrf"
                },
                now=site.now(),
                language=lang,
                pages=tuple(pages),
            )
            try:
                answer = page.view(request)
            except HosoError as exc:
                return _render(
                    site, config, loader_for, "problem.html", {"message": str(exc), "page": page}, 200
                )
            return _answer(site, config, loader_for, page, answer, lang)

    @app.route("/", methods=["GET", "POST"])
    def home() -> Any:
        return dispatch("home", "")

    @app.route("/<slug>/", methods=["GET", "POST"])
    @app.route("/<slug>/<path:subpath>", methods=["GET", "POST"])
    def page(slug: str, subpath: str = "") -> Any:
        return dispatch(slug, subpath)

    @app.errorhandler(ConfigError)
    def config_broken(exc: ConfigError) -> Any:
        return _plain(lambda: str(exc), 200, plain_language())

    @app.errorhandler(413)
    def too_large(exc: Exception) -> Any:
        return _plain(lambda: _("What was sent is too large for this page."), 413, plain_language())

    @app.errorhandler(HTTPException)
    def refused(exc: HTTPException) -> Any:
        # Plain words instead of the framework's English "405 Method Not Allowed".
        code = exc.code or 400
        if code == 404:
            return _plain(lambda: _("This page does not exist"), 404, plain_language())
        return _plain(lambda: _("The page cannot answer this request."), code, plain_language())

    @app.errorhandler(InternalServerError)
    def fault(exc: InternalServerError) -> Any:
        # A bug in a page: its trace goes to the log (Flask logs it), the teacher reads a
        # sentence, never the trace; the rest of the page goes on working.
        try:
            lang = plain_language()
        except Exception:  # the fault may be in reading the config itself
            lang = "vi"
        return _plain(lambda: _("This stopped because of a fault in hoso; see its log."), 500, lang)

    return app


class _Folders:
    """The template folders: the core's, then each page's from its first request on. One
    loader for the application's life (Jinja's cache is keyed by it) that only grows, under
    a lock: a loader swapped per request could be put back, by a request that built it
    before a plugin's folder came, over the one that has it, losing those templates."""

    def __init__(self, core: Path) -> None:
        self.loader = ChoiceLoader([FileSystemLoader(str(core))])
        self._seen = {core}
        self._lock = threading.Lock()

    def add(self, pages: list[WebPage]) -> None:
        if all(page.templates in self._seen for page in pages):
            return
        with self._lock:
            for folder in dict.fromkeys(page.templates for page in pages):
                if folder not in self._seen:
                    self._seen.add(folder)
                    self.loader.loaders = [*self.loader.loaders, FileSystemLoader(str(folder))]


class _Verbatim(Markup):
    """A value a form sends back as it is (``|verbatim``), e.g. a file's name in a hidden
    field: never shown, so `_shown` leaves its characters alone."""


def _verbatim(value: object) -> _Verbatim:
    return _Verbatim(escape(value))


def _shown(value: object) -> object:
    """A value as a template shows it: a name from the share may hold bidi controls that
    reorder what the teacher reads ("Bài 1\u202excod.docx" shows as "Bài 1exe.docx") or
    control characters; they are shown escaped, as on the terminal (agent/display.py)."""
    if isinstance(value, _Verbatim):
        return value
    if isinstance(value, Markup):
        return Markup(printable(str(value)))
    if isinstance(value, str):
        return printable(value)
    return value


def _no_config(site: Site) -> Config:
    """The defaults, for the setup page before there is a config file."""
    return Config(path=site.config_path, root=Path.home(), state_dir=site.state_dir)


def _local_target(target: str) -> str:
    """``target`` when it is an address on this page, else the home page (no open redirect)."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    if "\\" in target:
        return "/"
    return target


def _plain(message: Callable[[], str], status: int, lang: str) -> flask.Response:
    """A page with one sentence: what the checks answer, holding nothing of the teacher's."""
    with language(lang):
        body = flask.render_template("plain.html", message=message(), lang=lang)
    return flask.Response(body, status=status, mimetype="text/html")


def _render(
    site: Site,
    config: Config | None,
    loader_for: _Folders,
    template: str,
    context: dict[str, Any],
    status: int,
) -> flask.Response:
    pages = site.pages(config)
    loader_for.add(pages)
    current = flask.request.path.strip("/").split("/")[0] or "home"
    nav = [
        {"slug": p.slug, "title": p.title(), "href": "/" if p.slug == "home" else f"/{p.slug}/",
         "active": p.slug == current}
        for p in pages
        if config is None and p.slug == "setup" or config is not None and p.shown(config)
    ]
    body = flask.render_template(
        template,
        nav=nav,
        lang=current_language(),
        csrf=flask.session.get("csrf", ""),
        # A part refreshed by hoso.js (another tab's overview) leaves the messages to the
        # page they were left for.
        messages=(
            [] if flask.request.headers.get("X-Hoso-Part")
            else flask.get_flashed_messages(with_categories=True)
        ),
        path=flask.request.full_path.rstrip("?"),
        **context,
    )
    return flask.Response(body, status=status, mimetype="text/html")


def _answer(
    site: Site,
    config: Config | None,
    loader_for: _Folders,
    page: WebPage,
    answer: WebAnswer,
    lang: str,
) -> flask.Response:
    if isinstance(answer, WebView):
        context = dict(answer.context)
        context.setdefault("page", page)
        return _render(site, config, loader_for, answer.template, context, answer.status)
    if isinstance(answer, WebRedirect):
        if answer.message:
            flask.flash(answer.message, "problem" if answer.problem else "done")
        return flask.redirect(_local_target(answer.to), 303)
    if isinstance(answer, WebTask):
        if flask.request.method != "POST":
            # SameSite cookies ignore ports: another local user's page on 127.0.0.1 can send
            # the teacher's browser, session and all, to a GET address. Work needs a form.
            raise TypeError(f"page {page.slug!r} started a task from a GET; only a POST may")
        try:
            # Where the task's page offers to go: on this page only, as for a redirect.
            task = site.tasks.start(replace(answer, then=_local_target(answer.then)), lang)
        except HosoError as exc:
            flask.flash(str(exc), "problem")
            return flask.redirect(_local_target(flask.request.path), 303)
        return flask.redirect(f"/tasks/{task.id}", 303)
    if isinstance(answer, WebFile):
        # Shown in the browser only when it cannot hold a script: a record from the share
        # (an .html, an .svg) shown inline would run as the page itself.
        kind = answer.media_type.split(";")[0].strip().lower()
        return flask.send_file(
            answer.path,
            mimetype=answer.media_type,
            as_attachment=not (answer.inline and kind in SAFE_INLINE),
            download_name=answer.name,
            max_age=0,
        )
    raise TypeError(f"page {page.slug!r} answered {type(answer).__name__}")
