"""*Cài đặt* (setup): the first-run wizard while there is no config, then the settings.

Before `hoso init` every page sends the teacher here (agent/web/app.py), with a request
whose config holds only the path to write. The wizard asks what `hoso init` asks (the
share's address, the user, the password, the records folder, and a language only if the
teacher picks one) and calls the very same :func:`agent.onboarding.initialise`: the login is
checked on the share before anything is written, and a refusal writes nothing. The password
goes from the form into a :class:`~agent.config.Secret` at once; it is never put back into
the page, a log line or a message.

Once a config exists the page shows the settings read-only (agent/web/pages/setup_settings.py)
and, right after the wizard, what happens next: the agent's service, or a first sync from
here when no agent runs (agent.control, as `hoso sync` does). The one thing typed there is
the share's new password after it changed on the share, checked there before it is stored
(:func:`agent.onboarding.change_password`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ... import control
from ...config import Secret, default_state_dir
from ...display import printable_name
from ...errors import HosoError
from ...i18n import _, ngettext
from ...lock import held_elsewhere
from ...log import register_secret
from ...onboarding import (
    EXAMPLE_URL,
    Typed,
    change_password,
    holds_credentials,
    initialise,
)
from ...webpage import (
    Progress,
    WebAnswer,
    WebPage,
    WebRedirect,
    WebRequest,
    WebTask,
    WebView,
)
from . import setup_settings

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
DEFAULT_FOLDER = "HoSo"  # the records folder the README's `hoso init --root ~/HoSo` makes


def view(request: WebRequest) -> WebAnswer:
    if not request.config.path.exists():
        return wizard(request)
    if request.subpath == "sync" and request.method == "POST":
        return first_sync(request)
    if request.subpath == "password" and request.method == "POST":
        return new_password(request)
    if request.subpath == "next":
        return WebView("setup_next.html", next_steps(request))
    return WebView("setup_settings.html", setup_settings.context(request))


# --- the first-run wizard ------------------------------------------------------------------------


def wizard(request: WebRequest) -> WebAnswer:
    given = {
        "url": request.arg("url").strip(),
        "user": request.arg("user").strip(),
        "root": request.arg("root").strip() or str(Path.home() / DEFAULT_FOLDER),
        "language": request.arg("language", "auto"),
    }
    if request.method != "POST":
        return _form(given)
    if not given["url"]:
        return _form(given, _("Type the share's address: it begins with https://."))
    language = given["language"] if given["language"] in ("vi", "en") else ""
    password = Secret(request.arg("password"))  # from here on only as a Secret
    register_secret(password.reveal())  # masked in any log line, even a wrong one
    config = request.config
    try:
        result = initialise(
            config.path,
            root=_folder(given["root"]),
            url=given["url"],
            remote_dir="/",
            user=given["user"],
            password=password,
            force=False,
            check=True,
            # The page serves a state folder of its own (a test's, an admin's --config):
            # the agent must use that one too, as `hoso init --state-dir` would write it.
            state_dir="" if config.state_dir == default_state_dir() else str(config.state_dir),
            typed=Typed.PAGE,
            language=language,
        )
    except HosoError as exc:
        if holds_credentials(given["url"]):
            given["url"] = ""  # a password typed into the address is never sent back
        return _form(given, str(exc))
    return WebRedirect(
        "/setup/next",
        _("hoso is set up: the records folder is {root}.").format(root=result.config.root),
    )


def _folder(typed: str) -> Path:
    """The records folder as typed: ``~`` is the home folder, and so is a relative path's
    start (the page's own working folder means nothing to the teacher)."""
    folder = Path(typed).expanduser()
    return folder if folder.is_absolute() else Path.home() / folder


def _form(given: dict[str, str], problem: str = "") -> WebView:
    # The password is never sent back: the teacher types it again after a refusal.
    context: dict[str, Any] = {
        "given": given,
        "problem": problem,
        "example": EXAMPLE_URL,
        "languages": [
            ("auto", _("As this computer's session (Vietnamese unless it says otherwise)")),
            ("vi", "Tiếng Việt"),
            ("en", "English"),
        ],
    }
    return WebView("setup_wizard.html", context, status=400 if problem else 200)


def new_password(request: WebRequest) -> WebAnswer:
    """The share's password changed: the new one, checked on the share, into the vault
    (what `hoso vault set webdav` stores, but never unchecked)."""
    password = Secret(request.arg("password"))
    register_secret(password.reveal())
    if not password:
        problem = _("Type the new password of the share.")
    else:
        try:
            change_password(request.config, password)
        except HosoError as exc:
            problem = str(exc)
        else:
            return WebRedirect(
                "/setup/",
                _(
                    "The share accepted the new password; it is stored encrypted on this "
                    "computer and hoso uses it from its next sync."
                ),
            )
    context = setup_settings.context(request)
    return WebView("setup_settings.html", {**context, "password_problem": problem}, status=400)


# --- right after the wizard ----------------------------------------------------------------------


def next_steps(request: WebRequest) -> dict[str, Any]:
    config = request.config
    return {
        "config_path": config.path,
        "root": config.root,
        "agent_running": held_elsewhere(config.state_dir),
        "service_command": "systemctl --user enable --now hoso-agent.service",
    }


def first_sync(request: WebRequest) -> WebAnswer:
    """One full pass now, as `hoso sync` (the running agent's, if one started meanwhile)."""
    config = request.config

    def run(progress: Progress) -> str:
        progress(_("Syncing the records folder with the school share…"))

        def emit(event: dict[str, Any]) -> None:
            if event.get("event") == "progress":
                path = printable_name(str(event.get("path", "")))  # a name from the share
                progress(f"{event.get('done')}/{event.get('total')} {path}")

        result = control.carry_out(config, "sync", {"progress": True}, emit=emit)
        report = control.report_of(result)
        if report.failed:
            return ngettext(
                "Synced, but {n} file could not be: the overview names it.",
                "Synced, but {n} files could not be: the overview names them.",
                len(report.failed),
            ).format(n=len(report.failed))
        return _(
            "Done: {sent} sent to the share, {brought} brought to this computer."
        ).format(sent=len(report.uploaded), brought=len(report.downloaded))

    return WebTask(kind="sync", title=_("First sync"), run=run, then="/")


PAGE = WebPage(
    slug="setup",
    title=lambda: _("Setup"),
    order=90,
    templates=TEMPLATES,
    view=view,
)
