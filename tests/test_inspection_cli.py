"""`hoso inspect …` as a teacher runs it: the real CLI against a real SMTP server over
STARTTLS or implicit TLS with a school's own CA, the login in the vault."""

from __future__ import annotations

import email
import imaplib
import json
import os
import pty
import select
import shutil
import subprocess
import time
import unicodedata
from collections.abc import Iterator
from datetime import date
from email import policy
from pathlib import Path

import pytest
from agents import hoso_command, hoso_env, to_toml
from inspection_factory import MANAGER, SCHOOL_MAILBOX, blob, lesson, raw_config
from mailservers import (
    ACCESS_TOKEN,
    MAIL_USER,
    ImapServer,
    JsonEndpoint,
    SmtpServer,
    StallingSmtpServer,
    missing_dovecot,
)
from pki import Pki, make_pki
from servers import PASSWORD, free_port

from agent import config as configmod
from agent.hooks import JobContext, Notification
from plugins.inspection import hoso_status_notes, run_job
from plugins.inspection.mail import imap_folder_name
from plugins.inspection.package import read_message

KHBD = "Kế hoạch bài dạy"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


class Teacher:
    def __init__(self, home: Path, smtp: dict[str, object], **tables: object) -> None:
        self.home = home
        self.root = home / "HoSo"
        self.config_path = home / "config" / "agent.toml"
        raw = raw_config(self.root, home / "state", smtp=smtp, **tables)
        reviewers = raw["school"].pop("reviewers")
        text = to_toml(raw)
        for reviewer in reviewers:  # to_toml knows no arrays of tables
            text += "\n[[school.reviewers]]\n" + to_toml(reviewer)
        configmod.write_private(self.config_path, text)
        self.config = configmod.load(self.config_path)
        self.smtp = smtp
        self.outputs: list[str] = []

    def hoso(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            hoso_command("--config", str(self.config_path), *args),
            input=stdin,
            capture_output=True,
            text=True,
            env=hoso_env({"XDG_CONFIG_HOME": str(self.home / "xdg")}),
            timeout=120,
            cwd=self.home,
        )
        self.outputs.append(done.stdout + done.stderr)
        return done

    def ok(self, *args: str, stdin: str = "") -> str:
        done = self.hoso(*args, stdin=stdin)
        assert done.returncode == 0, f"hoso {' '.join(args)}: {done.stdout}{done.stderr}"
        return done.stdout


@pytest.fixture()
def server(pki: Pki, request: pytest.FixtureRequest) -> Iterator[SmtpServer]:
    with SmtpServer(getattr(request, "param", "starttls"), pki=pki) as running:
        yield running


def _teacher(tmp_path: Path, server: SmtpServer, pki: Pki, **extra: object) -> Teacher:
    security = "tls" if server.security == "tls" else "starttls"
    smtp = {
        "host": "localhost",  # the certificate names localhost and 127.0.0.1
        "port": server.port,
        "security": security,
        "username": MAIL_USER,
        "ca_file": str(pki.ca_cert),
        "timeout": 5,
        "retries": 0,
        **extra,
    }
    teacher = Teacher(tmp_path / "lan", smtp)
    lesson(teacher.root / KHBD / "Tuần 10" / "Toán" / "Bài 56 – Phép chia.docx")
    lesson(teacher.root / KHBD / "Tuần 11" / "Tiếng Việt" / "Bài 20.docx")
    blob(teacher.root / KHBD / "Tuần 11" / "Phiếu học tập.pdf", 30_000)
    teacher.ok("vault", "set", "smtp", stdin=PASSWORD + "\n")
    return teacher


@pytest.mark.parametrize("server", ["starttls", "tls"], indirect=True)
def test_one_command_sends_everything_and_a_second_run_sends_nothing(
    tmp_path: Path, pki: Pki, server: SmtpServer
) -> None:
    teacher = _teacher(tmp_path, server, pki)
    plan = json.loads(teacher.ok("inspect", "plan", "--weeks", "10-13", "--json"))
    assert [m["part"] for m in plan["messages"]] == [1]
    assert plan["to"] == [SCHOOL_MAILBOX, MANAGER]
    assert {f["selected_by"] for f in plan["files"]} == {"folder"}

    sent = json.loads(teacher.ok("inspect", "send", "--weeks", "10-13", "--json"))
    (received,) = server.wait_for(1)
    assert received.rcpt_tos == (SCHOOL_MAILBOX, MANAGER)
    assert sent["complete"] and not sent["already_sent"]
    assert plan["messages"][0]["size"] == len(received.content)
    message = read_message(received.content)
    assert message.message_id == sent["messages"][0]["message_id"]
    # The teacher reads English here; the email is written for the school, in Vietnamese.
    assert message.subject.endswith("Tuần 10–13 – Phần 1/1")
    parsed = email.message_from_bytes(received.content, policy=policy.default)
    body = parsed.get_body(("plain",))
    assert body is not None and body.get_content().startswith("Kính gửi")
    assert {name for name, _data in message.attachments} == {f["name"] for f in plan["files"]}
    for name, data in message.attachments:
        path = next(f["path"] for f in plan["files"] if f["name"] == name)
        assert data == (teacher.root / path).read_bytes()

    again = teacher.hoso("inspect", "send", "--weeks", "10-13")
    assert again.returncode == 0 and "--resend" in again.stdout
    assert len(server.received) == 1

    history = json.loads(teacher.ok("inspect", "history", "--json"))
    (submission,) = history["submissions"]
    assert submission["complete"] and submission["period"] == "Tuần 10–13"
    files = submission["messages"][0]["files"]
    assert {f["sha256"] for f in files} == {f["sha256"] for f in plan["files"]}

    eml = teacher.root / sent["messages"][0]["eml"]
    assert json.loads(teacher.ok("inspect", "verify", str(eml), "--json"))["all_same"]
    changed = teacher.root / KHBD / "Tuần 11" / "Phiếu học tập.pdf"
    changed.write_bytes(b"changed after the inspection")
    disputed = teacher.hoso("inspect", "verify", str(eml.parent), "--json")
    assert disputed.returncode == 1
    statuses = {f["path"]: f["status"] for f in json.loads(disputed.stdout)["messages"][0]["files"]}
    assert statuses[f"{KHBD}/Tuần 11/Phiếu học tập.pdf"] == "changed"

    assert not any(PASSWORD in output for output in teacher.outputs)
    for path in teacher.home.rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path


def _nfd(*names: str) -> str:
    """A relative path as a Mac writes it: every name decomposed (NFD)."""
    return os.path.join(*(unicodedata.normalize("NFD", n) for n in names))


def test_a_folder_copied_from_a_mac_is_sent_and_what_is_left_out_stops_the_plan(
    tmp_path: Path, pki: Pki, server: SmtpServer
) -> None:
    teacher = _teacher(tmp_path, server, pki)  # "Kế hoạch bài dạy" composed (NFC)
    mac = teacher.root / _nfd(KHBD)  # and its copy from a Mac, decomposed, beside it
    lesson(mac / _nfd("Tuần 12", "Bài 30 – Ôn tập.docx"))
    lesson(mac / _nfd("Tuần 10", "Toán", "Bài 57.docx"))
    assert len(os.listdir(teacher.root)) == 2, "the file system keeps both spellings apart"
    from_mac = {
        f"{KHBD}/Tuần 12/Bài 30 – Ôn tập.docx": mac / _nfd("Tuần 12", "Bài 30 – Ôn tập.docx"),
        f"{KHBD}/Tuần 10/Toán/Bài 57.docx": mac / _nfd("Tuần 10", "Toán", "Bài 57.docx"),
    }

    plan = json.loads(teacher.ok("inspect", "plan", "--weeks", "10-13", "--json"))
    paths = [f["path"] for f in plan["files"]]
    assert sorted(paths) == sorted(
        [
            f"{KHBD}/Tuần 10/Toán/Bài 56 – Phép chia.docx",
            f"{KHBD}/Tuần 10/Toán/Bài 57.docx",
            f"{KHBD}/Tuần 11/Tiếng Việt/Bài 20.docx",
            f"{KHBD}/Tuần 11/Phiếu học tập.pdf",
            f"{KHBD}/Tuần 12/Bài 30 – Ôn tập.docx",
        ]
    )
    assert plan["skipped"] == []

    # The same sheet in both spellings: two real files, one name. Neither is sent.
    twin = f"{KHBD}/Tuần 11/Phiếu học tập.pdf"
    blob(mac / _nfd("Tuần 11", "Phiếu học tập.pdf"), 20_000, seed=7)
    refused = teacher.hoso("inspect", "plan", "--weeks", "10-13", "--json")
    assert refused.returncode == 1, refused.stderr
    partial = json.loads(refused.stdout)
    assert twin not in [f["path"] for f in partial["files"]]
    ((skipped),) = partial["skipped"]
    assert skipped["path"] == twin
    assert "(NFC, 30000 bytes)" in skipped["reason"] and "(NFD, 20000 bytes)" in skipped["reason"]
    assert "keep one" in skipped["reason"]
    assert f"Not sent: {twin}" in refused.stderr and "--allow-left-out" in refused.stderr
    text = teacher.hoso("inspect", "plan", "--weeks", "10-13")
    assert text.returncode == 1 and f"Not sent: {twin}" in text.stderr

    unsent = teacher.hoso("inspect", "send", "--weeks", "10-13")
    assert unsent.returncode == 1 and "Nothing was sent" in unsent.stderr
    assert server.received == []
    assert not (teacher.root / "Minh chứng nộp hồ sơ").exists()

    sent = json.loads(
        teacher.ok("inspect", "send", "--weeks", "10-13", "--allow-left-out", "--json")
    )
    (received,) = server.wait_for(1)
    message = read_message(received.content)
    carried = {f["path"]: f["name"] for f in message.manifest["files"]}  # type: ignore[index]
    assert sorted(carried) == sorted(p for p in paths if p != twin)
    attachments = dict(message.attachments)
    for path, real in from_mac.items():  # the files of the Mac's folder, byte for byte
        assert attachments[carried[path]] == real.read_bytes()
    eml = teacher.root / sent["messages"][0]["eml"]
    checked = json.loads(teacher.ok("inspect", "verify", str(eml), "--json"))
    assert checked["all_same"]


def _at_a_terminal(teacher: Teacher, answer: str, *args: str) -> tuple[int, str]:
    """Run hoso on a pseudo-terminal, answer its question, return the exit code and what
    the terminal showed."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        hoso_command("--config", str(teacher.config_path), *args),
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=hoso_env({"XDG_CONFIG_HOME": str(teacher.home / "xdg")}),
        cwd=teacher.home,
    )
    os.close(slave)
    shown = b""
    answered = False
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _w, _x = select.select([master], [], [], 1)
        if not ready:
            continue
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the program ended and closed the terminal
            break
        if not chunk:
            break
        shown += chunk
        if not answered and b"Send without them?" in shown:
            os.write(master, answer.encode() + b"\n")
            answered = True
    os.close(master)
    return proc.wait(timeout=60), shown.decode(errors="replace")


def test_at_a_terminal_the_teacher_is_asked_before_anything_is_left_out(
    tmp_path: Path, pki: Pki, server: SmtpServer
) -> None:
    teacher = _teacher(tmp_path, server, pki)
    conflict = f"{KHBD}/Tuần 10/Toán/Bài 56 – Phép chia (bản xung đột, máy lan-pc, 2026-11-20).docx"
    lesson(teacher.root / conflict)
    code, shown = _at_a_terminal(teacher, "n", "inspect", "send", "--weeks", "10-13")
    assert code == 1, shown
    assert f"Not sent: {conflict}" in shown and "Nothing was sent" in shown
    assert server.received == []
    code, shown = _at_a_terminal(teacher, "y", "inspect", "send", "--weeks", "10-13")
    assert code == 0, shown
    (received,) = server.wait_for(1)
    names = {f["path"] for f in read_message(received.content).manifest["files"]}  # type: ignore[index]
    assert conflict not in names and len(names) == 3


def test_verify_never_follows_a_symbolic_link(tmp_path: Path, pki: Pki, server: SmtpServer) -> None:
    """A record replaced by a link to a copy outside the records folder, or a week folder
    replaced by a link, is reported, never read as the record, even when the bytes match."""
    teacher = _teacher(tmp_path, server, pki)
    out = tmp_path / "outbox"
    (eml,) = json.loads(
        teacher.ok("inspect", "build", "--weeks", "10-11", "--out", str(out), "--json")
    )["files"]
    week_10 = teacher.root / KHBD / "Tuần 10"
    week_11 = teacher.root / KHBD / "Tuần 11"
    outside = tmp_path / "outside"
    shutil.copytree(week_11, outside / "Tuần 11")  # the very same bytes, outside the root
    shutil.rmtree(week_11)
    week_11.symlink_to(outside / "Tuần 11", target_is_directory=True)
    plan = week_10 / "Toán" / "Bài 56 – Phép chia.docx"
    plan.rename(outside / "Bài 56.docx")
    plan.symlink_to(outside / "Bài 56.docx")

    done = teacher.hoso("inspect", "verify", eml, "--json")
    assert done.returncode == 1, done.stderr
    (checked,) = json.loads(done.stdout)["messages"]
    assert {f["path"]: f["status"] for f in checked["files"]} == {
        f"{KHBD}/Tuần 10/Toán/Bài 56 – Phép chia.docx": "symlink",
        f"{KHBD}/Tuần 11/Tiếng Việt/Bài 20.docx": "symlink",
        f"{KHBD}/Tuần 11/Phiếu học tập.pdf": "symlink",
    }
    text = teacher.hoso("inspect", "verify", eml)
    assert text.returncode == 1 and "symbolic link" in text.stdout
    assert plan.is_symlink() and week_11.is_symlink()  # reported, nothing changed


def test_refused_login_exits_3_and_sends_nothing(
    tmp_path: Path, pki: Pki, server: SmtpServer
) -> None:
    teacher = _teacher(tmp_path, server, pki)
    server.faults.refuse_auth = True
    refused = teacher.hoso("inspect", "send", "--weeks", "10-13")
    assert refused.returncode == 3, refused.stderr
    assert server.received == [] and PASSWORD not in refused.stderr
    progress, error = refused.stderr.strip().splitlines()  # what it did, then one message
    assert progress.startswith("Connecting to the mail server localhost")
    assert error.startswith("Error: The mail server localhost refused the login")


def test_an_unknown_certificate_authority_is_refused(
    tmp_path: Path, pki: Pki, server: SmtpServer
) -> None:
    teacher = _teacher(tmp_path, server, pki, ca_file=str(pki.other_ca_cert))
    refused = teacher.hoso("inspect", "send", "--weeks", "10-13")
    assert refused.returncode == 3
    assert "ca_file" in refused.stderr
    assert server.received == []


def test_bad_input_is_one_message_and_exit_2(tmp_path: Path, pki: Pki, server: SmtpServer) -> None:
    teacher = _teacher(tmp_path, server, pki)
    for args in (
        ("inspect", "plan"),
        ("inspect", "plan", "--weeks", "abc"),
        ("inspect", "send", "--period", "2026-13"),
        ("inspect", "plan", "--weeks", "30-31"),
        ("inspect", "plan", "--weeks", "10-13", "--type", "NOPE"),
    ):
        done = teacher.hoso(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert server.received == []


def test_a_file_too_large_for_any_message_is_named_and_the_rest_is_sent(
    tmp_path: Path, pki: Pki, server: SmtpServer
) -> None:
    teacher = _teacher(tmp_path, server, pki, max_message_bytes=1_000_000)
    big_path = f"{KHBD}/Tuần 12/Video tiết dạy mẫu.mp4"
    big = blob(teacher.root / big_path, 800_000, seed=12)  # 1.08 MB once in base64

    shown = teacher.hoso("inspect", "plan", "--weeks", "10-13")
    assert shown.returncode == 1, shown.stderr
    assert f"Not attached, too large for any message: {big_path}  800.0 KB" in shown.stdout
    assert f"Not attached: {big_path} is 0.8 MB" in shown.stderr
    assert "USB stick" in shown.stderr and "max_message_bytes" in shown.stderr
    planned = teacher.hoso("inspect", "plan", "--weeks", "10-13", "--json")
    assert planned.returncode == 1
    plan = json.loads(planned.stdout)
    ((entry),) = plan["not_attached"]
    assert (entry["path"], entry["size"], entry["reason"]) == (big_path, 800_000, "too_large")
    assert "USB stick" in entry["message"]
    assert big_path in [f["path"] for f in plan["files"]]
    (part,) = plan["messages"]
    assert big_path not in part["files"] and len(part["files"]) == 3

    sent = teacher.hoso("inspect", "send", "--weeks", "10-13", "--json")
    assert sent.returncode == 1, sent.stderr
    result = json.loads(sent.stdout)
    assert result["complete"] and result["not_attached"] == [big_path]
    assert f"Not attached: {big_path}" in sent.stderr
    (received,) = server.wait_for(1)
    assert len(received.content) == part["size"]  # the plan's size, exactly
    message = read_message(received.content)
    attached = dict(message.attachments)
    assert len(attached) == 3
    for path in part["files"]:
        name = next(f["name"] for f in plan["files"] if f["path"] == path)
        assert attached[name] == (teacher.root / path).read_bytes()
    assert message.manifest is not None
    ((named),) = message.manifest["not_attached"]
    assert (named["path"], named["sha256"]) == (big_path, entry["sha256"])
    body = email.message_from_bytes(received.content, policy=policy.default).get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "Không đính kèm (1)" in text and entry["name"] in text and entry["sha256"] in text

    again = teacher.hoso("inspect", "send", "--weeks", "10-13")
    assert again.returncode == 1 and "--resend" in again.stdout
    assert f"Not attached: {big_path}" in again.stderr
    assert len(server.received) == 1

    blob(big, 300_000, seed=12)  # made smaller: the whole period goes again, complete
    whole = json.loads(teacher.ok("inspect", "send", "--weeks", "10-13", "--json"))
    assert whole["complete"] and whole["not_attached"] == []
    (_first, second) = server.wait_for(2)
    assert len(read_message(second.content).attachments) == 4


def test_build_writes_what_fits_and_names_what_does_not(
    tmp_path: Path, pki: Pki, server: SmtpServer
) -> None:
    teacher = _teacher(tmp_path, server, pki, max_message_bytes=1_000_000)
    big_path = f"{KHBD}/Tuần 11/Video tiết dạy mẫu.mp4"
    blob(teacher.root / big_path, 800_000)
    out = tmp_path / "outbox"
    built = teacher.hoso("inspect", "build", "--weeks", "10-11", "--out", str(out))
    assert built.returncode == 1 and f"Not attached: {big_path}" in built.stderr
    (eml,) = out.iterdir()
    message = read_message(eml.read_bytes())
    assert len(message.attachments) == 3 and message.manifest is not None
    assert [f["path"] for f in message.manifest["not_attached"]] == [big_path]

    blob(teacher.root / big_path, 800_000, seed=1)
    for path in teacher.root.rglob("*.docx"):
        blob(path, 800_000, seed=2)  # now nothing fits: nothing to write, nothing sent
    for path in teacher.root.rglob("Phiếu*.pdf"):
        blob(path, 800_000, seed=3)
    refused = teacher.hoso("inspect", "send", "--weeks", "10-11")
    assert refused.returncode == 2, refused.stderr
    assert "No file of Tuần 10–11 fits in an email. Nothing was sent." in refused.stderr
    assert server.received == []


def test_build_writes_the_messages_for_a_mail_program(
    tmp_path: Path, pki: Pki, server: SmtpServer
) -> None:
    teacher = _teacher(tmp_path, server, pki)
    out = tmp_path / "outbox"
    written = json.loads(
        teacher.ok("inspect", "build", "--weeks", "10-11", "--out", str(out), "--json")
    )
    (path,) = written["files"]
    message = read_message(Path(path).read_bytes())
    assert message.recipients == (SCHOOL_MAILBOX, MANAGER)
    assert len(message.attachments) == 3
    assert teacher.hoso("inspect", "build", "--weeks", "10-11", "--out", str(out)).returncode == 2
    assert server.received == []


def test_reminders_before_an_inspection_until_it_is_sent(
    tmp_path: Path, pki: Pki, server: SmtpServer
) -> None:
    teacher = _teacher(tmp_path, server, pki, max_message_bytes=1_000_000)
    conflict = f"{KHBD}/Tuần 11/Tiếng Việt/Bài 20 (bản xung đột, máy lan-pc, 2026-11-20 08h10).docx"
    lesson(teacher.root / conflict)
    big = f"{KHBD}/Tuần 12/Video tiết dạy mẫu.mp4"  # too large for any message
    blob(teacher.root / big, 800_000)
    today = date.today()
    day = date.fromordinal(today.toordinal() + 3)
    raw = configmod.load(teacher.config_path)
    config = configmod.from_dict(
        {
            **raw_config(teacher.root, teacher.home / "state", smtp=dict(raw.table("smtp"))),
            "inspection": {"schedule": [{"date": day, "weeks": "10-14", "types": ["KHBD"]}]},
        },
        teacher.config_path,
    )
    told: list[Notification] = []
    run_job(
        JobContext(config=config, now=__import__("time").time(), last_run=None, notify=told.append)
    )
    (note,) = told
    assert "Tuần 10–14" in note.body and "14" in note.body.split("Tuần 10–14")[1]
    assert "3 records ready" in note.body  # not "no records": the big one hides nothing
    assert (
        f"2 file(s) cannot be sent as they are (see `hoso inspect plan`): {conflict}, {big}."
    ) in note.body
    assert hoso_status_notes(config) == [note.body]


@pytest.mark.skipif(missing_dovecot() is not None, reason=str(missing_dovecot()))
def test_a_copy_goes_to_the_sent_folder_over_imap(
    tmp_path: Path, pki: Pki, server: SmtpServer
) -> None:
    with ImapServer(pki) as imap:
        teacher = _teacher(
            tmp_path,
            server,
            pki,
            imap_host="localhost",
            imap_port=imap.port,
            imap_security="tls",
        )  # no imap_folder: the folder the server marks \Sent
        sent = json.loads(teacher.ok("inspect", "send", "--weeks", "10-13", "--json"))
        (received,) = server.wait_for(1)
        assert sent["messages"][0]["sent_copy"]
        with imaplib.IMAP4_SSL("127.0.0.1", imap.port, ssl_context=_trusting(pki)) as client:
            client.login(MAIL_USER, PASSWORD)
            client.select(f'"{imap_folder_name("Thư đã gửi")}"')
            _status, ids = client.search(None, "ALL")
            (number,) = ids[0].split()
            _status, fetched = client.fetch(number, "(RFC822)")
    assert fetched[0][1].replace(b"\r\n", b"\n") == received.content.replace(b"\r\n", b"\n")


def _trusting(pki: Pki):  # type: ignore[no-untyped-def]
    import ssl

    context = ssl.create_default_context(cafile=str(pki.ca_cert))
    context.check_hostname = False
    return context


def test_killed_mid_send_the_next_run_sends_each_part_once_with_the_same_ids(
    tmp_path: Path, pki: Pki, server: SmtpServer
) -> None:
    teacher = _teacher(tmp_path, server, pki, max_message_bytes=1_000_000, timeout=30)
    for week in (12, 13):
        blob(teacher.root / KHBD / f"Tuần {week}" / "Tranh minh hoạ.pdf", 700_000, seed=week)
    server.faults.hang = True
    running = subprocess.Popen(
        hoso_command("--config", str(teacher.config_path), "inspect", "send", "--weeks", "10-13"),
        env=hoso_env({"XDG_CONFIG_HOME": str(teacher.home / "xdg")}),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    assert server.hanging.wait(60), "the first part never reached DATA"
    running.kill()  # SIGKILL while the server holds part 1 (it never answers that DATA)
    running.wait()
    server.faults.hang = False

    history = json.loads(teacher.ok("inspect", "history", "--json"))["submissions"]
    prepared = [m["message_id"] for m in history[0]["messages"]]
    assert len(prepared) == 3 and not any(m["accepted"] for m in history[0]["messages"])

    sent = json.loads(teacher.ok("inspect", "send", "--weeks", "10-13", "--json"))
    received = server.wait_for(3)
    assert sent["complete"]
    assert [read_message(m.content).message_id for m in received] == prepared
    assert all(m.rcpt_tos == (SCHOOL_MAILBOX, MANAGER) for m in received)


def test_a_server_that_stops_answering_is_said_within_seconds_and_the_next_run_resumes(
    tmp_path: Path, pki: Pki, server: SmtpServer
) -> None:
    teacher = _teacher(tmp_path, server, pki)
    good = teacher.smtp
    with StallingSmtpServer("RCPT") as stalling:
        Teacher(  # the same teacher, their mail going to a server that hangs
            teacher.home,
            {"host": "127.0.0.1", "port": stalling.port, "security": "none",
             "username": MAIL_USER, "timeout": 1, "retries": 3},
        )  # fmt: skip
        started = time.monotonic()
        hung = teacher.hoso("inspect", "send", "--weeks", "10-13")
        waited = time.monotonic() - started
    assert hung.returncode == 3, hung.stderr
    assert waited < 20  # the program's start-up, checks and the 1-second timeout
    lines = hung.stderr.strip().splitlines()
    assert lines[0] == f"Connecting to the mail server 127.0.0.1 (port {stalling.port})…"
    assert lines[1].startswith("Sending part 1/1 (") and lines[1].endswith(
        f") to {SCHOOL_MAILBOX}, {MANAGER}…"
    )
    assert lines[2].startswith(
        "Error: The mail server 127.0.0.1 did not answer within 1 seconds "
        "(giving the recipients (RCPT TO))."
    )
    assert "Run the same command again to go on" in lines[2] and len(lines) == 3
    (prepared,) = json.loads(teacher.ok("inspect", "history", "--json"))["submissions"]
    assert not prepared["messages"][0]["accepted"]

    Teacher(teacher.home, good)  # the server answers again
    resumed = json.loads(teacher.ok("inspect", "send", "--weeks", "10-13", "--json"))
    (received,) = server.wait_for(1)
    assert resumed["complete"]
    message_id = prepared["messages"][0]["message_id"]
    assert read_message(received.content).message_id == message_id
    assert resumed["messages"][0]["message_id"] == message_id


def test_oauth2_refresh_token_from_the_vault_logs_in_with_xoauth2(tmp_path: Path, pki: Pki) -> None:
    refresh = "1//hoso-refresh-token-5521"
    client_secret = "hoso-client-secret-0412"

    def token(form: dict[str, str]) -> tuple[int, object]:
        good = form.get("refresh_token") == refresh and form.get("client_secret") == client_secret
        return (200, {"access_token": ACCESS_TOKEN}) if good else (400, {"error": "invalid_grant"})

    with (
        SmtpServer("starttls", pki=pki, auth=("XOAUTH2",)) as server,
        JsonEndpoint(token) as endpoint,
    ):
        teacher = Teacher(
            tmp_path / "lan",
            {
                "host": "localhost",
                "port": server.port,
                "username": MAIL_USER,
                "ca_file": str(pki.ca_cert),
                "retries": 0,
            },
        )
        lesson(teacher.root / KHBD / "Tuần 10" / "Bài 1.docx")
        teacher.ok(
            "vault", "set", "smtp", "--field", "method=xoauth2",
            "--field", f"refresh_url={endpoint.url}", "--field", "client_id=hoso-client",
            stdin=refresh + "\n",
        )  # fmt: skip
        teacher.ok("vault", "set", "smtp-oauth-client", stdin=client_secret + "\n")
        teacher.ok("inspect", "send", "--weeks", "10")
        (received,) = server.wait_for(1)
    assert server.logins == [("XOAUTH2", MAIL_USER)]
    assert received.rcpt_tos == (SCHOOL_MAILBOX, MANAGER)
    for secret in (refresh, client_secret, ACCESS_TOKEN):
        assert not any(secret in output for output in teacher.outputs)


@pytest.mark.skipif(missing_dovecot() is not None, reason=str(missing_dovecot()))
def test_a_sent_folder_copy_that_failed_is_made_by_the_next_run_without_resending(
    tmp_path: Path, pki: Pki, server: SmtpServer
) -> None:
    with ImapServer(pki) as imap:
        teacher = _teacher(
            tmp_path, server, pki, imap_host="localhost", imap_port=free_port(), imap_folder="Sent"
        )
        first = teacher.hoso("inspect", "send", "--weeks", "10-13", "--json")
        assert first.returncode == 1, first.stderr  # sent, but the Sent copy failed
        assert json.loads(first.stdout)["complete"]
        assert not json.loads(first.stdout)["messages"][0]["sent_copy"]
        text = teacher.config_path.read_text(encoding="utf-8")
        port = teacher.config.table("smtp")["imap_port"]
        teacher.config_path.write_text(
            text.replace(f"imap_port = {port}", f"imap_port = {imap.port}"), encoding="utf-8"
        )
        again = json.loads(teacher.ok("inspect", "send", "--weeks", "10-13", "--json"))
        assert again["already_sent"] and again["messages"][0]["sent_copy"]
        assert len(server.received) == 1
        with imaplib.IMAP4_SSL("127.0.0.1", imap.port, ssl_context=_trusting(pki)) as client:
            client.login(MAIL_USER, PASSWORD)
            client.select("Sent")
            _status, ids = client.search(None, "ALL")
    assert len(ids[0].split()) == 1


def test_verify_shows_control_characters_of_a_crafted_email_escaped(
    tmp_path: Path, pki: Pki, server: SmtpServer
) -> None:
    """An .eml is anyone's file: its Message-ID, Date and manifest paths may carry terminal
    control sequences (retitle the window, hide the lines after). Text output escapes them."""
    teacher = _teacher(tmp_path, server, pki)
    out = tmp_path / "outbox"
    (eml,) = json.loads(
        teacher.ok("inspect", "build", "--weeks", "10-11", "--out", str(out), "--json")
    )["files"]
    message = email.message_from_bytes(Path(eml).read_bytes(), policy=policy.default)
    hidden = "\x1b]0;pwned\x07\x1b[8m\x9b2J"
    for part in message.iter_attachments():
        if part.get_filename() == "manifest.json":
            manifest = json.loads(part.get_content())
            manifest["files"][0]["path"] = f"{KHBD}/Tuần 10/{hidden}.docx"
            part.set_content(json.dumps(manifest).encode(), "application", "json",
                             filename="manifest.json")
    del message["Message-ID"], message["Date"]
    message["Message-ID"] = f"<id{hidden}@lan>"
    message["Date"] = f"Fri, 20 Nov 2026 08:00:00 +0700 {hidden}"
    crafted = tmp_path / "crafted.eml"
    crafted.write_bytes(message.as_bytes())

    text = teacher.hoso("inspect", "verify", str(crafted))

    assert text.returncode == 1, text.stderr
    shown = text.stdout + text.stderr
    assert not any(c in shown for c in "\x1b\x07\x9b"), repr(shown)
    assert "\\x1b]0;pwned\\x07\\x1b[8m\\u009b2J.docx" in text.stdout
    as_json = json.loads(teacher.hoso("inspect", "verify", str(crafted), "--json").stdout)
    assert as_json["messages"][0]["files"][0]["path"].endswith(f"{hidden}.docx")


def test_a_plugins_text_output_shows_control_characters_escaped(
    tmp_path: Path, pki: Pki, server: SmtpServer
) -> None:
    """The terminal guard is in front of every command, not only the agent's own."""
    teacher = _teacher(tmp_path, server, pki)
    hostile = "Bài \x1b]0;pwned\x07\x1b[2J\x9b31m.pdf"
    blob(teacher.root / KHBD / "Tuần 12" / hostile, 1_000)

    text = teacher.ok("inspect", "plan", "--weeks", "10-13")
    as_json = json.loads(teacher.ok("inspect", "plan", "--weeks", "10-13", "--json"))

    assert "Bài \\x1b]0;pwned\\x07\\x1b[2J\\u009b31m.pdf" in text
    for raw in ("\x1b", "\x07", "\x9b"):
        assert raw not in text
    assert f"{KHBD}/Tuần 12/{hostile}" in {f["path"] for f in as_json["files"]}
