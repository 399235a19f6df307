"""Sending a submission: every message to every recipient once, resumable, on the ledger.

Invariants:
- Each message is built once: its exact bytes go to the outbox (state folder, 0600) and its
  row to the ledger (the plugin's own storage) before the first try, so every later try, in
  this run or a later one, sends the same Message-ID, Date and bytes.
- A recipient the server accepted a message for is never given that message again: tries go
  only to the recipients still missing it. (If a connection drops after the end of DATA but
  before the server's answer, the server may have taken a message hoso cannot know about;
  the same Message-ID lets mail programs show the two copies as one.)
- The evidence copy (.eml) is written into the records folder (or, with ``[inspection]
  evidence_in = "school"``, the teacher's subfolder of the school folder's evidence folder),
  so that it syncs, once the ledger holds the acceptance; a copy that cannot be written (full
  disk, a school folder not synced to this computer yet, which is never created here) is
  written on a later run, without sending anything again.
- A package sent completely is not sent again unless asked (``resend``): then it goes out as
  a new package, with new Message-IDs, and the ledger keeps both.
- The person waiting is told what happens (``progress``): connecting, each part as it goes,
  each pause before a new try. A server that stops answering ends the run at once
  (MailTimedOut is not retried), saying that the same command resumes.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from agent.api import (
    _,
    write_atomic,
)

from .ledger import Ledger, SentMessage
from .mail import Credentials, SmtpSession, append_to_sent
from .model import (
    BuiltMessage,
    Envelope,
    MailLoginRefused,
    MailRejected,
    MailTemporary,
    MailTimedOut,
    MailUnreachable,
    Selection,
)
from .package import attachment_names, build_messages, human_size
from .settings import SmtpSettings

OUTBOX = "inspection-outbox"
BACKOFF = (5.0, 30.0, 120.0)  # seconds before the 1st, 2nd, 3rd… further try

Progress = Callable[[str], None]  # told each step of the sending, in the user's language


def ignore(text: str) -> None:
    """Progress nobody watches."""


@dataclass(frozen=True)
class Submission:
    package: str
    messages: tuple[SentMessage, ...]
    already_sent: bool = False
    problems: tuple[str, ...] = ()  # what failed, in the user's language
    copy_problems: tuple[str, ...] = ()  # Sent-folder copies that failed (the mail went out)

    @property
    def complete(self) -> bool:
        return sent_completely(self.messages)

    @property
    def nothing_accepted(self) -> bool:
        return not any(m.accepted for m in self.messages)


def sent_completely(messages: Sequence[SentMessage]) -> bool:
    """Every part of a package accepted for every recipient."""
    return (
        bool(messages) and len(messages) == messages[0].parts and all(m.complete for m in messages)
    )


def package_base(selection: Selection, envelope: Envelope) -> str:
    """The same records of the same period from the same teacher to the same people give
    the same digest: how a second run knows the package was sent."""
    content = {
        "sender": envelope.sender.email.lower(),
        "recipients": sorted(r.email.lower() for r in envelope.recipients),
        "period": selection.label,
        "types": sorted(selection.types),
        "files": sorted((f.path, f.sha256) for f in selection.files),
    }
    return hashlib.sha256(json.dumps(content, ensure_ascii=False).encode()).hexdigest()


def generation_key(base: str, n: int) -> str:
    """The key of the n-th sending (n ≥ 2) of a package: as long as ``base``, so that a plan's
    sizes hold for every sending."""
    return f"{base[:60]}#{n:03d}"


def generations(ledger: Ledger, base: str) -> dict[str, list[SentMessage]]:
    """The packages sent (or begun) for ``base``: ``base`` itself, then its resendings."""
    found: dict[str, list[SentMessage]] = {}
    for message in ledger.sent_messages():
        if message.package == base or message.package.startswith(base[:60] + "#"):
            found.setdefault(message.package, []).append(message)
    return found


def submit(
    *,
    selection: Selection,
    envelope: Envelope,
    smtp: SmtpSettings,
    credentials: Callable[[], Credentials],
    ledger: Ledger,
    root: Path,
    state_dir: Path,
    evidence_folder: str,
    evidence_in_school: bool = False,
    resend: bool = False,
    now: datetime | None = None,
    backoff: Sequence[float] = BACKOFF,
    progress: Progress = ignore,
) -> Submission:
    """Send the selection's package (or the rest of it), with the evidence copies in
    ``evidence_folder`` under ``root`` (the records folder; the school folder when
    ``evidence_in_school``). Raises MailLoginRefused, and MailUnreachable when nothing could
    be sent in this run."""
    evidence = _Evidence(root, evidence_folder, evidence_in_school)
    base = package_base(selection, envelope)
    earlier = generations(ledger, base)
    unfinished = [name for name, rows in earlier.items() if not sent_completely(rows)]
    if unfinished:
        package = unfinished[-1]
    elif earlier and not resend:
        name = list(earlier)[-1]
        late, copies = _catch_up(ledger, name, evidence, smtp, credentials)
        return Submission(
            name,
            tuple(ledger.sent_messages(name)),
            already_sent=True,
            problems=tuple(late),
            copy_problems=tuple(copies),
        )
    else:
        package = base if not earlier else generation_key(base, len(earlier) + 1)
    credentials()  # a missing or locked login stops here, before anything is written
    if package not in earlier:
        _build(
            selection,
            envelope,
            smtp,
            ledger,
            state_dir,
            package,
            now or datetime.now().astimezone(),
        )
    pace = _Pace(backoff, progress)
    return _deliver(package, envelope, smtp, credentials, ledger, evidence, pace)


def _build(
    selection: Selection,
    envelope: Envelope,
    smtp: SmtpSettings,
    ledger: Ledger,
    state_dir: Path,
    package: str,
    now: datetime,
) -> None:
    """Every part's bytes into the outbox, then all their rows into the ledger at once: a
    crash in between leaves no half-built package (only outbox files the next build
    overwrites)."""
    folder = state_dir / OUTBOX / package.replace("#", "-")
    names = dict(
        zip((f.path for f in selection.files), attachment_names(selection.files), strict=True)
    )
    rows = []
    for built in build_messages(
        selection, envelope, max_message_bytes=smtp.max_message_bytes, now=now, key=package
    ):
        outbox = folder / f"part-{built.part}.eml"
        write_atomic(outbox, built.data)
        rows.append(_row(built, selection, envelope, package, outbox, names))
    ledger.put_sent_messages(rows)


def _row(
    built: BuiltMessage,
    selection: Selection,
    envelope: Envelope,
    package: str,
    outbox: Path,
    names: dict[str, str],
) -> SentMessage:
    return SentMessage(
        message_id=built.message_id,
        package=package,
        part=built.part,
        parts=built.parts,
        label=selection.label,
        date=built.date,
        subject=built.subject,
        sender=envelope.sender.email,
        recipients=tuple(r.email for r in envelope.recipients),
        accepted={},
        refused={},
        reply="",
        files=tuple(
            {"name": names[f.path], "path": f.path, "size": f.size, "sha256": f.sha256}
            for f in built.files
        ),
        eml="",
        outbox=str(outbox),
        sent_copy=False,
        created=time.time(),
    )


@dataclass(frozen=True)
class _Pace:
    """The pauses before each further try, and who is told."""

    backoff: Sequence[float]
    progress: Progress

    def pause(self, tries: int, retries: int, problem: str) -> None:
        seconds = self.backoff[min(tries, len(self.backoff) - 1)] if self.backoff else 0.0
        self.progress(
            _("{problem} Trying again in {seconds:g} seconds (try {n} of {total})…").format(
                problem=problem, seconds=seconds, n=tries + 2, total=retries + 1
            )
        )
        time.sleep(seconds)


def _resume_advice(exc: MailTimedOut, smtp: SmtpSettings) -> str:
    return " ".join(
        [
            str(exc),
            _(
                "Nothing more is sent in this run. Run the same command again to go on: what "
                "the server already accepted is not sent again. If it happens again, check the "
                "network connection; on a slow connection raise `[smtp] timeout` (now "
                "{seconds:g} seconds)."
            ).format(seconds=smtp.timeout),
        ]
    )


def _deliver(
    package: str,
    envelope: Envelope,
    smtp: SmtpSettings,
    credentials: Callable[[], Credentials],
    ledger: Ledger,
    evidence: _Evidence,
    pace: _Pace,
) -> Submission:
    problems: list[str] = []
    run = _Run()
    tries = 0
    login: Credentials | None = None
    while True:
        pending = [m for m in ledger.sent_messages(package) if run.wanted(m)]
        if not pending:
            break
        login = login or credentials()
        pace.progress(
            _("Connecting to the mail server {host} (port {port})…").format(
                host=smtp.host, port=smtp.port
            )
        )
        try:
            with SmtpSession(smtp, login) as session:
                for message in pending:
                    try:
                        _send_one(session, message, envelope, ledger, run, pace.progress)
                    except MailRejected as exc:
                        run.given_up.add(message.message_id)
                        problems.append(_part(message, str(exc)))
        except MailTimedOut as exc:
            stop = _resume_advice(exc, smtp)
            if not run.accepted:
                raise MailUnreachable(stop) from None
            problems.append(stop)
            break
        except (MailTemporary, MailUnreachable) as exc:
            if tries >= smtp.retries:
                if not run.accepted:  # nothing went out in this run: the server is unreachable
                    raise MailUnreachable(str(exc)) from None
                problems.append(str(exc))
                break
            pace.pause(tries, smtp.retries, str(exc))
            tries += 1
    late, copies = _catch_up(ledger, package, evidence, smtp, credentials)
    problems += late
    for message in ledger.sent_messages(package):
        for recipient, reply in message.refused.items():
            problems.append(
                _part(
                    message,
                    _("not accepted for {recipient}: {reply}").format(
                        recipient=recipient, reply=reply
                    ),
                )
            )
    return Submission(
        package,
        tuple(ledger.sent_messages(package)),
        problems=tuple(dict.fromkeys(problems)),
        copy_problems=tuple(copies),
    )


@dataclass
class _Run:
    """What this run learnt: refusals not to try again now, and whether anything went out."""

    given_up: set[str] = field(default_factory=set)  # Message-IDs refused whole (5xx)
    refused: set[tuple[str, str]] = field(default_factory=set)  # (Message-ID, recipient), 5xx
    accepted: bool = False

    def missing(self, message: SentMessage) -> list[str]:
        return [
            r
            for r in message.recipients
            if r not in message.accepted and (message.message_id, r) not in self.refused
        ]

    def wanted(self, message: SentMessage) -> bool:
        return message.message_id not in self.given_up and bool(self.missing(message))


def _part(message: SentMessage, detail: str) -> str:
    return _("Part {part}/{parts}: {detail}").format(
        part=message.part, parts=message.parts, detail=detail
    )


def _send_one(
    session: SmtpSession,
    message: SentMessage,
    envelope: Envelope,
    ledger: Ledger,
    run: _Run,
    progress: Progress,
) -> None:
    data = Path(message.outbox).read_bytes()
    recipients = run.missing(message)
    progress(
        _("Sending part {part}/{parts} ({size}) to {recipients}…").format(
            part=message.part,
            parts=message.parts,
            size=human_size(len(data)),
            recipients=", ".join(recipients),
        )
    )
    delivery = session.send(data, envelope.sender.email, recipients)
    when = datetime.now().astimezone().isoformat(timespec="seconds")
    accepted = {**message.accepted, **{r: when for r in delivery.accepted}}
    refused = {
        r: reply
        for r, reply in {**message.refused, **delivery.refused, **delivery.deferred}.items()
        if r not in accepted
    }
    updated = replace(
        message, accepted=accepted, refused=refused, reply=delivery.reply or message.reply
    )
    ledger.put_sent_messages([updated])  # before anything else can fail: never sent twice
    run.accepted = run.accepted or bool(delivery.accepted)
    run.refused.update((message.message_id, r) for r in delivery.refused)
    if delivery.deferred:
        raise MailTemporary(
            _("The mail server asked to try again later for: {recipients}").format(
                recipients=", ".join(delivery.deferred)
            )
        )


def evidence_name(message: SentMessage) -> str:
    """ "2026-11-29 14h05 Tuần 10–13 - Phần 1-3.eml": sorts by date; no ':' (Windows)."""
    when = datetime.fromisoformat(min(message.accepted.values()))
    return f"{when:%Y-%m-%d %Hh%M} {message.label} - Phần {message.part}-{message.parts}.eml"


@dataclass(frozen=True)
class _Evidence:
    """Where the evidence copies go: ``folder`` under ``root``; ``school``: the school
    folder's (the ledger keeps the copy's full path, and a root not on this computer yet
    is waited for, never created)."""

    root: Path
    folder: str
    school: bool


def _catch_up(
    ledger: Ledger,
    package: str,
    evidence: _Evidence,
    smtp: SmtpSettings,
    credentials: Callable[[], Credentials],
) -> tuple[list[str], list[str]]:
    """What sent messages still owe, done now: evidence copies, then Sent-folder copies."""
    late = _write_evidence(ledger, package, evidence)
    return late, _sent_copies(ledger.sent_messages(package), smtp, credentials, ledger)


def _write_evidence(ledger: Ledger, package: str, evidence: _Evidence) -> list[str]:
    """Copy each accepted message that has no evidence copy yet into the evidence folder;
    what could not be written (a full disk) is said and tried again on the next run."""
    problems = []
    for message in ledger.sent_messages(package):
        if message.eml or not message.accepted:
            continue
        relative = f"{evidence.folder}/{message.label}/{evidence_name(message)}"
        kept = str(evidence.root / relative) if evidence.school else relative
        detail = _write_one(evidence, relative, Path(message.outbox))
        if detail is not None:
            problems.append(
                _part(
                    message,
                    _(
                        "sent, but its copy could not be written to {path} ({detail}); "
                        "run the command again to write it."
                    ).format(path=kept, detail=detail),
                )
            )
            continue
        ledger.put_sent_messages([replace(message, eml=kept)])
    return problems


def _write_one(evidence: _Evidence, relative: str, outbox: Path) -> str | None:
    """Write one evidence copy; why it could not be, or None."""
    if evidence.school and not evidence.root.is_dir():
        return _("the school folder is not on this computer yet: it comes with its first sync")
    try:
        write_atomic(evidence.root / relative, outbox.read_bytes(), mode=0o644)
    except OSError as exc:
        return str(exc.strerror or exc)
    return None


def _sent_copies(
    messages: Sequence[SentMessage],
    smtp: SmtpSettings,
    credentials: Callable[[], Credentials],
    ledger: Ledger,
) -> list[str]:
    """Put each accepted message in the sender's Sent folder over IMAP, where configured;
    a failure is reported and tried again on the next run (the mail itself went out)."""
    if not smtp.imap_host:
        return []
    problems = []
    for message in messages:
        if message.sent_copy or not message.accepted:
            continue
        try:
            data = Path(message.outbox).read_bytes()
            append_to_sent(
                smtp, credentials(), data, datetime.fromisoformat(min(message.accepted.values()))
            )
        except (MailUnreachable, MailLoginRefused, OSError) as exc:
            problems.append(str(exc))
            continue
        ledger.put_sent_messages([replace(message, sent_copy=True)])
    return problems
