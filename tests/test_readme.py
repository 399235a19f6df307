"""The README's instructions work as written.

Every ``hoso …`` line of the README's shell blocks must parse with the real command line (the
command exists, its options exist, required ones are given). The service section is run as an
admin would run it: the block marked ``<!-- readme-test: run … -->`` goes to bash verbatim, in
hoso's source folder, with a fresh HOME (so fresh XDG folders under it), an English locale, a
plain Debian PATH, no desktop session and no hoso on PATH, against a real WebDAV share. Only two
placeholders change, as the README tells the reader to change them: the example share address
(``EXAMPLE_URL``) and the login (``--user lan``). The password comes from
``HOSO_WEBDAV_PASSWORD``, which `hoso init` documents; pip gets this machine's package-index
settings (an offline CI has its own index). The installed unit files are checked with
``systemd-analyze verify`` as installed, with their real ExecStart.

Not run: the block needing a systemd user manager (a CI container has none; only its commands are
checked to be systemd commands) and the system template's block (needs root and a teacher account;
its ``hoso`` line is parsed above and the template is verified in tests/test_systemd.py).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from servers import PRINCIPAL, SCHOOL_PASSWORDS, SchoolShare, Share, wait_until

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
EXAMPLE_URL = "https://cloud.truong.edu.vn/remote.php/dav/files/lan/"
EXAMPLE_USER = "--user lan"
DEBIAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MARKER = re.compile(r"<!-- readme-test: ([^(>]*?)\s*(?:\(.*?\))?\s*-->")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
OPERATORS = {"&&", "||", "|", ";", "&"}
REDIRECTS = {">", ">>", "<", "2>", "&>"}


@dataclass(frozen=True)
class Block:
    language: str
    code: str
    marker: str | None  # the readme-test marker on the line just above the fence


def blocks(text: str) -> list[Block]:
    found = []
    for fence in FENCE.finditer(text):
        above = text[: fence.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = MARKER.fullmatch(above.strip())
        found.append(Block(fence.group(1), fence.group(2), marker.group(1) if marker else None))
    return found


def marked(marker: str) -> Block:
    matching = [b for b in blocks(README.read_text(encoding="utf-8")) if b.marker == marker]
    assert len(matching) == 1, f"README needs exactly one block marked {marker!r}"
    return matching[0]


def simple_commands(code: str) -> Iterator[list[str]]:
    """The simple commands of a shell block: continuation lines joined, comments dropped, split at
    ``&&``, ``|``, ``;``; redirections and their targets left out."""
    for line in code.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        command: list[str] = []
        skip_next = False
        for token in lexer:
            if skip_next:
                skip_next = False
            elif token in OPERATORS:
                if command:
                    yield command
                command = []
            elif token in REDIRECTS:
                skip_next = True
            else:
                command.append(token)
        if command:
            yield command


def hoso_invocations(*pages: Path) -> list[list[str]]:
    """Arguments of every hoso program run in the shell blocks of ``pages`` (default: the
    README): `hoso …`, `.venv/bin/hoso …`, `sudo -u lan /opt/hoso/venv/bin/hoso …`."""
    found = []
    page_blocks = [b for page in pages or (README,) for b in blocks(page.read_text("utf-8"))]
    for block in page_blocks:
        if block.language not in ("sh", "bash"):
            continue
        for command in simple_commands(block.code):
            words = _program_and_args(command)
            if words and Path(words[0]).name == "hoso":
                found.append(words[1:])
    return found


def _program_and_args(command: list[str]) -> list[str]:
    """``command`` without leading ``NAME=value`` assignments and ``sudo [-u USER]``."""
    words = list(command)
    while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]):
        words.pop(0)
    if words[:1] == ["sudo"]:
        words.pop(0)
        while words and words[0].startswith("-"):
            takes_value = words.pop(0) in ("-u", "-g")
            if takes_value and words:
                words.pop(0)
    return words


def parse(args: list[str]) -> click.Command:
    """Parse ``args`` the way `hoso` does, down to the leaf command, without running it."""
    from agent.cli import cli

    ctx = cli.make_context("hoso", list(args))
    command: click.Command = cli
    while isinstance(command, click.Group):
        # click ≥ 8.2 keeps the subcommand's name apart from ctx.args until click 9.
        rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
        assert rest, f"`hoso {shlex.join(args)}` names no command"
        name, sub, rest = command.resolve_command(ctx, rest)
        assert sub is not None and name is not None
        ctx = sub.make_context(name, rest, parent=ctx)
        command = sub
    return command


@pytest.fixture
def plugin_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The built-in plugins' commands (handover, inspect, check…) as `hoso` finds them for a
    config with every plugin at its default."""
    monkeypatch.setenv("HOSO_CONFIG", str(tmp_path / "none" / "agent.toml"))


def test_every_hoso_line_of_the_readme_and_docs_parses(plugin_commands: None) -> None:
    invocations = hoso_invocations(README, *sorted((ROOT / "docs").glob("*.md")))
    # The blocks this test is about are really read (the service and handover sections).
    assert ["demo"] in invocations
    assert any(args[:2] == ["handover", "prepare"] for args in invocations)
    assert any(args[:1] == ["init"] and "/home/lan/HoSo" in args for args in invocations)
    failures = []
    for args in invocations:
        try:
            parse(args)
        except click.BadParameter as exc:
            # A folder the reader names (`--folder ~/HoSo-truong`) need not exist here.
            if not (isinstance(exc.param and exc.param.type, click.Path)
                    and "does not exist" in exc.format_message()):
                failures.append(f"hoso {shlex.join(args)}: {exc.format_message()}")
        except click.ClickException as exc:
            failures.append(f"hoso {shlex.join(args)}: {exc.format_message()}")
    assert failures == []


def test_the_handover_example_names_the_giver() -> None:
    # A config written by `hoso init` has no [school] mailbox_keeper, from which `prepare`
    # would otherwise take the giver: without --giver the example stops with exit 2.
    prepare = [a for a in hoso_invocations() if a[:2] == ["handover", "prepare"]]
    assert prepare and all("--giver" in args for args in prepare)


def test_the_parse_check_catches_a_wrong_line(plugin_commands: None) -> None:
    for wrong in (["handover", "prepare", "--to", "k"], ["sync", "--dryrun"], ["backup", "lst"]):
        with pytest.raises(click.ClickException):
            parse(wrong)


def test_the_systemd_only_block_holds_only_systemd_commands() -> None:
    commands = list(simple_commands(marked("needs a systemd user manager").code))
    assert commands, "the block is empty"
    for command in commands:
        assert _program_and_args(command)[0] in {"systemctl", "journalctl", "loginctl"}, command


def test_the_system_template_block_installs_what_the_template_runs() -> None:
    code = marked("needs root and the account lan").code
    template = (ROOT / "systemd" / "hoso-agent@.service").read_text(encoding="utf-8")
    exec_start = re.search(r"^ExecStart=(\S+)", template, re.MULTILINE)
    assert exec_start and exec_start.group(1) == "/opt/hoso/venv/bin/hoso"
    assert "python3 -m venv /opt/hoso/venv" in code
    assert "cp systemd/hoso-agent@.service /etc/systemd/system/" in code


def test_the_written_config_names_an_example_that_exists(tmp_path: Path) -> None:
    from agent.config import render

    header = render(tmp_path / "HoSo", EXAMPLE_URL, "/", "lan").splitlines()[0]
    example = Path(header.rsplit(": ", 1)[1])
    assert example.is_absolute() and example.is_file(), header
    assert example.read_bytes() == (ROOT / "config" / "agent.example.toml").read_bytes()


# --- the user-service block, run ------------------------------------------------------------


def _source_copy(target: Path) -> Path:
    """hoso's source folder as an admin has it (a clone or an unpacked release), without this
    checkout's virtual environments and caches, so that `pip install .` builds it afresh."""
    ignore = shutil.ignore_patterns(
        ".git", ".venv*", "venv", "__pycache__", "*.egg-info", "build", ".pytest_cache",
        ".hypothesis", ".mypy_cache", ".ruff_cache",
    )
    return Path(shutil.copytree(ROOT, target, ignore=ignore))


def _admin_env(home: Path, runtime: Path, password: str) -> dict[str, str]:
    """An English-locale login over SSH: a fresh home, no desktop session (no D-Bus), a
    Debian PATH without any hoso, and the password `hoso init` reads."""
    env = {
        "HOME": str(home),
        "USER": os.environ.get("USER", "root"),
        "LOGNAME": os.environ.get("LOGNAME", os.environ.get("USER", "root")),
        "SHELL": "/bin/bash",
        "PATH": DEBIAN_PATH,
        "LANG": "C.UTF-8",
        "LANGUAGE": "en",  # the admin reads English (C.UTF-8 alone names no language)
        "XDG_RUNTIME_DIR": str(runtime),  # logind's /run/user/UID; systemd-analyze --user needs it
        "HOSO_WEBDAV_PASSWORD": password,
    }
    # The machine's package-index settings: without network, pip must find hoso's dependencies
    # where this machine keeps them (an admin's /etc/pip.conf would do the same).
    env.update({k: v for k, v in os.environ.items() if k.startswith("PIP_")})
    user_config = Path.home() / ".config" / "pip" / "pip.conf"
    if "PIP_CONFIG_FILE" not in env and user_config.is_file():
        env["PIP_CONFIG_FILE"] = str(user_config)
    return env


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
@pytest.mark.parametrize("dav_server", ["apache"], indirect=True)
def test_the_user_service_block_runs_verbatim(tmp_path: Path, share: Share) -> None:
    code = marked("run").code
    assert EXAMPLE_URL in code and EXAMPLE_USER in code
    url = f"{share.url}{share.remote_dir}/"
    script = code.replace(EXAMPLE_URL, url).replace(EXAMPLE_USER, f"--user {share.user}")
    # A lesson plan already on the share, so that the first pass has something to bring.
    status, _ = share.server.request("MKCOL", f"{share.remote_dir}/Tuần 1/")
    assert status == 201
    status, _ = share.server.request("PUT", f"{share.remote_dir}/Tuần 1/Toán - Bài 1.docx", b"KHBD")
    assert status in (200, 201, 204)

    home, runtime = tmp_path / "home", tmp_path / "run"
    home.mkdir()
    runtime.mkdir(mode=0o700)
    source = _source_copy(tmp_path / "hoso")
    (tmp_path / "steps.sh").write_text(script, encoding="utf-8")
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", "-x", str(tmp_path / "steps.sh")],
        cwd=source, env=_admin_env(home, runtime, share.password),
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]

    # hoso is on PATH through the link, pointing at the program the unit runs.
    link = home / ".local" / "bin" / "hoso"
    program = home / ".local" / "share" / "hoso" / "venv" / "bin" / "hoso"
    assert link.is_symlink() and link.resolve() == program.resolve()
    # The first pass brought the share's file into the records folder.
    assert (home / "HoSo" / "Tuần 1" / "Toán - Bài 1.docx").read_bytes() == b"KHBD"
    # The config: the teacher's share, the password only in the vault, key file (no keyring).
    config = home / ".config" / "hoso" / "agent.toml"
    written = tomllib.loads(config.read_text(encoding="utf-8"))
    assert written["remote"]["url"] == url and written["remote"]["user"] == share.user
    assert written["root"] == str(home / "HoSo")
    assert share.password not in config.read_text(encoding="utf-8")
    for name in ("agent.vault", "agent.vault-key"):
        assert (config.parent / name).is_file(), name
    # Its first line names an example config that this pip install really has, the project's own.
    header = config.read_text(encoding="utf-8").splitlines()[0]
    example = Path(header.rsplit(": ", 1)[1])
    assert example.is_file(), header
    assert example.read_bytes() == (ROOT / "config" / "agent.example.toml").read_bytes()
    assert "agent.secret" not in example.read_text(encoding="utf-8")
    # The unit is where the user manager reads it, and systemd accepted it (the script's last
    # step, whose ExecStart must exist); nothing of ours drew a complaint.
    unit = home / ".config" / "systemd" / "user" / "hoso-agent.service"
    assert unit.read_bytes() == (ROOT / "systemd" / "hoso-agent.service").read_bytes()
    assert "hoso-agent.service:" not in done.stderr


# --- the admin's school blocks, run ---------------------------------------------------------

SCHOOL_BASE = "https://cloud.truong.edu.vn/remote.php/dav/files/"
SCHOOL_FOLDER = '"Trường TH Hòa Bình"'
PINNED = "ABCD-EFGH-IJKL-MNOP"
ADMIN_PROFILE = """\
[school]
name = "Trường Tiểu học Hòa Bình"
mailbox = "th.hoabinh@hcm.edu.vn"
decision = { number = "15/QĐ-THHB", date = 2026-09-05 }

[[school.reviewers]]
name = "Lê Văn Cường"
position = "Phó hiệu trưởng"
email = "cuong.lv@hcm.edu.vn"
groups = ["Tổ 1"]

[[inspection.schedule]]
date = 2026-11-30
weeks = "10-13"
"""
# The admin's typing in $EDITOR: the profile above, then (a later edit) another reviewer.
EDITOR = """\
import pathlib, sys
target = pathlib.Path(sys.argv[1])
text = target.read_text(encoding="utf-8")
if "[[school.reviewers]]" in text:
    text = text.replace("Lê Văn Cường", "Phạm Thu Hà")
else:
    text = pathlib.Path(sys.argv[0]).with_name("profile.toml").read_text(encoding="utf-8")
target.write_text(text, encoding="utf-8")
"""


def _run_block(
    code: str, workdir: Path, env: dict[str, str], name: str
) -> subprocess.CompletedProcess[str]:
    script = workdir / f"{name}.sh"
    script.write_text(code, encoding="utf-8")
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", "-x", str(script)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def _hoso_on_path(bin_dir: Path) -> None:
    """`hoso` for the blocks: this checkout's (the service block shows installing it)."""
    bin_dir.mkdir()
    program = bin_dir / "hoso"
    program.write_text(
        f"#!/bin/sh\nPYTHONPATH={shlex.quote(str(ROOT))} exec {shlex.quote(sys.executable)} "
        '-c "from agent.cli import main; main()" "$@"\n',
        encoding="utf-8",
    )
    program.chmod(0o755)


def _hoso(env: dict[str, str], *args: str) -> str:
    """`hoso ARGS` on the PC whose environment (HOME…) is ``env``; its stdout."""
    ran = subprocess.run(["hoso", *args], env=env, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    return ran.stdout


def send_profile(admin: dict[str, str], school: SchoolShare) -> None:
    """`hoso school sync` on the admin's PC, as the README says, until the profile just
    signed has settled and gone to the share with its signature."""
    folder = Path(json.loads(_hoso(admin, "status", "--json"))["school_folder"]["root"])
    signed = (folder / "hoso-truong.toml.sig").read_bytes()

    def sent() -> bool:
        _hoso(admin, "school", "sync")
        there = school.path("hoso-truong.toml.sig")
        return there.is_file() and there.read_bytes() == signed

    wait_until(sent, 30, "the signed profile on the share")


@pytest.mark.parametrize("school", ["apache"], indirect=True)
def test_the_school_admin_blocks_run_verbatim(tmp_path: Path, school: SchoolShare) -> None:
    """The admin's block on the principal's PC, then the teacher's on a second PC (each a
    fresh HOME), verbatim but for the example addresses, the login's password and the
    fingerprint, as the README tells the reader; the second PC takes the profile, and
    follows the admin's later change."""
    admin_code, teacher_code = marked("school admin").code, marked("school teacher").code
    for code in (admin_code, teacher_code):
        assert SCHOOL_BASE in code and SCHOOL_FOLDER in code
    assert PINNED in teacher_code
    status, _ = school.server.request("MKCOL", f"{PRINCIPAL}/")  # the principal's own folder
    assert status == 201

    def place(code: str) -> str:
        folder = shlex.quote(school.folder_url)
        return code.replace(SCHOOL_BASE, school.server.url).replace(SCHOOL_FOLDER, folder)

    bin_dir, runtime = tmp_path / "bin", tmp_path / "run"
    _hoso_on_path(bin_dir)
    runtime.mkdir(mode=0o700)
    (tmp_path / "profile.toml").write_text(ADMIN_PROFILE, encoding="utf-8")
    (tmp_path / "editor.py").write_text(EDITOR, encoding="utf-8")

    def pc(login: str) -> dict[str, str]:
        home = tmp_path / login
        home.mkdir()
        env = _admin_env(home, runtime, SCHOOL_PASSWORDS[login])
        env["PATH"] = f"{bin_dir}:{DEBIAN_PATH}"
        env["EDITOR"] = f"{sys.executable} {tmp_path / 'editor.py'}"
        return env

    admin, teacher = pc(PRINCIPAL), pc("lan")
    done = _run_block(place(admin_code), tmp_path, admin, "admin")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    fingerprint = done.stdout.split("Signing key fingerprint: ")[1].split()[0]
    send_profile(admin, school)
    assert school.path("hoso-truong.toml").read_text(encoding="utf-8") == ADMIN_PROFILE

    done = _run_block(place(teacher_code).replace(PINNED, fingerprint), tmp_path, teacher, "lan")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    assert "Lê Văn Cường" in done.stdout  # `hoso roles`, in Vietnamese for the teacher
    written = tomllib.loads((tmp_path / "lan/.config/hoso/agent.toml").read_text("utf-8"))
    assert written["language"] == "vi"
    assert written["school"]["profile_key"] == fingerprint
    assert written["school"]["folder_url"] == school.folder_url

    roles = json.loads(_hoso(teacher, "roles", "--json"))
    assert [r["name"] for r in roles["school"]["reviewers"]] == ["Lê Văn Cường"]
    assert roles["sources"]["school.reviewers"] == "profile"
    assert roles["profile"] == {**roles["profile"], "serial": 1, "signer": fingerprint}

    # Later: the admin changes the reviewer once; the teacher's PC follows.
    _hoso(admin, "school", "edit")
    send_profile(admin, school)
    _hoso(teacher, "school", "sync")
    roles = json.loads(_hoso(teacher, "roles", "--json"))
    assert [r["name"] for r in roles["school"]["reviewers"]] == ["Phạm Thu Hà"]
    assert roles["profile"]["serial"] == 2
