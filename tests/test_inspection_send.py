"""Sending a submission to a real SMTP server (aiosmtpd on loopback): every part to both
recipients in one transaction, once; faults resume without duplicates; the ledger is true."""

from __future__ import annotations

import contextlib
import email
import gettext
import json
import subprocess
import time
import unicodedata
from collections.abc import Iterator
from datetime import date
from email import policy
from pathlib import Path

import pytest
from inspection_factory import MANAGER, SCHOOL_MAILBOX, blob, make_config
from mailservers import MAIL_USER, SmtpServer, StallingSmtpServer
from servers import PASSWORD

from agent.config import Config, Secret
from agent.errors import UsageError
from agent.i18n import language
from plugins.inspection.ledger import Ledger, SentMessage
from plugins.inspection.mail import Credentials
from plugins.inspection.model import MailLoginRefused, MailUnreachable
from plugins.inspection.package import attachment_name, human_size, read_message
from plugins.inspection.selection import Period
from plugins.inspection.send import Progress, Submission, ignore, submit
from plugins.inspection.service import Plan, make_plan, verify
from plugins.inspection.settings import smtp_settings

LIMIT = 1_000_000  # the smallest limit the config allows: three parts from ~2 MB of files
EVIDENCE = "Minh chứng nộp hồ sơ"
TODAY = date(2026, 11, 29)


@pytest.fixture()
def records(tmp_path: Path) -> Path:
    root = tmp_path / "HoSo"
    for week, size in ((10, 600_000), (11, 600_000), (12, 600_000)):
        blob(root / "Kế hoạch bài dạy" / f"Tuần {week}" / f"Bài {week}.pdf", size, seed=week)
    return root


@contextlib.contextmanager
def mail_setup(
    records: Path, tmp_path: Path, **smtp: object
) -> Iterator[tuple[SmtpServer, Config, Plan]]:
    with SmtpServer() as server:
        config = make_config(
            records,
            tmp_path / "state",
            smtp={
                "host": server.host,
                "port": server.port,
                "security": "none",
                "username": MAIL_USER,
                "max_message_bytes": LIMIT,
                "timeout": 2,
                "retries": 1,
                **smtp,
            },
        )
        yield server, config, make_plan(config, Period((10, 13), None, ("KHBD",)), today=TODAY)


def send(
    config: Config,
    plan: Plan,
    *,
    resend: bool = False,
    password: str = PASSWORD,
    backoff: tuple[float, ...] = (),
    progress: Progress = ignore,
) -> Submission:
    with Ledger.opened(config) as journal:
        return submit(
            selection=plan.selection,
            envelope=plan.envelope,
            smtp=smtp_settings(config),
            credentials=lambda: Credentials(MAIL_USER, Secret(password)),
            ledger=journal,
            root=config.root,
            state_dir=config.state_dir,
            evidence_folder=EVIDENCE,
            resend=resend,
            backoff=backoff,
            progress=progress,
        )


def test_every_part_reaches_both_recipients_once_with_its_files(
    records: Path, tmp_path: Path
) -> None:
    with mail_setup(records, tmp_path) as (server, config, plan):
        assert len(plan.parts) == 3
        submission = send(config, plan)
        received = server.wait_for(3)
    assert submission.complete and not submission.problems
    assert all(m.rcpt_tos == (SCHOOL_MAILBOX, MANAGER) for m in received)  # one transaction
    parsed = [read_message(m.content) for m in received]
    assert [p.message_id for p in parsed] == [m.message_id for m in submission.messages]
    assert len({p.date for p in parsed}) == 1
    sent_files = {}
    for message in parsed:
        for name, data in message.attachments:
            sent_files[name] = data
    assert sent_files == {
        attachment_name(f.path): f.file.read_bytes() for f in plan.selection.files
    }
    for m in received:
        assert len(m.content) <= LIMIT
    # the evidence copies are the bytes the server got, inside the records folder
    for message, got in zip(submission.messages, received, strict=True):
        assert message.eml.startswith(EVIDENCE + "/Tuần 10–13/")
        evidence = (records / message.eml).read_bytes()
        assert email.message_from_bytes(evidence, policy=policy.SMTP)["Message-ID"] == (
            message.message_id
        )
        assert set(message.accepted) == {SCHOOL_MAILBOX, MANAGER}
        assert message.reply.startswith("250")
        assert got.content.replace(b"\r\n", b"\n") == evidence.replace(b"\r\n", b"\n")


def test_a_second_run_does_not_send_again_and_resend_sends_a_new_package(
    records: Path, tmp_path: Path
) -> None:
    with mail_setup(records, tmp_path) as (server, config, plan):
        first = send(config, plan)
        again = send(config, plan)
        assert again.already_sent and again.package == first.package
        assert len(server.wait_for(3)) == 3
        resent = send(config, plan, resend=True)
        received = server.wait_for(6)
    assert resent.complete and resent.package != first.package
    first_ids = {m.message_id for m in first.messages}
    assert not first_ids & {m.message_id for m in resent.messages}
    assert len(received) == 6


def test_refused_login_sends_nothing(records: Path, tmp_path: Path) -> None:
    with mail_setup(records, tmp_path) as (server, config, plan):
        with pytest.raises(MailLoginRefused) as refused:
            send(config, plan, password="wrong-" + PASSWORD)
        assert server.received == []
    assert PASSWORD not in str(refused.value)
    assert refused.value.exit_code == 3


def test_a_dropped_connection_after_part_one_resumes_with_the_missing_parts_only(
    records: Path, tmp_path: Path
) -> None:
    with mail_setup(records, tmp_path) as (server, config, plan):
        server.faults.drop_after = 1
        cut = send(config, plan)
        assert not cut.complete and cut.problems
        assert [bool(m.accepted) for m in cut.messages] == [True, False, False]
        assert [m.eml != "" for m in cut.messages] == [True, False, False]
        server.faults.drop_after = None
        resumed = send(config, plan)
        received = server.wait_for(3)
    assert resumed.complete and resumed.package == cut.package
    assert [read_message(m.content).part for m in received] == [1, 2, 3]  # part 1 once
    assert [m.message_id for m in resumed.messages] == [m.message_id for m in cut.messages]


def test_a_rejected_recipient_gets_it_later_and_the_other_never_twice(
    records: Path, tmp_path: Path
) -> None:
    with mail_setup(records, tmp_path) as (server, config, plan):
        server.faults.reject = {MANAGER}
        partial = send(config, plan)
        assert not partial.complete
        assert all(set(m.accepted) == {SCHOOL_MAILBOX} for m in partial.messages)
        assert all(m.refused[MANAGER].startswith("550") for m in partial.messages)
        assert any(MANAGER in problem for problem in partial.problems)
        server.faults.reject = set()
        done = send(config, plan)
        received = server.wait_for(6)
    assert done.complete
    assert [m.rcpt_tos for m in received] == [(SCHOOL_MAILBOX,)] * 3 + [(MANAGER,)] * 3
    assert all(not m.refused for m in done.messages)


def test_a_server_that_stops_answering_is_unreachable_and_nothing_is_recorded_as_sent(
    records: Path, tmp_path: Path
) -> None:
    with mail_setup(records, tmp_path, timeout=1, retries=0) as (server, config, plan):
        server.faults.hang = True
        with pytest.raises(MailUnreachable):
            send(config, plan)
        assert server.hanging.is_set()
        with Ledger.opened(config) as journal:
            ledger = journal.sent_messages()
    assert len(ledger) == 3 and not any(m.accepted for m in ledger)
    assert not (records / EVIDENCE).exists()


def test_changed_records_make_a_new_package(records: Path, tmp_path: Path) -> None:
    with mail_setup(records, tmp_path) as (server, config, plan):
        first = send(config, plan)
        changed = plan.selection.files[0].file
        changed.write_bytes(changed.read_bytes() + b"!")
        second = send(config, make_plan(config, Period((10, 13), None, ("KHBD",)), today=TODAY))
        server.wait_for(6)
    assert second.package != first.package and second.complete
    assert not second.already_sent


def test_an_evidence_copy_that_cannot_be_written_never_causes_a_second_sending(
    records: Path, tmp_path: Path
) -> None:
    blocker = records / EVIDENCE
    blocker.write_bytes(b"a file where the evidence folder should be")  # writing fails
    with mail_setup(records, tmp_path) as (server, config, plan):
        sent = send(config, plan)
        assert sent.complete and not any(m.eml for m in sent.messages)
        assert len(sent.problems) == 3 and all(EVIDENCE in p for p in sent.problems)
        blocker.unlink()
        again = send(config, plan)
        received = server.wait_for(3)
    assert again.already_sent and not again.problems
    assert len(received) == 3
    for message, got in zip(again.messages, received, strict=True):
        assert (records / message.eml).read_bytes() == Path(message.outbox).read_bytes()
        assert read_message(got.content).message_id == message.message_id


def test_verify_tells_an_edited_email_from_changed_records(records: Path, tmp_path: Path) -> None:
    with mail_setup(records, tmp_path) as (server, config, plan):
        sent = send(config, plan)
        server.wait_for(3)
    first = records / sent.messages[0].eml
    assert all(c.same for c in verify(records, first.parent))
    original = first.read_bytes()
    message = email.message_from_bytes(original, policy=policy.SMTP)
    attachment = next(p for p in message.iter_attachments() if p.get_filename() != "manifest.json")
    attachment.set_content(b"forged", maintype="application", subtype="pdf")
    first.write_bytes(message.as_bytes(policy=policy.SMTP))
    (checked,) = verify(records, first)
    assert [f["status"] for f in checked.files] == ["attachment_altered"]

    message = email.message_from_bytes(original, policy=policy.SMTP)
    manifest_part = next(
        p for p in message.iter_attachments() if p.get_filename() == "manifest.json"
    )
    manifest = json.loads(manifest_part.get_content())
    manifest["files"][0]["path"] = "../../etc/passwd"  # an .eml may come from anywhere
    manifest_part.set_content(
        json.dumps(manifest).encode(), maintype="application", subtype="json",
        disposition="attachment", filename="manifest.json",
    )  # fmt: skip
    first.write_bytes(message.as_bytes(policy=policy.SMTP))
    (checked,) = verify(records, first)
    assert [f["status"] for f in checked.files][0] == "missing"

    not_hoso = tmp_path / "thư thường.eml"
    not_hoso.write_bytes(
        b"From: a@b.vn\r\nMessage-ID: <x@b.vn>\r\n"
        b"Date: Sun, 29 Nov 2026 08:00:00 +0700\r\n\r\nxin chao\r\n"
    )
    with pytest.raises(UsageError, match="manifest"):
        verify(records, not_hoso)


# Another reader than Python's: Perl's Encode decodes the RFC 2047 words of Content-Type's
# name=, and the RFC 2231 filename*= (sections joined, %XX undone) is read here by hand.
PERL_NAMES = r"""
use strict; use warnings; use Encode qw(decode encode);
local $/; my $mail = <STDIN>; $mail =~ s/\r\n/\n/g;
for my $block (split /^--\S+\n/m, $mail) {
    my ($head) = split /\n\n/, $block, 2;
    $head =~ s/\n[ \t]+/ /g;
    my ($type) = $head =~ /^Content-Type:(.*)$/mi or next;
    my ($name) = $type =~ /\bname="([^"]*)"/ or next;
    my ($disposition) = $head =~ /^Content-Disposition:(.*)$/mi or next;
    my %sections;
    while ($disposition =~ /\bfilename\*(\d*)\*?=([^;\s]+)/g) { $sections{$1 || 0} = $2 }
    my $file = join "", map { $sections{$_} } sort { $a <=> $b } keys %sections;
    $file =~ s/^utf-8''//i; $file =~ s/%([0-9A-Fa-f]{2})/chr(hex($1))/ge;
    print encode("UTF-8", decode("MIME-Header", $name)), "\t", $file, "\n";
}
"""


def test_attachment_names_come_back_from_both_headers_to_two_readers(
    records: Path, tmp_path: Path
) -> None:
    """Content-Type's name= (RFC 2047, for readers older than RFC 2231) and
    Content-Disposition's filename*= (RFC 2231) both give the NFC name, in the bytes the
    server received, to Python's parser and to Perl's."""
    with mail_setup(records, tmp_path) as (server, config, plan):
        submission = send(config, plan)
        received = server.wait_for(3)
    assert submission.complete
    expected = sorted(attachment_name(f.path) for f in plan.selection.files)
    assert all(unicodedata.is_normalized("NFC", name) and not name.isascii() for name in expected)

    from_python = []
    for mail in received:
        message = email.message_from_bytes(mail.content, policy=policy.default)
        for part in message.iter_attachments():
            if part.get_content_type() != "application/json":
                from_python.append((part["Content-Type"].params["name"], part.get_filename()))
                raw = email.message_from_bytes(part.as_bytes(), policy=policy.compat32)
                assert str(raw.get_param("name")).startswith("=?utf-8?q?")  # the fallback
                assert raw.get_param("filename") is None  # only filename*= (see package.py)
    assert sorted(from_python) == [(name, name) for name in expected]

    from_perl = []
    for mail in received:
        done = subprocess.run(
            ["perl", "-e", PERL_NAMES], input=mail.content, capture_output=True, check=True
        )
        from_perl += [tuple(line.split("\t")) for line in done.stdout.decode().splitlines()]
    assert sorted(from_perl) == [(name, name) for name in expected]


STEP_WORDS = {  # what the message says the server did not answer
    "greeting": "connecting (the server's greeting)",
    "EHLO": "saying hello (EHLO)",
    "AUTH": "logging in (AUTH)",
    "MAIL": "giving the sender (MAIL FROM)",
    "RCPT": "giving the recipients (RCPT TO)",
    "DATA": "starting the message (DATA)",
    "message": "taking the message",
    "end of DATA": "confirming it took the message",
}


def _ledger(config: Config) -> list[SentMessage]:
    with Ledger.opened(config) as journal:
        return journal.sent_messages()


@pytest.fixture()
def english(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("agent.i18n._translations", gettext.NullTranslations())


@pytest.mark.parametrize("step", [s for s in StallingSmtpServer.STEPS if s != "message"])
def test_a_server_that_stops_answering_fails_fast_and_the_next_run_resumes(
    records: Path, tmp_path: Path, step: str, english: None
) -> None:
    told: list[str] = []
    with StallingSmtpServer(step) as stalling:
        config = make_config(
            records,
            tmp_path / "state",
            smtp={
                "host": stalling.host, "port": stalling.port, "security": "none",
                "username": MAIL_USER, "max_message_bytes": LIMIT, "timeout": 1, "retries": 3,
            },
        )  # fmt: skip
        plan = make_plan(config, Period((10, 13), None, ("KHBD",)), today=TODAY)
        started = time.monotonic()
        with pytest.raises(MailUnreachable) as caught:
            # Were a timeout retried, the 30-second pause alone would fail the time check.
            send(config, plan, backoff=(30.0,), progress=told.append)
        waited = time.monotonic() - started
        assert stalling.stalled.is_set() and stalling.received == []
    assert waited < 1 + 1 + 5  # the timeout, the second a megabyte at the end of DATA, slack
    ledger = _ledger(config)  # built once, nothing recorded as accepted: ready to resume
    assert len(ledger) == 3 and not any(m.accepted for m in ledger)
    assert all(Path(m.outbox).is_file() for m in ledger)
    seconds = 1.0  # at the end of DATA: the timeout and a second a megabyte
    if step == "end of DATA":
        seconds = round(1 + Path(ledger[0].outbox).stat().st_size / 1_000_000, 1)
    text = str(caught.value)
    assert f"did not answer within {seconds:g} seconds ({STEP_WORDS[step]})" in text
    assert "Run the same command again to go on" in text and "`[smtp] timeout`" in text
    assert caught.value.exit_code == 3
    assert told[0] == f"Connecting to the mail server 127.0.0.1 (port {stalling.port})…"
    if step in ("MAIL", "RCPT", "DATA", "end of DATA"):
        assert told[1].startswith("Sending part 1/3 (") and told[1].endswith(
            f"KB) to {SCHOOL_MAILBOX}, {MANAGER}…"
        )
    assert not any("Trying again" in line for line in told)

    with mail_setup(records, tmp_path) as (server, good_config, good_plan):
        resumed = send(good_config, good_plan)
        received = server.wait_for(3)
    assert resumed.complete and resumed.package == ledger[0].package
    assert [read_message(m.content).message_id for m in received] == [m.message_id for m in ledger]
    assert [m.content for m in received] == [Path(m.outbox).read_bytes() for m in ledger]


def test_a_server_that_stops_answering_after_part_one_keeps_part_one(
    records: Path, tmp_path: Path, english: None
) -> None:
    told: list[str] = []
    with StallingSmtpServer("MAIL", after=1) as stalling:
        config = make_config(
            records,
            tmp_path / "state",
            smtp={
                "host": stalling.host, "port": stalling.port, "security": "none",
                "username": MAIL_USER, "max_message_bytes": LIMIT, "timeout": 1, "retries": 3,
            },
        )  # fmt: skip
        plan = make_plan(config, Period((10, 13), None, ("KHBD",)), today=TODAY)
        cut = send(config, plan, backoff=(30.0,), progress=told.append)
        assert len(stalling.received) == 1
    assert [bool(m.accepted) for m in cut.messages] == [True, False, False]
    (problem,) = cut.problems
    assert "(giving the sender (MAIL FROM))" in problem and "Run the same command" in problem
    assert [line.split(" (")[0] for line in told] == [
        "Connecting to the mail server 127.0.0.1", "Sending part 1/3", "Sending part 2/3"
    ]  # fmt: skip
    with mail_setup(records, tmp_path) as (server, good_config, good_plan):
        resumed = send(good_config, good_plan)
        received = server.wait_for(2)
    assert resumed.complete
    assert [read_message(m.content).part for m in received] == [2, 3]


def test_a_server_that_stops_reading_the_message_fails_within_the_timeout(
    tmp_path: Path, english: None
) -> None:
    """8 MB of message: more than the client's socket buffers hold, so the sending itself
    blocks when the server stops reading; each 64 KB piece has the timeout, not the whole."""
    root = tmp_path / "HoSo"
    blob(root / "Kế hoạch bài dạy" / "Tuần 10" / "Video.mp4", 6_000_000)
    with StallingSmtpServer("message") as stalling:
        config = make_config(
            root,
            tmp_path / "state",
            smtp={
                "host": stalling.host, "port": stalling.port, "security": "none",
                "username": MAIL_USER, "max_message_bytes": 10_000_000, "timeout": 1,
            },
        )  # fmt: skip
        plan = make_plan(config, Period((10, 13), None, ("KHBD",)), today=TODAY)
        started = time.monotonic()
        with pytest.raises(MailUnreachable) as caught:
            send(config, plan, backoff=(30.0,))
        waited = time.monotonic() - started
        assert stalling.stalled.is_set()
    assert waited < 6
    size = plan.parts[0].size
    assert f"did not answer within 1 seconds (taking the message ({size} bytes))" in str(
        caught.value
    )


def test_a_slow_line_that_keeps_moving_is_not_cut_by_the_timeout(
    tmp_path: Path, english: None
) -> None:
    """About 7 MB through a server that pauses 20 ms before each read: the part beyond what the
    socket buffers hold takes several times the 1-second timeout, yet no piece waits long."""
    root = tmp_path / "HoSo"
    blob(root / "Kế hoạch bài dạy" / "Tuần 10" / "Video.mp4", 5_000_000)
    with StallingSmtpServer(None, read_pause=0.02) as slow:
        config = make_config(
            root,
            tmp_path / "state",
            smtp={
                "host": slow.host, "port": slow.port, "security": "none",
                "username": MAIL_USER, "max_message_bytes": 10_000_000, "timeout": 1,
                "retries": 0,
            },
        )  # fmt: skip
        plan = make_plan(config, Period((10, 13), None, ("KHBD",)), today=TODAY)
        started = time.monotonic()
        sent = send(config, plan)
        waited = time.monotonic() - started
        (content,) = slow.received
    assert sent.complete and waited > 2  # the line was slow for longer than the timeout
    assert content.replace(b"\r\n", b"\n") == (
        Path(sent.messages[0].outbox).read_bytes().replace(b"\r\n", b"\n")
    )


def test_progress_in_vietnamese_names_each_part_and_its_size(records: Path, tmp_path: Path) -> None:
    told: list[str] = []
    with mail_setup(records, tmp_path) as (server, config, plan), language("vi"):
        sent = send(config, plan, progress=told.append)
        server.wait_for(3)
        sizes = [human_size(Path(m.outbox).stat().st_size) for m in sent.messages]
    assert sent.complete
    assert told == [
        f"Đang kết nối tới máy chủ thư 127.0.0.1 (cổng {smtp_settings(config).port})…",
        *(
            f"Đang gửi phần {i}/3 ({size}) tới {SCHOOL_MAILBOX}, {MANAGER}…"
            for i, size in enumerate(sizes, 1)
        ),
    ]
    assert all("," in size and size.endswith(" KB") for size in sizes)  # "816,4 KB"
