"""Known answers: vaults written by an earlier hoso still open, with the same entries.

tests/vault_vectors/ holds vaults of format 1 written by hoso before agent/envelope.py existed
(test-only secrets, published), one per place the key can be: a key file, a key file wrapped
by a passphrase, the OS keyring. If the vault format or its cryptography changes, these tests
fail: bump the format version and keep reading version 1 instead of locking teachers out.
"""

from __future__ import annotations

import base64
import json
import shutil
import unicodedata
from pathlib import Path
from typing import Any

import keyring.backends.fail
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from memory_keyring import MemoryKeyring

from agent import config as configmod
from agent.config import Config
from agent.envelope import KdfParams
from agent.vault import Vault, VaultDamaged, VaultLocked, key_file_path, protect, vault_path

VECTORS = Path(__file__).resolve().parent / "vault_vectors"
EXPECTED = json.loads((VECTORS / "vectors.json").read_text(encoding="utf-8"))
FAIL = keyring.backends.fail.Keyring()



def installed(tmp_path: Path, folder: str) -> Config:
    """A config beside a copy of the vector ``folder``'s vault and key file, as hoso has them."""
    cfg = configmod.from_dict(
        {
            "root": str(tmp_path / "HoSo"),
            "state_dir": str(tmp_path / "state"),
            "language": "en",
            "remote": {"url": "http://127.0.0.1:9/", "user": "cô.lan"},
        },
        tmp_path / "agent.toml",
    )
    shutil.copyfile(VECTORS / folder / "agent.vault", vault_path(cfg))
    key_file = VECTORS / folder / "agent.vault-key"
    if key_file.exists():
        shutil.copyfile(key_file, key_file_path(cfg))
        key_file_path(cfg).chmod(0o600)
    return cfg


def entries(vault: Vault) -> dict[str, Any]:
    found = {}
    for name in vault.names():
        entry = vault.get(name)
        assert entry is not None
        found[name] = {"secret": entry.secret.reveal(), "fields": dict(entry.fields)}
    return found


@pytest.fixture(autouse=True)
def _no_passphrase_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HOSO_VAULT_PASSPHRASE", raising=False)


def test_the_vault_with_a_key_file_opens_and_stays_writable(tmp_path: Path) -> None:
    cfg = installed(tmp_path, "file")
    vault = Vault.open(cfg, backend=FAIL)
    assert entries(vault) == EXPECTED["entries"]
    vault.set("smtp", "mới")
    again = entries(Vault.open(cfg, backend=FAIL))
    assert again["smtp"]["secret"] == "mới"
    assert again["school-mailbox"] == EXPECTED["entries"]["school-mailbox"]


def test_the_vault_with_a_protected_key_file_opens_with_its_passphrase(tmp_path: Path) -> None:
    cfg = installed(tmp_path, "protected")
    with pytest.raises(VaultLocked):
        Vault.open(cfg, backend=FAIL, prompt=lambda _text: "not the passphrase")
    assert (
        entries(Vault.open(cfg, backend=FAIL, prompt=lambda _text: EXPECTED["passphrase"]))
        == (EXPECTED["entries"])
    )


def test_the_vault_with_its_key_in_the_keyring_opens(tmp_path: Path) -> None:
    cfg = installed(tmp_path, "keyring")
    memory = MemoryKeyring()
    key = json.loads((VECTORS / "keyring" / "keyring.json").read_text())["key"]
    memory.set_password("hoso", str(vault_path(cfg)), key)
    assert entries(Vault.open(cfg, backend=memory)) == EXPECTED["entries"]


def test_a_vault_does_not_open_with_another_vaults_key(tmp_path: Path) -> None:
    cfg = installed(tmp_path, "file")
    shutil.copyfile(VECTORS / "keyring" / "agent.vault", vault_path(cfg))
    memory = MemoryKeyring()  # the keyring vault's header names the keyring: give it a wrong key
    memory.set_password(
        "hoso",
        str(vault_path(cfg)),
        json.loads((VECTORS / "file" / "agent.vault-key").read_text())["key"],
    )
    before = vault_path(cfg).read_bytes()
    with pytest.raises(VaultDamaged, match="authentication"):
        Vault.open(cfg, backend=memory)
    assert vault_path(cfg).read_bytes() == before


def format_1_open(vault: bytes, key: bytes) -> dict[str, Any]:
    """The vault's entries as format 1 (docs/vault.md) reads them, apart from hoso's code."""
    document = json.loads(vault)
    header = {k: v for k, v in document.items() if k not in ("nonce", "ciphertext")}
    canonical = json.dumps(header, sort_keys=True, separators=(",", ":"))
    associated = b"hoso-vault v1" + canonical.encode()
    plain = AESGCM(key).decrypt(
        base64.b64decode(document["nonce"]), base64.b64decode(document["ciphertext"]), associated
    )
    return {
        name: {"secret": entry["secret"], "fields": entry["fields"]}
        for name, entry in json.loads(plain)["entries"].items()
    }


def format_1_unwrap(key_file: bytes, passphrase: str) -> bytes:
    document = json.loads(key_file)
    kdf = document["kdf"]
    wrapping = Scrypt(
        salt=base64.b64decode(kdf["salt"]), length=32, n=kdf["n"], r=kdf["r"], p=kdf["p"]
    ).derive(unicodedata.normalize("NFC", passphrase).encode("utf-8"))
    return AESGCM(wrapping).decrypt(
        base64.b64decode(document["nonce"]),
        base64.b64decode(document["wrapped"]),
        b"hoso-vault-key v1",
    )


def test_the_format_1_construction_opens_the_committed_vaults() -> None:
    key = base64.b64decode(json.loads((VECTORS / "file" / "agent.vault-key").read_text())["key"])
    assert format_1_open((VECTORS / "file" / "agent.vault").read_bytes(), key) == (
        EXPECTED["entries"]
    )


def test_an_older_hoso_reads_the_vault_and_key_file_written_now(tmp_path: Path) -> None:
    cfg = installed(tmp_path, "file")
    Vault.open(cfg, backend=FAIL).set("smtp", "viết-bởi-bản-mới")
    protect(cfg, EXPECTED["passphrase"], KdfParams(n=2**10))
    key = format_1_unwrap(key_file_path(cfg).read_bytes(), EXPECTED["passphrase"])
    entries = format_1_open(vault_path(cfg).read_bytes(), key)
    assert entries["smtp"]["secret"] == "viết-bởi-bản-mới"
    assert entries["school-mailbox"] == EXPECTED["entries"]["school-mailbox"]
