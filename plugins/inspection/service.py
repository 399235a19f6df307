"""The inspection service: what `hoso inspect plan / build / send / history / verify`
(commands.py) calls. Plan a submission, write it as .eml files, send it, check later what an
.eml carried. Nothing here prints or knows click; bad input is raised as a HosoError with its
message. Email text is always Vietnamese (package.py: it is written for the school).
"""

from __future__ import annotations

import errno
import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from agent.api import (
    Config,
    ConfigError,
    Secret,
    UsageError,
    _,
    nfc,
    on_school_share,
    open_validator,
    open_vault,
    school_folder,
    write_atomic,
)

from .ledger import Ledger, SentMessage
from .mail import Credentials, refresh_access_token
from .model import Address, Envelope, FileTooLarge, LeftOut, PartPlan, SelectedFile, Selection
from .package import (
    attachment_names,
    build_messages,
    package_warnings,
    plan_parts,
    read_message,
    too_large_reason,
)
from .selection import Period, file_digest, known_types, select
from .send import Progress, Submission, ignore, package_base, sent_completely, submit
from .settings import InspectionSettings, SmtpSettings, inspection_settings, smtp_settings
from .tree import RecordsTree, walk

SMTP_ENTRY = "smtp"
OAUTH_CLIENT_ENTRY = "smtp-oauth-client"


@dataclass(frozen=True)
class Plan:
    selection: Selection
    parts: list[PartPlan]
    envelope: Envelope
    warnings: list[str]
    blocked: bool  # validation errors stop sending ([inspection] block_on_errors)
    max_message_bytes: int
    not_attached: tuple[SelectedFile, ...] = ()  # too large for any message: named in each

    def not_attached_reasons(self) -> list[str]:
        return [too_large_reason(f, self.max_message_bytes) for f in self.not_attached]

    def to_json(self) -> dict[str, Any]:
        selection = self.selection
        names = attachment_names(selection.files)
        name_of = dict(zip((f.path for f in selection.files), names, strict=True))
        return {
            "period": selection.label,
            "weeks": list(selection.weeks) if selection.weeks else None,
            "month": selection.period,
            "types": list(selection.types),
            "from": self.envelope.sender.email,
            "to": [r.email for r in self.envelope.recipients],
            "max_message_bytes": self.max_message_bytes,
            "files": [
                {
                    "path": f.path,
                    "name": name,
                    "size": f.size,
                    "sha256": f.sha256,
                    "record_type": f.record_type,
                    "selected_by": f.selected_by.value,
                    "findings": [x.to_json() for x in f.findings],
                }
                for f, name in zip(selection.files, names, strict=True)
            ],
            "skipped": [{"path": s.path, "reason": s.reason} for s in selection.skipped],
            "not_attached": [
                {
                    "path": f.path,
                    "name": name_of[f.path],
                    "size": f.size,
                    "sha256": f.sha256,
                    "record_type": f.record_type,
                    "reason": "too_large",
                    "message": reason,
                }
                for f, reason in zip(self.not_attached, self.not_attached_reasons(), strict=True)
            ],
            "messages": [
                {
                    "part": p.part,
                    "parts": p.parts,
                    "size": p.size,
                    "files": [f.path for f in p.files],
                }
                for p in self.parts
            ],
            "errors": len(selection.errors),
            "blocked": self.blocked,
            "warnings": self.warnings,
        }


def envelope_of(config: Config, type_names: tuple[str, ...]) -> Envelope:
    """The teacher as sender; the school mailbox and the teacher's reviewers as recipients."""
    roles = config.roles
    if not roles.teacher.email or not roles.teacher.name:
        raise ConfigError(
            _(
                "Config file {path}: set `[teacher] name` and `email` (the sender of the "
                "inspection email)."
            ).format(path=config.path)
        )
    if not roles.school.mailbox:
        raise ConfigError(
            _(
                "Config file {path}: set `[school] mailbox`, the school's official mailbox "
                "(letter 2174: it must receive every submission)."
            ).format(path=config.path)
        )
    reviewers = [r for r in roles.my_reviewers() if r.email]
    if not reviewers:
        raise ConfigError(
            _(
                "Config file {path}: no manager with an email reviews {teacher} (group {group}); "
                "add a `[[school.reviewers]]` table with `email` and `groups` or `teachers`."
            ).format(path=config.path, teacher=roles.teacher.name, group=roles.teacher.group or "-")
        )
    recipients = [Address(roles.school.name or roles.school.mailbox, roles.school.mailbox)]
    recipients += [
        Address(r.name, r.email)
        for r in reviewers
        if r.email.lower() != roles.school.mailbox.lower()
    ]
    return Envelope(
        sender=Address(roles.teacher.name, roles.teacher.email),
        recipients=tuple(recipients),
        school=roles.school.name,
        type_names=type_names,
    )


def make_plan(config: Config, period: Period, *, today: date) -> Plan:
    settings = inspection_settings(config)
    smtp = smtp_settings(config)
    with open_validator(config) as validator:
        known = known_types(validator, period)
        selection = select(
            config, validator, period, evidence_folder=settings.evidence_folder, today=today
        )
    if not selection.files:
        raise UsageError(
            _(
                "No records of {types} found for {period} in {root}. Check the week folders "
                '("Tuần 10"…) or the type. Nothing was done.'
            ).format(types=", ".join(period.types), period=selection.label, root=config.root)
        )
    present = tuple(dict.fromkeys(f.record_type for f in selection.files))
    envelope = envelope_of(config, tuple(known[code].name_vi for code in present))
    packing = plan_parts(
        selection,
        envelope,
        max_message_bytes=smtp.max_message_bytes,
        key=package_base(selection, envelope),
    )
    return Plan(
        selection=selection,
        parts=list(packing.parts),
        envelope=envelope,
        warnings=package_warnings(selection),
        blocked=settings.block_on_errors and bool(selection.errors),
        max_message_bytes=smtp.max_message_bytes,
        not_attached=packing.not_attached,
    )


def refuse_if_nothing_fits(plan: Plan) -> None:
    """No file fits in a message: there is no email to send or write."""
    if not plan.parts:
        raise FileTooLarge(
            " ".join(
                [
                    *plan.not_attached_reasons(),
                    _("No file of {period} fits in an email. Nothing was sent.").format(
                        period=plan.selection.label
                    ),
                ]
            )
        )


def refuse_if_blocked(plan: Plan) -> None:
    if plan.blocked:
        raise UsageError(
            _(
                "{n} records fail the school's checks and `[inspection] block_on_errors` is on: "
                "fix them (see `hoso inspect plan`) and send again. Nothing was sent."
            ).format(n=len({f.path for f in plan.selection.errors}))
        )


def left_out_problem(plan: Plan) -> LeftOut | None:
    """What to say when the plan leaves files of the period out, or None when it leaves
    nothing out."""
    skipped = plan.selection.skipped
    if not skipped:
        return None
    return LeftOut(
        _(
            "{n} file(s) of {period} would not be sent (listed above with the reason). Fix "
            "them and run the command again, or confirm that the submission goes without them "
            "with --allow-left-out. Nothing was sent."
        ).format(n=len(skipped), period=plan.selection.label)
    )


def build_offline(plan: Plan, out: Path, *, now: datetime) -> list[Path]:
    """Write the messages as .eml files for the teacher's own mail program."""
    names = [_eml_name(plan.selection.label, p.part, p.parts) for p in plan.parts]
    taken = [out / name for name in names if (out / name).exists()]
    if taken:
        raise UsageError(
            _(
                "{path} already exists; nothing was written. Choose another folder with --out."
            ).format(path=taken[0])
        )
    written = []
    key = package_base(plan.selection, plan.envelope)
    for built, name in zip(
        build_messages(
            plan.selection,
            plan.envelope,
            max_message_bytes=plan.max_message_bytes,
            now=now,
            key=key,
        ),
        names,
        strict=True,
    ):
        write_atomic(out / name, built.data, mode=0o644)
        written.append(out / name)
    return written


def _eml_name(label: str, part: int, parts: int) -> str:
    return f"{label} - Phần {part}-{parts}.eml"


def credentials_of(
    config: Config,
    smtp: SmtpSettings,
    *,
    prompt: Callable[[str], str] | None,
    typed: Secret | None = None,
) -> Credentials:
    """The mail login from the vault (`smtp`): an app password, or OAuth2 (XOAUTH2) with an
    access token, or a refresh token plus `refresh_url` and `client_id` fields. ``prompt``
    asks for the vault's passphrase (the command's terminal prompt, or None). ``typed`` is
    a password the teacher typed for this sending only (the teacher's page, when the vault
    holds no mail login): used when the vault has none, never stored."""
    if typed is not None and not _vault_has(config, prompt):
        return Credentials(smtp.username or config.roles.teacher.email, typed, "password")
    vault = open_vault(config, prompt=prompt)
    entry = vault.get(SMTP_ENTRY)
    if entry is None:
        raise UsageError(
            _(
                "The vault holds no mail login: run `hoso vault set smtp` and type the app "
                "password (or store an OAuth2 token with --field method=xoauth2). Nothing was "
                "sent."
            )
        )
    method = entry.fields.get("method", "password")
    if method not in ("password", "xoauth2"):
        raise UsageError(
            _(
                "The vault entry `smtp` has method={method}; use password or xoauth2. Nothing was "
                "sent."
            ).format(method=method)
        )
    username = entry.fields.get("username") or smtp.username
    secret = entry.secret
    if method == "xoauth2" and entry.fields.get("refresh_url"):
        client = vault.get(OAUTH_CLIENT_ENTRY)
        secret = refresh_access_token(
            entry.fields["refresh_url"],
            entry.fields.get("client_id", ""),
            client.secret if client else None,
            entry.secret,
            ca_file=smtp.ca_file,
            timeout=smtp.timeout,
        )
    return Credentials(username, secret, method)


def _vault_has(config: Config, prompt: Callable[[str], str] | None) -> bool:
    """Whether a vault exists and holds the mail login."""
    from agent.api import VaultMissing  # the vault's crypto loads only when mail is sent

    try:
        return open_vault(config, prompt=prompt).get(SMTP_ENTRY) is not None
    except VaultMissing:
        return False


def mail_login_need(config: Config) -> str:
    """What the teacher's page must ask before sending, where the command would prompt:
    "" (the vault holds the mail login and opens by itself), "passphrase" (the vault's key is
    protected by one) or "password" (no mail login stored: typed for this sending only)."""
    from agent.api import VaultLocked

    try:
        return "" if _vault_has(config, None) else "password"
    except VaultLocked:
        return "passphrase"


def send_plan(
    config: Config,
    plan: Plan,
    *,
    resend: bool,
    prompt: Callable[[str], str] | None,
    progress: Progress = ignore,
    typed: Secret | None = None,
) -> Submission:
    refuse_if_blocked(plan)
    refuse_if_nothing_fits(plan)
    smtp = smtp_settings(config)
    if not smtp.host:
        raise ConfigError(
            _(
                "Config file {path}: set `[smtp] host` (and port, security) to send mail; or "
                "write the messages with `hoso inspect build --out FOLDER` and send them yourself."
            ).format(path=config.path)
        )
    settings = inspection_settings(config)
    root, folder = evidence_place(config, settings)
    with Ledger.opened(config) as ledger:
        return submit(
            selection=plan.selection,
            envelope=plan.envelope,
            smtp=smtp,
            credentials=functools.cache(
                lambda: credentials_of(config, smtp, prompt=prompt, typed=typed)
            ),
            ledger=ledger,
            root=root,
            state_dir=config.state_dir,
            evidence_folder=folder,
            evidence_in_school=root != config.root,
            resend=resend,
            progress=progress,
        )


def evidence_place(config: Config, settings: InspectionSettings) -> tuple[Path, str]:
    """Where the evidence copies go: the records folder and ``evidence_folder``; with
    ``evidence_in = "school"``, the school folder and ``evidence_folder/<teacher>``, so that
    the principal sees who submitted what without opening each teacher's folder."""
    school = school_folder(config)
    if settings.evidence_in != "school" or school is None:
        return config.root, settings.evidence_folder
    return school, f"{settings.evidence_folder}/{teacher_folder(config)}"


def evidence_on_share(config: Config, message: SentMessage) -> bool | None:
    """Whether the evidence copy ``message`` wrote to the school folder is on the share with
    its bytes (the school folder's sync recorded it): False while it is on this computer
    only (not synced yet, or refused by a server that lets this teacher only read the school
    folder), None for a copy in the records folder or none yet (nothing to say here)."""
    school = school_folder(config)
    if not message.eml or school is None or not Path(message.eml).is_absolute():
        return None
    path = Path(message.eml)
    if not path.is_relative_to(school):
        return None
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return False
    return on_school_share(config, path.relative_to(school).as_posix(), digest)


_NOT_IN_NAMES = set('\\/:*?"<>|')  # what Windows refuses in a name, and the path separator


def teacher_folder(config: Config) -> str:
    """The teacher's subfolder of the school's evidence folder: their login on the share
    (what `hoso report` and ``[school.teachers]`` know them by), else their name, else this
    computer's name; made one safe folder name (no separators, control characters or
    characters Windows refuses, no leading dot or "~", at most 100 characters, at least one
    letter or digit)."""
    for candidate in (config.remote.user, config.roles.teacher.name, config.host_name):
        cleaned = "".join(
            "-" if c in _NOT_IN_NAMES or not c.isprintable() else c for c in nfc(candidate)
        )
        name = " ".join(cleaned.split()).lstrip(".~ ").rstrip(". ")[:100].rstrip(". ")
        if any(c.isalnum() for c in name):  # "-" alone (a login of "../..") names nobody
            return name
    return "giao-vien"


@dataclass(frozen=True)
class Checked:
    eml: Path
    message_id: str
    date: str
    files: list[dict[str, Any]]  # {"path", "name", "sha256", "status"}

    @property
    def same(self) -> bool:
        return all(f["status"] == "same" for f in self.files)

    def to_json(self) -> dict[str, Any]:
        return {
            "eml": str(self.eml),
            "message_id": self.message_id,
            "date": self.date,
            "same": self.same,
            "files": self.files,
        }


def _status(tree: RecordsTree, path: str, digest: str, attached: str | None) -> str:
    """What became of one file an .eml carried: same, changed, missing, unreadable, twin
    (two files hold its name in different spellings), symlink (it is, or lies below, a
    symbolic link, never followed), or attachment_altered (the .eml itself was edited)."""
    if attached != digest:
        return "attachment_altered"
    path = nfc(path)
    file = tree.files.get(path)
    if file is None:
        if any(twin.path == path for twin in tree.twins):
            return "twin"
        if tree.link_above(path) is not None:
            return "symlink"
        return "unreadable" if tree.unreadable_above(path) is not None else "missing"
    try:
        _size, now = file_digest(file)
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return "symlink" if exc.errno == errno.ELOOP else "unreadable"
    return "same" if now == digest else "changed"


def verify(root: Path, target: Path) -> list[Checked]:
    """Compare what each .eml carried (its manifest, and its attachments' bytes) with the
    records folder now."""
    emls = sorted(target.rglob("*.eml")) if target.is_dir() else [target]
    if not emls:
        raise UsageError(_("No .eml file in {path}. Nothing was checked.").format(path=target))
    tree = walk(root)  # every spelling, nothing ignored: a sent file may not hide
    checked = []
    for eml in emls:
        try:
            message = read_message(eml.read_bytes())
        except OSError as exc:
            raise UsageError(
                _("Cannot read {path}: {detail}").format(path=eml, detail=exc.strerror)
            ) from None
        if message.manifest is None:
            raise UsageError(
                _(
                    "{path} is not an inspection email sent by hoso (it has no manifest.json). "
                    "Nothing was checked."
                ).format(path=eml)
            )
        attached = {name: hashlib.sha256(data).hexdigest() for name, data in message.attachments}
        try:
            items = [
                (str(i["path"]), str(i["name"]), str(i["sha256"]))
                for i in message.manifest["files"]
            ]
        except (KeyError, TypeError):
            raise UsageError(
                _("The manifest.json of {path} is damaged. Nothing was checked.").format(path=eml)
            ) from None
        files = [
            {
                "path": path,
                "name": name,
                "sha256": digest,
                "status": _status(tree, path, digest, attached.get(name)),
            }
            for path, name, digest in items
        ]
        checked.append(Checked(eml, message.message_id, message.date, files))
    return checked


def submission_json(messages: list[SentMessage] | tuple[SentMessage, ...]) -> dict[str, Any]:
    first = messages[0]
    return {
        "package": first.package,
        "period": first.label,
        "date": first.date,
        "from": first.sender,
        "recipients": list(first.recipients),
        "parts": first.parts,
        "complete": sent_completely(messages),
        "messages": [m.to_json() for m in messages],
    }
