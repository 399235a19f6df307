"""The settings part of *Cài đặt*: the agent's settings and the school roles, read-only,
each with the file it comes from.

Only what the config and the school profile in force say, read as `hoso roles` and `hoso
school show` read them but changing nothing (no profile is taken into force from here).
Never a secret: the vault is named, never opened; the share's address cannot hold a
password (`hoso init` and the wizard refuse one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ... import profilestore
from ...config import Config
from ...display import printable
from ...hooks import load_plugins
from ...i18n import _, detect_language
from ...roles import Person
from ...vault import vault_path
from ...webpage import WebRequest


@dataclass(frozen=True)
class Row:
    """One setting: what it is, its value in words, and the file that gives it."""

    label: str
    value: str
    source: str


@dataclass(frozen=True)
class Section:
    title: str
    rows: tuple[Row, ...]
    note: str = ""

    @property
    def common_source(self) -> str:
        """The file most of the rows come from: named once, the others beside their value."""
        sources = [row.source for row in self.rows]
        return max(sources, key=sources.count) if sources else ""


def context(request: WebRequest) -> dict[str, Any]:
    config = request.config
    slugs = {page.slug for _name, page in load_plugins(config).web_pages()}
    return {
        "config_path": config.path,
        "sections": [agent_section(config), roles_section(config)],
        "handover_page": "/handover/" if "handover" in slugs else "",
    }


def agent_section(config: Config) -> Section:
    here = str(config.path)
    remote, sync, backup = config.remote, config.sync, config.backup
    share = remote.url if remote.remote_dir.strip("/") == "" else (
        remote.url.rstrip("/") + "/" + remote.remote_dir.strip("/") + "/"
    )
    rows = [
        Row(_("Records folder"), str(config.root), here),
        Row(_("School share"), share, here),
        Row(_("User on the share"), remote.user or _("(none)"), here),
        Row(
            _("Passwords"),
            _("kept encrypted in the vault, never shown here"),
            str(vault_path(config)),
        ),
        Row(_("State folder (journal, trash, logs)"), str(config.state_dir), here),
        Row(_("Language of messages"), _language_words(config.language), here),
        Row(_("This computer's name"), config.host_name, here),
        Row(
            _("Sync"),
            _(
                "looks at the share every {poll} s; stops before deleting more than "
                "{percent} percent of the files; keeps deleted files in the trash {days} days"
            ).format(
                poll=_number(sync.poll_interval),
                percent=_number(sync.max_delete_percent),
                days=_number(sync.trash_days),
            ),
            here,
        ),
        Row(
            _("Backups"),
            _("{schedule} into {folder}; a warning when the last one is {hours} hours old").format(
                schedule=_schedule_words(backup.schedule),
                folder=backup.repository_path(),
                hours=_number(backup.max_age),
            ),
            here,
        ),
        Row(
            _("This page"),
            _("on this computer only, port {port}").format(port=config.ui.port)
            if config.ui.port
            else _("on this computer only, a free port each start"),
            here,
        ),
    ]
    return Section(_("This computer's settings"), tuple(rows))


def roles_section(config: Config) -> Section:
    school, teacher = config.roles.school, config.roles.teacher
    source = _sources(config)
    unset = _("(not set)")

    def person(who: Person | None) -> str:
        if who is None:
            return unset
        return printable(", ".join(p for p in (who.name, who.position, who.email) if p))

    decision = (
        _("No. {number} of {date}").format(
            number=printable(school.decision.number),
            date=school.decision.date.strftime("%d/%m/%Y"),
        )
        if school.decision
        else unset
    )
    rows = [
        Row(_("School"), printable(school.name) or unset, source("school.name")),
        Row(_("School mailbox"), printable(school.mailbox) or unset, source("school.mailbox")),
        Row(_("Principal"), person(school.principal), source("school.principal")),
        Row(_("Assignment decision"), decision, source("school.decision")),
        Row(_("Mailbox keeper"), person(school.mailbox_keeper), source("school.mailbox_keeper")),
    ]
    for reviewer in school.reviewers:
        scope = printable(", ".join((*reviewer.groups, *reviewer.teachers)))
        rows.append(
            Row(
                _("Reviews lesson plans"),
                f"{person(reviewer)} ({scope})" if scope else person(reviewer),
                source("school.reviewers"),
            )
        )
    here = str(config.path)
    rows += [
        Row(_("Teacher"), printable(teacher.name) or unset, here),
        Row(_("Professional group"), printable(teacher.group) or unset, here),
        Row(
            _("Your lesson plans are reviewed by"),
            printable(", ".join(r.name for r in config.roles.my_reviewers())) or unset,
            source("school.reviewers"),
        ),
    ]
    return Section(_("School roles"), tuple(rows), _profile_note(config))


def _sources(config: Config) -> Any:
    """``source(key)``: the file a school value comes from: the school profile in force
    when config.school_sources says so, else this computer's config."""
    here = str(config.path)
    folder = config.school_folder
    profile = (
        _("school profile {path}").format(path=folder.root / profilestore.PROFILE_NAME)
        if folder is not None
        else here
    )

    def source(key: str) -> str:
        return profile if config.school_sources.get(key) == profilestore.PROFILE else here

    return source


def _profile_note(config: Config) -> str:
    if config.school_folder is None:
        return _("This computer has no school folder: the roles come from its own config.")
    info = profilestore.in_force_info(config.state_dir)
    if info is None:
        return _("No school profile is in force yet: the roles come from this computer's config.")
    return _(
        "School profile in force: serial {serial}, signed by {signer} at {time}. A value in "
        "this computer's own config wins over the profile's."
    ).format(serial=info.serial, signer=info.signer, time=info.signed_at)


def _language_words(configured: str) -> str:
    if configured == "vi":
        return _("Vietnamese (chosen)")
    if configured == "en":
        return _("English (chosen)")
    here = _("Vietnamese") if detect_language(configured) == "vi" else _("English")
    return _(
        "follows the session of whoever uses hoso, Vietnamese where it names no language "
        "(here: {language})"
    ).format(language=here)


def _schedule_words(schedule: str) -> str:
    return {
        "hourly": _("every hour"),
        "daily": _("every day"),
        "weekly": _("every week"),
        "off": _("no scheduled backups"),
    }.get(schedule, schedule)


def _number(value: float) -> str:
    return f"{value:g}"
