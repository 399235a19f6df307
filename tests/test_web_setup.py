"""*Cài đặt* on the teacher's page: the first-run wizard, the settings, the handover steps.

Real parts throughout: the wsgidav share, the page served in-process for a config path that
does not exist yet (as `hoso ui` serves it before `hoso init`), Debian's Chromium. The
wizard must check the password on the share before it writes anything, write exactly what
`hoso init` writes after, and never put the password (or any other secret) into the page.
"""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from agents import Agent, run_hoso
from conftest import Share
from playwright.sync_api import expect
from servers import ROOT, Answer, FaultServer, dav_response, free_port, multistatus
from webui import Client, login_url, screenshot, served

from agent.config import Config, SchoolFolderConfig
from agent.roles import Roles, School
from agent.vault import Vault, key_file_path, vault_path
from agent.web.pages import setup_settings


@pytest.fixture
def fresh_pc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A computer before `hoso init`: its own home and XDG folders, nothing in them."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
    return tmp_path


def test_the_wizard_checks_the_password_before_writing(
    fresh_pc: Path, wsgidav_share: Share, browser_page: Any
) -> None:
    share = wsgidav_share
    config = fresh_pc / "cfg" / "hoso" / "agent.toml"
    state, root = fresh_pc / "state", fresh_pc / "home" / "HoSo"
    share.server.request("PUT", f"{share.remote_dir}/Kế hoạch tuần 1.docx", b"KHBD tuan 1")
    wrong = "sai-mat-khau-123"
    with served(config, state) as page:
        phone = browser_page("phone")
        phone.goto(login_url(state, page.port))
        expect(phone.locator("h1")).to_have_text("Cài đặt hoso")  # every page leads here
        screenshot(phone, "setup-wizard")
        tab = browser_page("laptop")
        tab.goto(login_url(state, page.port, "/setup/"))
        expect(tab.locator("h1")).to_have_text("Cài đặt hoso")
        assert tab.locator("nav.menu a").all_inner_texts() == ["Cài đặt"]
        screenshot(tab, "setup-wizard")
        tab.get_by_label("Địa chỉ thư mục chung").fill(f"{share.url}{share.remote_dir}/")
        tab.get_by_label("Tên đăng nhập").fill(share.user)
        tab.get_by_label("Mật khẩu").fill(wrong)
        tab.get_by_label("Thư mục hồ sơ trên máy này").fill("~/HoSo")
        tab.get_by_role("button", name="Kiểm tra và cài đặt").click()

        problem = tab.locator("#setup-problem")
        expect(problem).to_contain_text("từ chối")
        expect(problem).to_contain_text(share.user)
        assert "hoso init" not in problem.inner_text()  # the page's words, not the terminal's
        screenshot(tab, "setup-wizard-refused")
        # Nothing written: no config, no vault, no records folder; the password not echoed.
        assert not config.parent.exists() and not root.exists()
        assert wrong not in tab.content()
        assert tab.get_by_label("Mật khẩu").input_value() == ""
        assert tab.get_by_label("Tên đăng nhập").input_value() == share.user

        tab.get_by_label("Mật khẩu").fill(share.password)
        tab.get_by_role("button", name="Kiểm tra và cài đặt").click()
        expect(tab.locator("h1")).to_have_text("hoso đã được cài đặt")
        expect(tab.locator(".flash.done")).to_contain_text(str(root))
        assert share.password not in tab.content()
        screenshot(tab, "setup-next")
        phone.goto(f"{page.url}setup/next")
        expect(phone.locator("h1")).to_have_text("hoso đã được cài đặt")
        screenshot(phone, "setup-next")

        # Written as `hoso init` writes: the config (0600, no password, no pinned language),
        # the vault's webdav entry, the records folder.
        written = tomllib.loads(config.read_text(encoding="utf-8"))
        assert written["root"] == str(root) and root.is_dir()
        assert written["remote"]["url"] == f"{share.url}{share.remote_dir}/"
        assert written["remote"]["user"] == share.user
        assert written["state_dir"] == str(state)
        assert "language" not in written
        for file in (config, vault_path_of(config), key_file_path_of(config)):
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
            assert share.password.encode() not in file.read_bytes(), file

        status = run_hoso("--config", str(config), "status")
        assert status.returncode == 0, status.stderr
        assert share.password not in status.stdout + status.stderr

        # No agent runs: the page offers the first sync, which brings the share's record.
        tab.get_by_role("button", name="Đồng bộ ngay").click()
        expect(tab.locator(".task-result")).to_contain_text("1 tệp được đưa về máy này")
        assert (root / "Kế hoạch tuần 1.docx").read_bytes() == b"KHBD tuan 1"


def test_the_wizard_says_what_is_wrong_and_writes_nothing(fresh_pc: Path) -> None:
    """Raw posts, as a browser would send them: each mistake answered in the page's own
    words (no `hoso init` options), nothing written, the password never sent back."""
    config, state = fresh_pc / "cfg" / "agent.toml", fresh_pc / "state"
    secret = "mat-khau-bi-mat-5521"
    closed = f"http://127.0.0.1:{free_port()}/dav/"
    cases = [
        ("", "Hãy gõ địa chỉ thư mục chung"),
        ("cloud.truong.edu.vn/dav/", "Có phải thầy/cô định gõ https://cloud.truong.edu.vn/dav/"),
        (f"https://lan:{secret}@cloud.truong.edu.vn/dav/", "ô “Mật khẩu”"),
        (closed, "Chưa ghi gì; hãy thử lại khi vấn đề đã được khắc phục."),
    ]
    with served(config, state) as page:
        client = Client(page.port)
        client.log_in(state)
        _, _, html = client.request("GET", "/setup/")
        token = html.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        for url, said in cases:
            form = urlencode(
                {"csrf": token, "url": url, "user": "lan", "password": secret, "root": "~/HoSo"}
            )
            status, _, html = client.request("POST", "/setup/", body=form)
            assert status == 400, url
            assert said in html, (url, html)
            assert secret not in html and "hoso init" not in html, url
            assert not config.parent.exists() and not (fresh_pc / "home" / "HoSo").exists()


@pytest.mark.parametrize("root", ["/", "~", "~/", "STATE", "STATE/HoSo", "STATE/.."])
def test_a_records_folder_that_would_sync_the_whole_computer_is_refused(
    fresh_pc: Path, wsgidav_share: Share, root: str
) -> None:
    """The records folder is synced both ways and its deletions follow the share: the whole
    disk, the home folder, or hoso's own state folder (journal, trash, vault) never is one."""
    share = wsgidav_share
    config, state = fresh_pc / "cfg" / "agent.toml", fresh_pc / "state"
    typed = root.replace("STATE", str(state))
    with served(config, state) as page:
        client = Client(page.port)
        client.log_in(state)
        _, _, html = client.request("GET", "/setup/")
        token = html.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        form = {"csrf": token, "url": f"{share.url}{share.remote_dir}/", "user": share.user}
        form.update(password=share.password, root=typed)
        status, _, html = client.request("POST", "/setup/", body=urlencode(form))
    assert status == 400 and "không thể là thư mục hồ sơ" in html, html
    assert not config.exists() and not vault_path_of(config).exists()
    assert not (state / "HoSo").exists()


@pytest.mark.parametrize(
    "field, value", [("user", "lan\x00"), ("root", "~/Ho\nSo"), ("url", "https://x.vn/d\x07av/")]
)
def test_a_control_character_typed_in_the_wizard_is_said_not_a_fault(
    fresh_pc: Path, field: str, value: str
) -> None:
    config, state = fresh_pc / "cfg" / "agent.toml", fresh_pc / "state"
    with served(config, state) as page:
        client = Client(page.port)
        client.log_in(state)
        _, _, html = client.request("GET", "/setup/")
        token = html.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        form = {"csrf": token, "url": "https://x.vn/dav/", "user": "lan", "root": "~/HoSo"}
        form.update({field: value}, password="mat-khau")
        status, _, html = client.request("POST", "/setup/", body=urlencode(form))
    assert status == 400 and "ký tự điều khiển" in html, html
    assert not config.parent.exists() and not (fresh_pc / "home" / "HoSo").exists()


def test_a_locked_vault_of_an_earlier_setup_stops_the_wizard_before_the_config(
    tmp_path: Path, wsgidav_share: Share
) -> None:
    """The config was deleted to start again, but the vault (state folder) and its key,
    protected by a passphrase, stayed: the password cannot be stored, so no config either
    (it would say hoso is set up, with no way to give the password)."""
    share = wsgidav_share
    agent = Agent(tmp_path, share, language="vi")
    Vault.open(agent.config, create=True).set("webdav", "mat-khau-cu", {})
    protect = agent.cli("vault", "protect", env={"HOSO_VAULT_NEW_PASSPHRASE": "khóa kho 2026"})
    assert protect.returncode == 0, protect.stderr
    agent.config_path.unlink()
    with served(agent.config_path, agent.state_dir) as page:
        client = Client(page.port)
        client.log_in(agent.state_dir)
        _, _, html = client.request("GET", "/setup/")
        token = html.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        form = {"csrf": token, "url": f"{share.url}{share.remote_dir}/", "user": share.user}
        form.update(password=share.password, root=str(tmp_path / "Mới"))
        status, _, html = client.request("POST", "/setup/", body=urlencode(form))
    assert status == 400 and 'id="setup-problem"' in html and "kho mật khẩu" in html, html
    assert not agent.config_path.exists() and not (tmp_path / "Mới").exists()


def test_a_config_written_meanwhile_is_never_replaced(fresh_pc: Path) -> None:
    """`hoso init` in a terminal (or the wizard in another tab) finishes while the wizard
    checks the login: the wizard writes neither its config nor its password over it."""
    config, state = fresh_pc / "cfg" / "agent.toml", fresh_pc / "state"
    theirs = '# written by `hoso init` meanwhile\nroot = "/home/lan/HoSo"\n'

    def listing_after_their_init() -> Any:
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(theirs, encoding="utf-8")
        yield multistatus(dav_response(f"/{ROOT}/", "r", folder=True))

    fault = FaultServer().start()
    try:
        fault.script("PROPFIND", ROOT, Answer(207, stream=listing_after_their_init))
        with served(config, state) as page:
            client = Client(page.port)
            client.log_in(state)
            _, _, html = client.request("GET", "/setup/")
            token = html.split('name="csrf" value="', 1)[1].split('"', 1)[0]
            form = {"csrf": token, "url": f"{fault.url}{ROOT}/", "user": "lan"}
            form.update(password="mat-khau-cua-trang", root="~/HoSo")
            status, _, html = client.request("POST", "/setup/", body=urlencode(form))
    finally:
        fault.stop()
    assert status == 400 and "hoso đã được cài đặt trên máy này" in html, html
    assert config.read_text(encoding="utf-8") == theirs
    assert not vault_path_of(config).exists() and not (fresh_pc / "home" / "HoSo").exists()


def test_the_wizards_language_choice_is_pinned(fresh_pc: Path, wsgidav_share: Share) -> None:
    share = wsgidav_share
    config, state = fresh_pc / "cfg" / "agent.toml", fresh_pc / "state"
    with served(config, state) as page:
        client = Client(page.port)
        client.log_in(state)
        _, _, html = client.request("GET", "/setup/")
        token = html.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        form = {
            "csrf": token,
            "url": f"{share.url}{share.remote_dir}/",
            "user": share.user,
            "password": share.password,
            "root": "HoSo",  # under the home folder
            "language": "en",
        }
        status, headers, _ = client.request("POST", "/setup/", body=urlencode(form))
        assert status == 303 and headers["location"] == "/setup/next"
    written = tomllib.loads(config.read_text(encoding="utf-8"))
    assert written["language"] == "en"
    assert written["root"] == str(fresh_pc / "home" / "HoSo")


def vault_path_of(config: Path) -> Path:
    return config.with_name("agent.vault")


def key_file_path_of(config: Path) -> Path:
    return config.with_name("agent.vault-key")


SCHOOL = {
    "name": "Trường Tiểu học Hòa Bình",
    "mailbox": "th.hoabinh@hcm.edu.vn",
    "mailbox_keeper": {"name": "Nguyễn Văn An", "position": "Văn thư"},
}
MAIL_SECRET = "mat-khau-hop-thu-9f3a"
MAILBOX_SECRET = "mat-khau-truong-77c1"


@pytest.fixture
def teacher(tmp_path: Path, wsgidav_share: Share) -> Agent:
    agent = Agent(tmp_path, wsgidav_share, language="vi", school=SCHOOL)
    agent.sync()  # the share's password moves into the vault
    vault = Vault.open(agent.config, create=True)
    vault.set("smtp", MAIL_SECRET, {"username": "lan@truong.edu.vn"})
    vault.set("school-mailbox", MAILBOX_SECRET, {"address": SCHOOL["mailbox"]})
    return agent


def test_the_settings_show_where_each_value_comes_from_and_no_secret(
    teacher: Agent, browser_page: Any
) -> None:
    secrets = [teacher.share.password, MAIL_SECRET, MAILBOX_SECRET]
    assert vault_path(teacher.config).is_file() and key_file_path(teacher.config).is_file()
    key = key_file_path(teacher.config).read_text(encoding="utf-8")
    with served(teacher.config_path, teacher.state_dir) as page:
        client = Client(page.port)
        client.log_in(teacher.state_dir)
        for path in ("/setup/", "/handover/", "/setup/next"):
            status, _, html = client.request("GET", path)
            assert status == 200, path
            for secret in [*secrets, key]:
                assert secret not in html, (path, secret[:4])
        _, _, html = client.request("GET", "/setup/")
        assert str(teacher.config_path) in html and str(teacher.root) in html
        assert str(vault_path(teacher.config)) in html
        # A config exists: the wizard is gone, a post to it writes nothing.
        before = teacher.config_path.read_bytes()
        token = client.csrf()
        client.request(
            "POST", "/setup/", body=f"csrf={token}&url=http://x.example/&password=p&root=/tmp/x"
        )
        assert teacher.config_path.read_bytes() == before

        for size in ("laptop", "phone"):
            tab = browser_page(size)
            tab.goto(login_url(teacher.state_dir, page.port, "/setup/"))
            expect(tab.locator("h1")).to_have_text("Cài đặt")
            roles = tab.locator("section", has=tab.locator("h2", has_text="Vai trò trong trường"))
            expect(roles).to_contain_text("Trường Tiểu học Hòa Bình")
            expect(roles).to_contain_text("Nguyễn Văn An, Văn thư")
            expect(roles).to_contain_text(str(teacher.config_path))
            settings = tab.locator("section", has=tab.locator("h2", has_text="Cài đặt của máy này"))
            expect(settings).to_contain_text(str(teacher.root))
            screenshot(tab, "setup-settings")
            if size == "laptop":
                change_the_share_password(tab, teacher)
            tab.get_by_role("link", name="Các bước bàn giao").click()
            expect(tab.locator("h1")).to_have_text("Bàn giao hộp thư của trường")
            expect(tab.locator(".handover-state")).to_contain_text("th.hoabinh@hcm.edu.vn")
            expect(tab.locator(".handover-state")).to_contain_text(
                "Máy này đang giữ thông tin đăng nhập hộp thư của trường"
            )
            expect(tab.locator(".handover-steps")).to_contain_text("hoso handover accept")
            screenshot(tab, "setup-handover")
            for secret in [*secrets, key]:
                assert secret not in tab.content()
    # Read only: the page made no handover key and no log.
    assert not (teacher.root / "Bàn giao tài khoản").exists()
    assert Vault.open(teacher.config).get("handover-key") is None


def change_the_share_password(tab: Any, teacher: Agent) -> None:
    """The share's password was changed (the vault holds an old one): a wrong new one is
    refused by the share and not stored, the right one is stored."""
    old = "mat-khau-cu-4410"
    Vault.open(teacher.config).set("webdav", old, {"user": teacher.share.user})
    box = tab.get_by_label("Mật khẩu mới của thư mục chung")
    box.fill("sai-nua-roi-8812")
    tab.get_by_role("button", name="Kiểm tra và lưu").click()
    expect(tab.locator("#setup-password-problem")).to_contain_text("từ chối")
    assert Vault.open(teacher.config).get("webdav").secret.reveal() == old  # type: ignore[union-attr]
    assert "sai-nua-roi-8812" not in tab.content()
    tab.get_by_label("Mật khẩu mới của thư mục chung").fill(teacher.share.password)
    tab.get_by_role("button", name="Kiểm tra và lưu").click()
    expect(tab.locator(".flash.done")).to_contain_text("đã chấp nhận mật khẩu mới")
    entry = Vault.open(teacher.config).get("webdav")
    assert entry is not None and entry.secret.reveal() == teacher.share.password
    assert entry.fields == {"user": teacher.share.user}
    assert teacher.share.password not in tab.content()


def test_a_school_value_names_the_school_profile_it_comes_from(tmp_path: Path) -> None:
    """With a school folder, a value the signed profile gives names the profile's file; one
    this computer's config gives (it wins) names the config."""
    folder = SchoolFolderConfig("https://cloud.example/dav/", "Trường", tmp_path / "Trường")
    config = Config(
        path=tmp_path / "agent.toml",
        root=tmp_path / "HoSo",
        state_dir=tmp_path / "state",
        roles=Roles(School(name="Trường Tiểu học Hòa Bình", mailbox="th@hcm.edu.vn")),
        school_folder=folder,
        school_sources={"school.name": "profile", "school.mailbox": "config"},
    )
    rows = {row.label: row for row in setup_settings.roles_section(config).rows}
    assert rows["School"].value == "Trường Tiểu học Hòa Bình"
    assert rows["School"].source == f"school profile {tmp_path / 'Trường' / 'hoso-truong.toml'}"
    assert rows["School mailbox"].source == str(config.path)
    assert rows["Principal"].value == "(not set)"
    note = setup_settings.roles_section(config).note
    assert note == "No school profile is in force yet: the roles come from this computer's config."
