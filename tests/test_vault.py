"""The credential vault (agent/vault.py) and `hoso vault …`: real files, real processes.

The real user keyring is never touched: in-process tests pass a keyring backend (keyring's
own `fail` backend, or a small in-memory one of ours), and subprocesses get
PYTHON_KEYRING_BACKEND=keyring.backends.fail.Keyring, keyring's documented switch.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import unicodedata
from pathlib import Path
from typing import Any

import keyring.backends.fail
import pytest
from agents import Agent, hoso_env
from memory_keyring import MemoryKeyring
from servers import wait_until

from agent import config as configmod
from agent import durable
from agent.config import Config
from agent.envelope import KdfParams
from agent.errors import ConfigError, ExitCode, UsageError
from agent.remote import Remote
from agent.vault import (
    Vault,
    VaultDamaged,
    VaultLocked,
    VaultMissing,
    VaultNewer,
    key_file_path,
    protect,
    public_fields,
    vault_path,
    webdav_password,
)

SECRET = "mật-khẩu Trường TH Hoà Bình #2024"
FAIL = keyring.backends.fail.Keyring()
KEYRING_OFF = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
FAST_KDF = KdfParams(n=2**10)
HOSO = "from agent.cli import main; main()"



def make_config(tmp_path: Path, user: str = "cô.lan") -> Config:
    path = tmp_path / "config" / "hoso" / "agent.toml"
    raw: dict[str, Any] = {
        "root": str(tmp_path / "HoSo"),
        "state_dir": str(tmp_path / "state"),
        "language": "en",
        "remote": {"url": "http://127.0.0.1:9/", "user": user},
    }
    configmod.write_private(
        path,
        f'root = "{raw["root"]}"\nstate_dir = "{raw["state_dir"]}"\nlanguage = "en"\n\n'
        f'[remote]\nurl = "http://127.0.0.1:9/"\nuser = "{user}"\n',
    )
    return configmod.from_dict(raw, path)


def open_vault(cfg: Config, **kw: Any) -> Vault:
    return Vault.open(cfg, backend=kw.pop("backend", FAIL), **kw)


def filled(cfg: Config) -> Vault:
    vault = open_vault(cfg, create=True)
    vault.set("school-mailbox", SECRET, {"address": "c1hoabinh@hcm.edu.vn", "provider": "gmail"})
    vault.set("smtp", "app-password-xyz")
    return vault


# --- the library -------------------------------------------------------------------------------


def test_entries_round_trip_through_the_encrypted_file(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    filled(cfg)
    again = open_vault(cfg)
    assert again.names() == ["school-mailbox", "smtp"]
    entry = again.get("school-mailbox")
    assert entry is not None and entry.secret.reveal() == SECRET
    assert dict(entry.fields) == {"address": "c1hoabinh@hcm.edu.vn", "provider": "gmail"}
    assert SECRET not in repr(entry) and SECRET not in repr(again)
    assert again.get("webdav") is None
    raw = vault_path(cfg).read_bytes()
    assert SECRET.encode() not in raw and b"c1hoabinh" not in raw  # fields are encrypted too
    for path in (vault_path(cfg), key_file_path(cfg)):
        assert path.stat().st_mode & 0o777 == 0o600
    document = json.loads(raw)
    assert document["format"] == "hoso-vault" and document["version"] == 1
    assert document["key"] == {"source": "file", "kdf": None}


def test_public_lists_names_fields_and_times_but_never_a_secret(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    rows = filled(cfg).public()
    assert [r["name"] for r in rows] == ["school-mailbox", "smtp"]
    assert set(rows[0]) == {"name", "fields", "updated"}
    text = json.dumps(rows, ensure_ascii=False)
    assert SECRET not in text and "app-password-xyz" not in text


def test_public_fields_refuse_a_secret_in_plain_sight() -> None:
    pairs = ("address=c1hoabinh@hcm.edu.vn", "login_url=https://mail.google.com/?a=b")
    assert public_fields(pairs) == {
        "address": "c1hoabinh@hcm.edu.vn",
        "login_url": "https://mail.google.com/?a=b",  # split at the first '=' only
    }
    for bad, said in (
        ("app_password=x", "would show a secret"),
        ("refresh_token=x", "would show a secret"),
        ("noequals", "KEY=VALUE"),
        ("Địa chỉ=x", "must be 1 to 64 characters"),
    ):
        with pytest.raises(UsageError, match=said):
            public_fields(("provider=gmail", bad))


def test_set_replaces_and_remove_deletes_durably(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    vault = filled(cfg)
    vault.set("smtp", "second")
    assert vault.remove("school-mailbox") is True
    assert vault.remove("school-mailbox") is False
    again = open_vault(cfg)
    assert again.names() == ["smtp"]
    entry = again.get("smtp")
    assert entry is not None and entry.secret.reveal() == "second"


@pytest.mark.parametrize("name", ["", "Webdav", "a b", "x" * 65, "mật-khẩu", "../x"])
def test_bad_names_are_refused_and_nothing_is_written(tmp_path: Path, name: str) -> None:
    cfg = make_config(tmp_path)
    vault = filled(cfg)
    before = vault_path(cfg).read_bytes()
    with pytest.raises(UsageError):
        vault.set(name, "s")
    with pytest.raises(UsageError):
        vault.set("ok", "s", {name: "v"})
    assert vault_path(cfg).read_bytes() == before


def test_an_empty_secret_is_refused(tmp_path: Path) -> None:
    vault = open_vault(make_config(tmp_path), create=True)
    with pytest.raises(UsageError):
        vault.set("smtp", "")
    assert vault.names() == []


def test_opening_a_missing_vault_without_create_is_refused(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    with pytest.raises(VaultMissing):
        open_vault(cfg)
    assert not vault_path(cfg).exists() and not key_file_path(cfg).exists()


def test_two_vault_handles_lose_neither_change(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    first = open_vault(cfg, create=True)
    second = open_vault(cfg)
    first.set("smtp", "one")
    second.set("webdav", "two")  # re-reads under the lock: smtp survives
    assert open_vault(cfg).names() == ["smtp", "webdav"]


# --- the key -----------------------------------------------------------------------------------


def test_the_key_goes_to_a_usable_keyring_and_no_key_file_is_made(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    ring = MemoryKeyring()
    open_vault(cfg, create=True, backend=ring).set("smtp", SECRET)
    assert not key_file_path(cfg).exists()
    assert list(ring.store) == [("hoso", str(vault_path(cfg)))]
    assert len(base64.b64decode(next(iter(ring.store.values())))) == 32
    assert json.loads(vault_path(cfg).read_bytes())["key"]["source"] == "keyring"
    entry = open_vault(cfg, backend=ring).get("smtp")
    assert entry is not None and entry.secret.reveal() == SECRET


def test_a_keyring_vault_without_its_keyring_is_locked_not_overwritten(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    open_vault(cfg, create=True, backend=MemoryKeyring()).set("smtp", SECRET)
    before = vault_path(cfg).read_bytes()
    with pytest.raises(VaultLocked):
        open_vault(cfg, create=True, backend=FAIL)
    with pytest.raises(VaultDamaged, match="keyring"):  # a usable keyring without our key
        open_vault(cfg, backend=MemoryKeyring())
    assert vault_path(cfg).read_bytes() == before and not key_file_path(cfg).exists()


def test_a_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    filled(cfg)
    key_file_path(cfg).chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600") as caught:
        open_vault(cfg)
    assert caught.value.exit_code == ExitCode.USAGE


def test_a_missing_or_foreign_key_file_is_reported_as_damage(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    filled(cfg)
    other = make_config(tmp_path / "other")
    filled(other)
    key_file_path(cfg).write_bytes(key_file_path(other).read_bytes())
    with pytest.raises(VaultDamaged, match="Restore it from a backup"):
        open_vault(cfg)
    key_file_path(cfg).unlink()
    with pytest.raises(VaultDamaged, match="key file"):
        open_vault(cfg)


def test_a_passphrase_protected_key_needs_the_passphrase(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HOSO_VAULT_PASSPHRASE", raising=False)
    cfg = make_config(tmp_path)
    filled(cfg)
    protect(cfg, "cụm từ bí mật dài", FAST_KDF)
    key_doc = json.loads(key_file_path(cfg).read_bytes())
    assert "key" not in key_doc and key_doc["kdf"]["name"] == "scrypt"
    assert key_file_path(cfg).stat().st_mode & 0o777 == 0o600
    assert json.loads(vault_path(cfg).read_bytes())["key"]["kdf"] == key_doc["kdf"]
    with pytest.raises(VaultLocked, match="HOSO_VAULT_PASSPHRASE"):
        open_vault(cfg)
    with pytest.raises(VaultLocked, match="Wrong"):
        open_vault(cfg, prompt=lambda _text: "not it at all")
    # NFC and NFD spellings of the passphrase are the same passphrase.
    typed = unicodedata.normalize("NFD", "cụm từ bí mật dài")
    entry = open_vault(cfg, prompt=lambda _text: typed).get("school-mailbox")
    assert entry is not None and entry.secret.reveal() == SECRET
    monkeypatch.setenv("HOSO_VAULT_PASSPHRASE", "cụm từ bí mật dài")
    assert open_vault(cfg).names() == ["school-mailbox", "smtp"]


def test_protect_refuses_a_short_passphrase_and_a_keyring_key(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    filled(cfg)
    before = key_file_path(cfg).read_bytes()
    with pytest.raises(UsageError):
        protect(cfg, "short", FAST_KDF)
    assert key_file_path(cfg).read_bytes() == before


# --- damage --------------------------------------------------------------------------------------


def _rewrite(cfg: Config, change: Any) -> None:
    document = json.loads(vault_path(cfg).read_bytes())
    change(document)
    vault_path(cfg).write_bytes(json.dumps(document).encode())


def _flip_b64(text: str, index: int) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[index] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.__setitem__("nonce", _flip_b64(d["nonce"], 0)),
        lambda d: d.__setitem__("ciphertext", _flip_b64(d["ciphertext"], 5)),
        lambda d: d.__setitem__("ciphertext", _flip_b64(d["ciphertext"], -1)),  # the tag
        lambda d: d["key"].__setitem__("kdf", {"name": "scrypt"}),  # header bound as AD
        lambda d: d.__setitem__("nonce", d["nonce"][:8]),
        lambda d: d.__setitem__("ciphertext", ""),
        lambda d: d.__setitem__("extra", 1),
        lambda d: d.pop("key"),
    ],
    ids=["nonce", "ciphertext", "tag", "header", "short-nonce", "empty", "extra", "no-key"],
)
def test_a_tampered_field_is_detected_and_the_file_untouched(tmp_path: Path, change: Any) -> None:
    cfg = make_config(tmp_path)
    filled(cfg)
    _rewrite(cfg, change)
    tampered = vault_path(cfg).read_bytes()
    with pytest.raises(VaultDamaged, match="Restore it from a backup") as caught:
        open_vault(cfg)
    assert caught.value.exit_code == ExitCode.PARTIAL
    assert str(vault_path(cfg)) in str(caught.value)
    with pytest.raises(VaultDamaged):
        open_vault(cfg, create=True)  # create never replaces a damaged vault
    assert vault_path(cfg).read_bytes() == tampered


def test_every_flipped_byte_is_damage_or_changes_nothing(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    open_vault(cfg, create=True).set("smtp", SECRET, {"host": "mail"})
    good = vault_path(cfg).read_bytes()
    for index in range(len(good)):
        for mask in (0x01, 0x20, 0x80):
            bad = bytearray(good)
            bad[index] ^= mask
            vault_path(cfg).write_bytes(bytes(bad))
            try:
                entry = open_vault(cfg).get("smtp")
            except (VaultDamaged, VaultNewer):
                continue
            # Only a flip in base64's unused padding bits decodes to the same bytes.
            assert entry is not None and entry.secret.reveal() == SECRET, (index, mask)


def test_a_truncated_vault_is_damage_at_every_length(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    filled(cfg)
    good = vault_path(cfg).read_bytes()
    for length in range(len(good)):
        vault_path(cfg).write_bytes(good[:length])
        with pytest.raises(VaultDamaged):
            open_vault(cfg)


def test_a_newer_vault_format_is_refused_as_a_config_error(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    filled(cfg)
    _rewrite(cfg, lambda d: d.__setitem__("version", 2))
    with pytest.raises(VaultNewer, match="newer version") as caught:
        open_vault(cfg)
    assert caught.value.exit_code == ExitCode.USAGE


# --- crash during write -------------------------------------------------------------------

WRITER = """
import sys
import unicodedata
from pathlib import Path
import keyring.backends.fail
from agent import config
from agent.vault import Vault
cfg = config.load(Path(sys.argv[1]))
vault = Vault.open(cfg, backend=keyring.backends.fail.Keyring())
n = 0
while True:
    n += 1
    vault.set("big", ("AB"[n % 2]) * 3_000_000, {"round": str(n)})
    print(n, flush=True)
"""


def test_a_writer_killed_at_any_moment_leaves_a_readable_vault(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    open_vault(cfg, create=True).set("big", "A" * 3_000_000, {"round": "0"})
    seen: set[str] = set()
    for attempt in range(12):
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(cfg.path)],
            stdout=subprocess.PIPE,
            text=True,
            env=hoso_env(KEYRING_OFF),
        )
        assert writer.stdout is not None
        for _ in range(1 + attempt % 3):  # let it finish a few writes, then kill mid-way
            assert writer.stdout.readline()
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        entry = open_vault(cfg).get("big")  # never VaultDamaged
        assert entry is not None
        value = entry.secret.reveal()
        assert value in ("A" * 3_000_000, "B" * 3_000_000)
        seen.add(entry.fields["round"])
    assert len(seen) > 1  # the kills did land between different writes
    open_vault(cfg).set("big", "C")
    assert list(durable.stale_temps(vault_path(cfg))) == []  # the killed writers' temps swept


# --- migration of the sync core's password file ---------------------------------------------


def test_the_password_file_moves_into_the_vault(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HOSO_WEBDAV_PASSWORD", raising=False)
    cfg = make_config(tmp_path)
    configmod.write_private(cfg.password_file, SECRET + "\n")
    assert webdav_password(cfg, backend=FAIL).reveal() == SECRET
    assert not cfg.password_file.exists()
    entry = open_vault(cfg).get("webdav")
    assert entry is not None and entry.secret.reveal() == SECRET
    assert dict(entry.fields) == {"user": "cô.lan"}
    assert webdav_password(cfg, backend=FAIL).reveal() == SECRET  # now from the vault
    monkeypatch.setenv("HOSO_WEBDAV_PASSWORD", "from-env")
    assert webdav_password(cfg, backend=FAIL).reveal() == "from-env"


def test_no_vault_and_no_password_file_give_an_empty_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HOSO_WEBDAV_PASSWORD", raising=False)
    cfg = make_config(tmp_path)
    assert not webdav_password(cfg, backend=FAIL)
    assert not vault_path(cfg).exists()


@pytest.mark.parametrize("dav_server", ["wsgidav"], indirect=True)
def test_after_migration_the_share_login_still_works(
    tmp_path: Path, share: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HOSO_WEBDAV_PASSWORD", raising=False)
    agent = Agent(tmp_path, share)  # leaves the password file as `hoso init` does
    password = webdav_password(agent.config, backend=FAIL)
    assert not agent.config.password_file.exists()
    remote = agent.config.remote
    client = Remote(remote.url, remote.remote_dir, remote.user, password, retries=0)
    try:
        client.probe()  # raises AuthError on a refused login
    finally:
        client.close()
    logs = [p.read_bytes() for p in agent.state_dir.rglob("*") if p.is_file()]
    assert all(share.password.encode() not in data for data in logs)


# --- the command line ---------------------------------------------------------------------------


def hoso_vault(
    cfg: Config, *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", HOSO, "--config", str(cfg.path), "vault", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=hoso_env({**KEYRING_OFF, **(env or {})}),
        timeout=60,
    )


def test_the_cli_stores_lists_shows_and_removes(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    fields = ["--field", "address=c1hoabinh@hcm.edu.vn", "--field", "provider=gmail"]
    done = hoso_vault(cfg, "set", "school-mailbox", *fields, stdin=SECRET + "\nignored\n")
    assert done.returncode == 0, done.stderr
    entry = open_vault(cfg).get("school-mailbox")
    assert entry is not None and entry.secret.reveal() == SECRET  # first line only
    listed = hoso_vault(cfg, "list", "--json")
    rows = json.loads(listed.stdout)
    assert rows[0]["name"] == "school-mailbox" and rows[0]["fields"]["provider"] == "gmail"
    assert set(rows[0]) == {"name", "fields", "updated"}
    plain_list = hoso_vault(cfg, "list")
    shown = hoso_vault(cfg, "show", "school-mailbox")
    assert "secret: ********" in shown.stdout and "address: c1hoabinh@hcm.edu.vn" in shown.stdout
    revealed = hoso_vault(cfg, "show", "school-mailbox", "--reveal")
    assert f"secret: {SECRET}" in revealed.stdout
    for result in (done, listed, plain_list, shown):
        assert result.returncode == 0, result.stderr
        assert SECRET not in result.stdout + result.stderr
    removed = hoso_vault(cfg, "remove", "school-mailbox")
    assert removed.returncode == 0 and open_vault(cfg).names() == []
    again = hoso_vault(cfg, "remove", "school-mailbox")
    assert again.returncode == ExitCode.USAGE and "school-mailbox" in again.stderr


def test_the_secret_never_appears_in_the_command_line(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    setter = subprocess.Popen(
        [sys.executable, "-c", HOSO, "--config", str(cfg.path), "vault", "set", "smtp"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=hoso_env(KEYRING_OFF),
    )
    cmdline = Path(f"/proc/{setter.pid}/cmdline")
    wait_until(lambda: b"vault" in cmdline.read_bytes(), 10, "the child's command line")
    seen = cmdline.read_bytes()
    out, err = setter.communicate(SECRET + "\n", timeout=60)
    assert setter.returncode == 0, err
    assert SECRET.encode() not in seen and b"smtp" in seen
    assert SECRET not in out + err


@pytest.mark.parametrize(
    ("args", "stdin", "words"),
    [
        (["set", "smtp", "--field", "password=x"], SECRET + "\n", "stdin"),
        (["set", "smtp", "--field", "refresh_token=x"], SECRET + "\n", "stdin"),
        (["set", "smtp", "--field", "noequals"], SECRET + "\n", "KEY=VALUE"),
        (["set", "smtp"], "\n", "empty"),
        (["set", "smtp"], "", "empty"),
        (["set", "Bad Name"], SECRET + "\n", "a-z"),
        (["show", "nothing"], "", "nothing"),
    ],
)
def test_bad_cli_input_exits_2_and_stores_nothing(
    tmp_path: Path, args: list[str], stdin: str, words: str
) -> None:
    cfg = make_config(tmp_path)
    done = hoso_vault(cfg, *args, stdin=stdin)
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert words in done.stderr and "Traceback" not in done.stderr
    assert not vault_path(cfg).exists()


def test_a_damaged_vault_exits_1_with_a_message_and_no_traceback(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    filled(cfg)
    good = vault_path(cfg).read_bytes()
    vault_path(cfg).write_bytes(good[: len(good) // 2])
    for args in (["list"], ["show", "smtp", "--reveal"], ["set", "smtp"]):
        done = hoso_vault(cfg, *args, stdin="new\n")
        assert done.returncode == ExitCode.PARTIAL, done.stderr
        assert "Restore it from a backup" in done.stderr and "Traceback" not in done.stderr
    assert vault_path(cfg).read_bytes() == good[: len(good) // 2]


def test_the_cli_refuses_a_key_file_others_can_read(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    filled(cfg)
    key_file_path(cfg).chmod(0o640)
    done = hoso_vault(cfg, "list")
    assert done.returncode == ExitCode.USAGE and "chmod 600" in done.stderr


def test_protect_then_the_cli_needs_the_passphrase(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    filled(cfg)
    done = hoso_vault(cfg, "protect", env={"HOSO_VAULT_NEW_PASSPHRASE": "cụm từ bí mật dài"})
    assert done.returncode == 0, done.stderr
    locked = hoso_vault(cfg, "list")
    assert locked.returncode == ExitCode.USAGE and "HOSO_VAULT_PASSPHRASE" in locked.stderr
    opened = hoso_vault(cfg, "list", "--json", env={"HOSO_VAULT_PASSPHRASE": "cụm từ bí mật dài"})
    assert opened.returncode == 0, opened.stderr
    assert [r["name"] for r in json.loads(opened.stdout)] == ["school-mailbox", "smtp"]


def test_secrets_reach_no_log_file(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    hoso_vault(cfg, "set", "webdav", stdin=SECRET + "\n")
    hoso_vault(cfg, "show", "webdav")
    hoso_vault(cfg, "list", "--json")
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".toml"]
    assert vault_path(cfg) in written
    for path in written:
        assert SECRET.encode() not in path.read_bytes(), path
    assert os.environ.get("HOSO_WEBDAV_PASSWORD") != SECRET
