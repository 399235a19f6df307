"""Which language hoso speaks: only an explicit choice is pinned in the config.

`hoso init` used to write the language of the shell it ran in, so an admin's English SSH
session made a teacher's messages English for good. Now `hoso init` pins a language only
when given `--language` (or the wizard's choice); otherwise each hoso process follows its own
session's locale, Vietnamese where no locale variable names a language (a systemd service,
``LANG=C.UTF-8``). Environments are literal: every locale variable is set for each run.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from agents import run_hoso
from conftest import Share

from agent import i18n
from agent.config import Secret
from agent.onboarding import initialise

WSGIDAV_ONLY = pytest.mark.parametrize("dav_server", ["wsgidav"], indirect=True)


def session(lang: str, **more: str) -> dict[str, str]:
    """A session whose locale variables are exactly these (unset ones empty)."""
    return {"LANGUAGE": "", "LC_ALL": "", "LC_MESSAGES": "", "LANG": lang, **more}


SERVICE = session("")  # systemd starts the user service with no locale of the teacher's
BARE = session("C.UTF-8")  # a bare Debian system, a container, cron
TEACHER = session("vi_VN.UTF-8")  # the teacher's desktop session
ADMIN = session("en_US.UTF-8")  # the admin's English SSH session


@pytest.mark.parametrize(
    ("env", "expected"),
    [(SERVICE, "vi"), (BARE, "vi"), (TEACHER, "vi"), (ADMIN, "en"), (session("POSIX"), "vi")],
)
def test_auto_follows_the_session_vietnamese_where_it_names_none(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str
) -> None:
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    assert i18n.detect_language("auto") == expected
    # A pinned choice wins over every session.
    assert i18n.detect_language("vi") == "vi" and i18n.detect_language("en") == "en"


@pytest.mark.parametrize(("chosen", "written"), [("", None), ("vi", "vi"), ("en", "en")])
def test_init_writes_a_language_only_when_one_was_chosen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chosen: str, written: str | None
) -> None:
    for var, value in ADMIN.items():  # the shell's English is never what gets pinned
        monkeypatch.setenv(var, value)
    config = tmp_path / "cfg" / "agent.toml"
    result = initialise(
        config,
        root=tmp_path / "HoSo",
        url="https://cloud.truong.edu.vn/remote.php/dav/files/lan/",
        remote_dir="/",
        user="lan",
        password=Secret("pw"),
        force=False,
        check=False,
        language=chosen,
    )
    raw = tomllib.loads(config.read_text(encoding="utf-8"))
    assert raw.get("language") == written
    assert result.config.language == (written or "auto")


def roles_line(config: Path, env: dict[str, str]) -> str:
    shown = run_hoso("--config", str(config), "roles", env=env)
    assert shown.returncode == 0, shown.stderr
    return shown.stdout.splitlines()[0]


@WSGIDAV_ONLY
def test_an_admins_english_session_does_not_make_the_teacher_english(
    tmp_path: Path, share: Share
) -> None:
    config, root = tmp_path / "cfg" / "agent.toml", tmp_path / "HoSo"
    login = {"HOSO_WEBDAV_PASSWORD": share.password}
    args = ["--config", str(config), "init", "--root", str(root), "--url", share.url]
    args += ["--remote-dir", share.remote_dir, "--user", share.user]

    done = run_hoso(*args, env={**ADMIN, **login})
    assert done.returncode == 0, done.stderr
    assert "Config written" in done.stdout  # the admin reads English meanwhile
    assert "language" not in tomllib.loads(config.read_text(encoding="utf-8"))
    assert roles_line(config, SERVICE) == "Trường: (chưa khai báo)"
    assert roles_line(config, TEACHER) == "Trường: (chưa khai báo)"
    assert roles_line(config, ADMIN) == "School: (not set)"

    # An explicit choice is pinned, whatever the session.
    done = run_hoso(*args, "--force", "--language", "en", env={**TEACHER, **login})
    assert done.returncode == 0, done.stderr
    assert "Đã lưu tệp cấu hình" in done.stdout  # the teacher, in Vietnamese, at that terminal
    assert tomllib.loads(config.read_text(encoding="utf-8"))["language"] == "en"
    assert roles_line(config, SERVICE) == "School: (not set)"
    assert roles_line(config, TEACHER) == "School: (not set)"
