"""What `hoso init` (and a later sync) says when the share's address or login is wrong.

Issue 17 item 9: each failure says what is wrong in the teacher's terms (the address, the user,
the password they just typed: there is no config file yet, and the password never is in it),
what to do, and exits with the documented code: 2 when the address is wrong, 3 when the share
cannot be reached or refuses the login, 4 for a records folder gone from the share. A failed
init writes nothing: no config, no vault, no records folder, no state folder. Real servers
throughout: the wsgidav/Apache fixtures, plain http servers of the test's own, a FaultServer.
Each message is checked in English and in Vietnamese.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import pty
import re
import shlex
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from agents import Agent, hoso_command, hoso_env, run_hoso
from conftest import Share
from servers import PASSWORD, USER, Answer, FaultServer, free_port

from agent.errors import AuthError, ExitCode

WSGIDAV_ONLY = pytest.mark.parametrize("dav_server", ["wsgidav"], indirect=True)
WSGIDAV_AND_APACHE = pytest.mark.parametrize(
    "dav_server", ["wsgidav", pytest.param("apache", marks=pytest.mark.interop)], indirect=True
)
LANGUAGES = pytest.mark.parametrize("lang", ["en", "vi"])


@dataclass
class Pc:
    """A fresh computer: its own home and XDG folders, so that nothing hoso writes can hide."""

    base: Path

    def __post_init__(self) -> None:
        self.home = self.base / "home"
        self.home.mkdir()
        self.config = self.base / "cfg" / "agent.toml"
        self.root = self.base / "HoSo"

    def env(self, lang: str, **extra: str) -> dict[str, str]:
        return {
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.base / "xdg-config"),
            "XDG_STATE_HOME": str(self.base / "xdg-state"),
            "XDG_DATA_HOME": str(self.base / "xdg-data"),
            "LANGUAGE": lang,
            **extra,
        }

    def init(
        self, url: str, *extra: str, lang: str = "en", password: str = PASSWORD, user: str = USER
    ) -> subprocess.CompletedProcess[str]:
        args = ["--config", str(self.config), "init", "--root", str(self.root), "--url", url]
        args += ["--user", user] if user else []
        return run_hoso(
            *args, *extra, env=self.env(lang, HOSO_WEBDAV_PASSWORD=password), timeout=60
        )

    def cli(self, *args: str, lang: str = "en", stdin: str | None = None):
        return subprocess.run(
            hoso_command("--config", str(self.config), *args),
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            env=hoso_env(self.env(lang)),
            timeout=120,
        )

    def assert_nothing_written(self, result: subprocess.CompletedProcess[str]) -> None:
        assert not self.config.parent.exists(), "a config or vault was written"
        assert not self.root.exists(), "the records folder was created"
        for name in ("xdg-config", "xdg-state", "xdg-data"):
            assert not (self.base / name).exists(), f"{name} was written"
        assert list(self.home.iterdir()) == []
        assert "Traceback" not in result.stderr
        assert PASSWORD not in result.stdout + result.stderr


def said(lang: str, en: str, vi: str) -> str:
    return en if lang == "en" else vi


def assert_said(text: str, lang: str, en: str, vi: str) -> None:
    assert said(lang, en, vi) in text, text


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one message, on one line (the terminal may wrap nothing: click prints as is)."""
    assert result.stdout == "", result.stdout
    return " ".join(result.stderr.split())


def assert_points_nowhere_wrong(text: str) -> None:
    """The password is never in the config file, and there is none yet: never send a person
    there, nor to certificates when no certificate is involved."""
    for wrong in ("config file", "tệp cấu hình", "agent.toml"):
        assert wrong not in text, text


@pytest.fixture
def pc(tmp_path: Path) -> Pc:
    return Pc(tmp_path)


def folder_url(share: Share) -> str:
    return f"{share.url}{share.remote_dir}/"


# --- a refused login -------------------------------------------------------------------------


@WSGIDAV_AND_APACHE
@LANGUAGES
def test_a_wrong_password_at_init_names_the_user_and_where_the_password_came_from(
    pc: Pc, share: Share, lang: str
) -> None:
    result = pc.init(folder_url(share), password="wrong-pw", lang=lang)
    assert result.returncode == ExitCode.UNREACHABLE, result.stderr
    text = error_line(result)
    assert_said(
        text,
        lang,
        f"refused user {USER} with the password in HOSO_WEBDAV_PASSWORD (HTTP 401)",
        f"từ chối người dùng {USER} với mật khẩu trong biến HOSO_WEBDAV_PASSWORD (HTTP 401)",
    )
    assert said(lang, "Nothing was written.", "Chưa ghi gì.") in text
    assert "wrong-pw" not in text
    assert_points_nowhere_wrong(text)
    pc.assert_nothing_written(result)


def init_at_a_terminal(pc: Pc, url: str, typed: str, lang: str) -> tuple[int, str]:
    """`hoso init` run as a teacher runs it: at a terminal, typing the password."""
    leader, follower = pty.openpty()
    env = hoso_env(pc.env(lang))
    args = ["--config", str(pc.config), "init", "--root", str(pc.root), "--url", url]
    # A session of its own: getpass reads this pseudo-terminal, never the developer's.
    process = subprocess.Popen(
        hoso_command(*args, "--user", USER),
        stdin=follower,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        start_new_session=True,
    )
    os.close(follower)
    assert process.stderr is not None
    try:
        # Typed once the prompt is shown: getpass flushes what was typed before it.
        prompt = b""
        while not prompt.endswith(b": "):
            chunk = os.read(process.stderr.fileno(), 1024)
            assert chunk, f"hoso ended without asking for the password: {prompt!r}"
            prompt += chunk
        os.write(leader, typed.encode() + b"\n")
        _out, err = process.communicate(timeout=60)
    finally:
        os.close(leader)
        process.kill()
    return process.returncode, " ".join((prompt + err).decode().split())


@WSGIDAV_ONLY
@LANGUAGES
def test_a_wrong_password_typed_at_init_says_retype_it(pc: Pc, share: Share, lang: str) -> None:
    code, text = init_at_a_terminal(pc, folder_url(share), "wrong-pw", lang)
    assert code == ExitCode.UNREACHABLE, text
    assert_said(
        text,
        lang,
        f"refused user {USER} with this password (HTTP 401). Nothing was written. Run "
        "`hoso init` again and retype the password",
        f"từ chối người dùng {USER} với mật khẩu này (HTTP 401). Chưa ghi gì. Hãy chạy lại "
        "`hoso init` và gõ lại mật khẩu",
    )
    assert "wrong-pw" not in text
    assert_points_nowhere_wrong(text)
    assert not pc.config.parent.exists() and not pc.root.exists()


@WSGIDAV_ONLY
def test_no_user_name_at_init_asks_for_one(pc: Pc, share: Share) -> None:
    result = pc.init(folder_url(share), user="")
    assert result.returncode == ExitCode.UNREACHABLE, result.stderr
    text = error_line(result)
    assert "no user name was given" in text and "--user YOUR_LOGIN" in text, text
    pc.assert_nothing_written(result)


@WSGIDAV_ONLY
@LANGUAGES
def test_a_password_changed_after_init_points_to_the_vault(pc: Pc, share: Share, lang: str) -> None:
    # Nothing pinned at init: the later command speaks its own session's language.
    assert pc.init(folder_url(share), lang=lang).returncode == 0
    stored = pc.cli("vault", "set", "webdav", stdin="an-old-password\n")
    assert stored.returncode == 0, stored.stderr

    refused = pc.cli("sync", lang=lang)
    assert refused.returncode == ExitCode.UNREACHABLE, refused.stderr
    text = " ".join(refused.stderr.split())
    assert_said(
        text,
        lang,
        f"refused the login of {USER} (HTTP 401): the password hoso keeps for it is wrong or "
        "was changed. Store the current password with `hoso vault set webdav`",
        f"từ chối đăng nhập của {USER} (HTTP 401): mật khẩu hoso đang lưu không đúng hoặc đã "
        "bị đổi. Hãy lưu mật khẩu hiện tại bằng `hoso vault set webdav`",
    )
    assert_points_nowhere_wrong(text)
    assert "an-old-password" not in text

    # The advice works: the current password stored that way opens the share again.
    assert pc.cli("vault", "set", "webdav", stdin=PASSWORD + "\n").returncode == 0
    synced = pc.cli("sync", "--json")
    assert synced.returncode == 0, synced.stderr
    assert (pc.root / ".hoso-root").is_file()


# --- an address that is not the share ---------------------------------------------------------


@WSGIDAV_AND_APACHE
@LANGUAGES
def test_an_address_not_on_the_server_says_which_part_to_check(
    pc: Pc, share: Share, lang: str
) -> None:
    dav_files = "remote.php/dav/files"
    for level in ("remote.php", "remote.php/dav", dav_files, f"{dav_files}/{USER}"):
        status, _ = share.server.request("MKCOL", f"{share.remote_dir}/{level}/")
        assert status == 201, (level, status)
    typo = f"{share.url}{share.remote_dir}/{dav_files}/{USER}n/"

    result = pc.init(typo, lang=lang)
    assert result.returncode == ExitCode.USAGE, result.stderr
    text = error_line(result)
    assert_said(
        text,
        lang,
        f"The address {typo} was not found on the server 127.0.0.1. Nothing was written. "
        "Check the address: the part after /dav/files/ is usually your login",
        f"Không tìm thấy địa chỉ {typo} trên máy chủ 127.0.0.1. Chưa ghi gì. Vui lòng kiểm tra "
        "địa chỉ: phần sau /dav/files/ thường là tên đăng nhập của thầy/cô",
    )
    # The likely right one, for this user:
    assert f"{share.url}{share.remote_dir}/{dav_files}/{USER}/" in text
    assert " / " not in text and "is not on the share" not in text
    assert_points_nowhere_wrong(text)
    pc.assert_nothing_written(result)
    assert sorted(p.name for p in (share.path / "remote.php/dav/files").iterdir()) == [USER]


@WSGIDAV_AND_APACHE
def test_an_address_of_a_file_is_not_a_records_folder(pc: Pc, share: Share) -> None:
    status, _ = share.server.request("PUT", f"{share.remote_dir}/Bài 1.docx", b"lesson")
    assert status in (200, 201, 204)
    url = f"{share.url}{share.remote_dir}/B%C3%A0i%201.docx"

    result = pc.init(url)
    assert result.returncode == ExitCode.USAGE, result.stderr
    text = error_line(result)
    assert f"{url} is a file on the share, not a folder" in text, text
    pc.assert_nothing_written(result)
    assert (share.path / "Bài 1.docx").read_bytes() == b"lesson"


@LANGUAGES
def test_an_address_without_http_suggests_the_right_one(pc: Pc, lang: str) -> None:
    typed = "cloud.truong.edu.vn/remote.php/dav/files/lan/"
    result = pc.init(typed, lang=lang)
    assert result.returncode == ExitCode.USAGE, result.stderr
    text = error_line(result)
    assert_said(
        text,
        lang,
        f"The share's address must begin with https:// (or http://): {typed} does not. "
        f"Run `hoso init` again with --url https://{typed}",
        f"Địa chỉ thư mục chung phải bắt đầu bằng https:// (hoặc http://), nhưng {typed} thì "
        f"không. Hãy chạy lại `hoso init` với --url https://{typed}",
    )
    assert_points_nowhere_wrong(text)
    pc.assert_nothing_written(result)


def test_a_wrong_address_or_an_existing_config_is_said_before_the_password_is_asked(
    pc: Pc,
) -> None:
    """Nobody types a password only to learn that the address is mistyped (here: no
    password anywhere and no terminal, which would be refused for the password)."""
    typed = "cloud.truong.edu.vn/remote.php/dav/files/lan/"
    args = ("init", "--root", str(pc.root), "--url", typed, "--user", USER)
    result = pc.cli(*args)
    assert result.returncode == ExitCode.USAGE
    assert "must begin with https://" in error_line(result)
    pc.assert_nothing_written(result)

    pc.config.parent.mkdir()
    pc.config.write_text("# a teacher's config\n")
    result = pc.cli("init", "--root", str(pc.root), "--url", f"https://{typed}", "--user", USER)
    assert result.returncode == ExitCode.USAGE
    assert "A config already exists" in error_line(result)
    assert pc.config.read_text() == "# a teacher's config\n"


TYPED_SECRET = "S3cretPw"


@pytest.mark.parametrize(
    "url",
    [
        f"https://lan:{TYPED_SECRET}#1@cloud.truong.edu.vn/",  # "#" in the password
        f"https://lan:{TYPED_SECRET}?1@cloud.truong.edu.vn/",  # "?" in the password
        f"https://lan:{TYPED_SECRET}/1@cloud.truong.edu.vn/",  # "/" in the password
        f"https://lan:{TYPED_SECRET}@[cloud.truong.edu.vn/",  # an unclosed "["
        f"lan:{TYPED_SECRET}#1@cloud.truong.edu.vn",  # no scheme
    ],
)
def test_a_password_typed_into_the_address_is_refused_and_never_echoed(pc: Pc, url: str) -> None:
    """urlsplit sees no user in these (the password's "#", "?" or "/" ends the host early, an
    unclosed "[" raises): the address must be refused for its password all the same, and never
    quoted in the message."""
    result = pc.init(url)
    assert result.returncode == ExitCode.USAGE, result.stderr
    text = error_line(result)
    assert "The address given with --url holds a user name or password." in text, text
    assert TYPED_SECRET not in result.stdout + result.stderr
    pc.assert_nothing_written(result)


def test_an_e_mail_login_in_the_path_is_not_taken_for_a_password() -> None:
    from agent.onboarding import check_address

    check_address("https://cloud.truong.edu.vn:8443/remote.php/dav/files/lan@truong.edu.vn/")
    check_address("https://[fd00::5]/remote.php/dav/files/lan@truong.edu.vn/")


@WSGIDAV_ONLY
@LANGUAGES
def test_https_to_a_plain_http_server_says_so_not_certificates(
    pc: Pc, share: Share, lang: str
) -> None:
    url = folder_url(share).replace("http://", "https://")
    result = pc.init(url, lang=lang)
    assert result.returncode == ExitCode.USAGE, result.stderr
    text = error_line(result)
    assert_said(
        text,
        lang,
        f"The server 127.0.0.1 does not speak https:// at {url}: it answers in plain http. "
        f"Nothing was written. Its address is probably {folder_url(share)}",
        f"Máy chủ 127.0.0.1 không dùng https:// ở {url}: nó trả lời bằng http thường. "
        f"Chưa ghi gì. Địa chỉ đúng có lẽ là {folder_url(share)}",
    )
    # This computer's own share: the clear-text rule does not apply, so it is not mentioned.
    assert "--allow-insecure-http" not in text
    assert "certificate" not in text and "chứng chỉ" not in text
    pc.assert_nothing_written(result)


def this_computers_lan_address() -> str | None:
    """An address of this computer that is not loopback (None when it has none)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: only a route is chosen
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") else address


@contextlib.contextmanager
def plain_web_server(host: str = "127.0.0.1") -> Iterator[str]:
    """Python's own web server (no WebDAV: PROPFIND is 501) on ``host``; yields its URL."""
    server = http.server.ThreadingHTTPServer((host, 0), QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return


@LANGUAGES
def test_https_to_plain_http_on_another_computer_mentions_the_clear_text_rule(
    pc: Pc, lang: str
) -> None:
    address = this_computers_lan_address()
    if address is None:
        pytest.skip("this computer has no network address other than loopback")
    with plain_web_server("0.0.0.0") as url:
        port = url.rstrip("/").rsplit(":", 1)[1]
        result = pc.init(f"https://{address}:{port}/dav/", lang=lang)
    assert result.returncode == ExitCode.USAGE, result.stderr
    text = error_line(result)
    assert f"http://{address}:{port}/dav/" in text, text
    assert_said(
        text,
        lang,
        "hoso accepts that only with --allow-insecure-http",
        "hoso chỉ chấp nhận điều đó khi có --allow-insecure-http",
    )
    pc.assert_nothing_written(result)


# --- a server that is not a WebDAV share -------------------------------------------------------


@LANGUAGES
def test_a_plain_web_server_is_not_a_share(pc: Pc, lang: str) -> None:
    with plain_web_server() as url:
        result = pc.init(url + "dav/", lang=lang)
    assert result.returncode == ExitCode.USAGE, result.stderr
    text = error_line(result)
    assert_said(
        text,
        lang,
        f"{url}dav/ is not a WebDAV share: the server answered HTTP 501",
        f"{url}dav/ không phải thư mục chung WebDAV: máy chủ trả lời HTTP 501",
    )
    assert said(lang, "Nothing was written.", "Chưa ghi gì.") in text
    pc.assert_nothing_written(result)


@pytest.mark.parametrize(
    "answer",
    [
        Answer(405, {"Allow": "GET, HEAD"}),
        Answer(200, {"Content-Type": "text/html"}, "<html><body>Trang chủ</body></html>".encode()),
    ],
    ids=["405", "200-html"],
)
def test_a_web_page_answering_propfind_is_not_a_share(
    pc: Pc, fault_server: FaultServer, answer: Answer
) -> None:
    fault_server.script("PROPFIND", "/dav/", answer)
    result = pc.init(fault_server.url + "dav/")
    assert result.returncode == ExitCode.USAGE, result.stderr
    text = error_line(result)
    assert f"{fault_server.url}dav/ is not a WebDAV share" in text, text
    assert f"HTTP {answer.status}" in text
    assert not fault_server.requests_for("MKCOL") and not fault_server.requests_for("PUT")
    pc.assert_nothing_written(result)


def test_an_answer_that_cannot_be_trusted_says_what_was_wrong(
    pc: Pc, fault_server: FaultServer
) -> None:
    broken = b"<d:multistatus xmlns:d='DAV:'><d:response>"  # cut off: not XML
    fault_server.script("PROPFIND", "/dav/", Answer(207, body=broken))
    result = pc.init(fault_server.url + "dav/")
    assert result.returncode == ExitCode.USAGE, result.stderr
    text = error_line(result)
    assert f"The server at {fault_server.url}dav/ answered in a way hoso cannot trust: " in text
    assert "Nothing was written. Check that this is the share's WebDAV address" in text, text
    assert "next pass" not in text  # init makes no passes
    pc.assert_nothing_written(result)


@LANGUAGES
def test_a_redirect_to_a_login_page_is_not_followed(
    pc: Pc, fault_server: FaultServer, lang: str
) -> None:
    fault_server.script("PROPFIND", "/dav/", Answer(302, {"Location": "/login?next=/dav/"}))
    result = pc.init(fault_server.url + "dav/", lang=lang)
    assert result.returncode == ExitCode.USAGE, result.stderr
    text = error_line(result)
    assert_said(
        text,
        lang,
        f"{fault_server.url}dav/ is not the share's address: the server sends it on to "
        f"{fault_server.url}login?next=/dav/",
        f"{fault_server.url}dav/ không phải địa chỉ của thư mục chung: máy chủ chuyển nó sang "
        f"{fault_server.url}login?next=/dav/",
    )
    assert [r.path for r in fault_server.received] == ["/dav/"]  # the login went nowhere else
    pc.assert_nothing_written(result)


def test_a_redirect_to_https_suggests_that_address(pc: Pc, fault_server: FaultServer) -> None:
    https = fault_server.url.replace("http://", "https://") + "dav/"
    fault_server.script("PROPFIND", "/dav/", Answer(301, {"Location": https}))
    result = pc.init(fault_server.url + "dav/")
    assert result.returncode == ExitCode.USAGE, result.stderr
    text = error_line(result)
    assert f"Run `hoso init` again with --url {https}" in text, text
    pc.assert_nothing_written(result)


# --- a share that cannot be reached --------------------------------------------------------


@LANGUAGES
def test_nothing_listening_names_the_host_and_port(pc: Pc, lang: str) -> None:
    port = free_port()
    result = pc.init(f"http://127.0.0.1:{port}/dav/", lang=lang)
    assert result.returncode == ExitCode.UNREACHABLE, result.stderr
    text = error_line(result)
    assert_said(
        text,
        lang,
        f"nothing answers at 127.0.0.1 on port {port}",
        f"không có gì trả lời ở 127.0.0.1 cổng {port}",
    )
    assert_said(
        text,
        lang,
        "Nothing was written; run `hoso init` again once it is solved.",
        "Chưa ghi gì; hãy chạy lại `hoso init` khi đã khắc phục xong.",
    )
    assert "will try again" not in text  # init does not: the teacher does
    pc.assert_nothing_written(result)


def test_a_server_name_that_does_not_exist(pc: Pc) -> None:
    # .invalid never resolves (RFC 6761), with or without a network.
    result = pc.init("https://khong-co-may-nay.invalid/remote.php/dav/files/lan/")
    assert result.returncode == ExitCode.UNREACHABLE, result.stderr
    text = error_line(result)
    assert "the server name khong-co-may-nay.invalid cannot be found" in text, text
    assert "typo in the address" in text
    pc.assert_nothing_written(result)


# --- the records folder moved away on the share -------------------------------------------------


def init_command_in(message: str) -> list[str]:
    found = re.search(r"`(hoso init --force [^`]*)`", message)
    assert found, message
    return shlex.split(found.group(1))[1:]


@WSGIDAV_AND_APACHE
@LANGUAGES
def test_a_records_folder_moved_on_the_share_stops_and_says_how_to_follow_it(
    pc: Pc, share: Share, lang: str
) -> None:
    state = pc.base / "state"
    assert pc.init(folder_url(share), "--state-dir", str(state), lang=lang).returncode == 0
    lessons = {"Tuần 1/KHBD Toán.docx": b"toan", "Tuần 1/KHBD Tiếng Việt.docx": b"tieng viet"}
    for rel, data in lessons.items():
        (pc.root / rel).parent.mkdir(parents=True, exist_ok=True)
        (pc.root / rel).write_bytes(data)
    assert pc.cli("sync").returncode == 0

    moved = f"{share.remote_dir}-2026"
    status, _ = share.server.request(
        "MOVE", share.remote_dir + "/", headers={"Destination": f"{share.url}{moved}/"}
    )
    assert status in (201, 204), status

    stopped = pc.cli("sync", lang=lang)
    assert stopped.returncode == ExitCode.SAFETY_STOP, stopped.stderr
    text = " ".join(stopped.stderr.split())
    gone = folder_url(share).rstrip("/")
    assert_said(
        text,
        lang,
        f"The records folder on the share, {gone}, is gone or was moved: the share says it is "
        "not there, yet 3 files and folders were synced with it. Nothing was deleted, here or "
        "on the share. Ask the school's IT admin where the folder went.",
        f"Thư mục hồ sơ {gone} trên thư mục chung của trường đã mất hoặc bị chuyển đi: máy chủ "
        "báo không có thư mục này, trong khi đã có 3 tệp và thư mục được đồng bộ với nó. Chưa "
        "có gì bị xóa, cả ở máy này lẫn trên thư mục chung. Vui lòng hỏi người phụ trách máy "
        "chủ của trường xem thư mục đã được chuyển đi đâu.",
    )
    assert "The folder / no longer exists" not in text
    for rel, data in lessons.items():  # nothing deleted here, nothing lost there
        assert (pc.root / rel).read_bytes() == data
        assert (share.path.with_name(moved) / rel).read_bytes() == data
    assert not share.path.exists()

    # The command the message gives, with the new address, follows the folder: no transfer,
    # no conflict, nothing deleted.
    new_address = said(lang, "NEW_ADDRESS", "ĐỊA_CHỈ_MỚI")
    command = [a.replace(new_address, f"{share.url}{moved}/") for a in init_command_in(text)]
    assert f"{share.url}{moved}/" in command
    again = run_hoso(
        "--config", str(pc.config), *command, env=pc.env("en", HOSO_WEBDAV_PASSWORD=PASSWORD)
    )
    assert again.returncode == 0, again.stderr
    synced = pc.cli("sync", "--json")
    assert synced.returncode == 0, synced.stderr
    report = json.loads(synced.stdout)
    for key in ("uploaded", "downloaded", "deleted_local", "deleted_remote", "conflicts"):
        assert report[key] == [], (key, report)
    for rel, data in lessons.items():
        assert (pc.root / rel).read_bytes() == data
        assert (share.path.with_name(moved) / rel).read_bytes() == data


@WSGIDAV_ONLY
def test_https_to_plain_http_after_init_is_an_unreachable_share_with_its_reason(
    pc: Pc, share: Share
) -> None:
    assert pc.init(folder_url(share)).returncode == 0
    # Someone "secures" the address in the config; the server still speaks plain http.
    https = folder_url(share).replace("http://", "https://")
    pc.config.write_text(pc.config.read_text().replace(folder_url(share), https))

    result = pc.cli("sync")
    assert result.returncode == ExitCode.UNREACHABLE, result.stderr
    text = " ".join(result.stderr.split())
    assert f"The server at {https} answers in plain http, not https://" in text, text
    assert f"(it may be {folder_url(share)})" in text and "certificate" not in text

    status = pc.cli("status")
    assert "the share could not be reached" in status.stdout, status.stdout
    assert "answers in plain http" in status.stdout


@WSGIDAV_ONLY
def test_a_running_agent_uses_the_password_stored_after_a_refusal(
    tmp_path: Path, share: Share
) -> None:
    """`hoso run` keeps one Syncer: after a refused login its next pass must read the vault
    again, or the advice (`hoso vault set webdav`) would only work after a restart."""
    agent = Agent(tmp_path, share, password="an-old-password")
    agent.write("Tuần 1/KHBD.docx", b"lesson")
    with agent.syncer() as syncer:
        with pytest.raises(AuthError) as refused:
            syncer.run_pass()
        assert "hoso vault set webdav" in str(refused.value)

        stored = subprocess.run(
            hoso_command("--config", str(agent.config_path), "vault", "set", "webdav"),
            input=PASSWORD + "\n",
            capture_output=True,
            text=True,
            env=hoso_env(),
            timeout=60,
        )
        assert stored.returncode == 0, stored.stderr

        result = syncer.run_pass()
    assert result.outcome == "ok", result.report.to_json()
    assert (share.path / "Tuần 1/KHBD.docx").read_bytes() == b"lesson"
