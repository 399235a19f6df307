"""Write the committed vault files of this folder (run by hand, never by the tests).

    .venv/bin/python tests/vault_vectors/generate.py

Three vaults of format 1, written by hoso itself through ``agent.vault`` (random nonces and
salts: regenerating changes their bytes): ``file/`` with a plain key file, ``protected/`` with a
key file wrapped by ``PASSPHRASE`` (cheap scrypt), ``keyring/`` whose key was in the OS keyring
(``keyring.json`` holds it, base64). ``vectors.json`` says what each one holds. The committed
files were written by hoso at fa65a36, before agent/envelope.py existed, and are kept as they
are: a hoso must go on opening every vault it ever wrote. Add a folder for a new format version.
"""

from __future__ import annotations

import base64
import json
import shutil
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))
sys.path.insert(0, str(HERE.parent))  # the tests' helpers

import keyring.backend  # noqa: E402
import keyring.backends.fail  # noqa: E402
from memory_keyring import MemoryKeyring  # noqa: E402

from agent import config as configmod  # noqa: E402
from agent import vault as vaultmod  # noqa: E402
from agent.envelope import KdfParams  # noqa: E402

PASSPHRASE = "Cụm từ bảo vệ kho khoá của cô Lan"  # test-only, published on purpose
ENTRIES: dict[str, Any] = {
    "webdav": {"secret": "mật-khẩu-chia-sẻ-2026", "fields": {"user": "cô.lan"}},
    "school-mailbox": {
        "secret": "Mật-khẩu-hộp-thư-Trường-TH-Hoà-Bình",
        "fields": {
            "address": "c1hoabinh@hcm.edu.vn",
            "provider": "gmail",
            "login_url": "https://mail.google.com",
            "recovery": "0903xxxxxx",
        },
    },
    "smtp": {"secret": "app-password-xyz", "fields": {}},
}
CHEAP = {"n": 2**10, "r": 8, "p": 1}



def config(folder: Path) -> configmod.Config:
    raw = {"root": str(folder / "HoSo"), "state_dir": str(folder / "state"), "language": "en"}
    raw["remote"] = {"url": "http://127.0.0.1:9/", "user": "cô.lan"}  # type: ignore[assignment]
    return configmod.from_dict(raw, folder / "agent.toml")


def fill(cfg: configmod.Config, backend: keyring.backend.KeyringBackend) -> None:
    vault = vaultmod.Vault.open(cfg, create=True, backend=backend)
    for name, entry in ENTRIES.items():
        vault.set(name, entry["secret"], entry["fields"])


def main() -> None:
    for name in ("file", "protected", "keyring"):
        shutil.rmtree(HERE / name, ignore_errors=True)
        (HERE / name).mkdir()
    fail = keyring.backends.fail.Keyring()
    fill(config(HERE / "file"), fail)
    protected = config(HERE / "protected")
    fill(protected, fail)
    vaultmod.protect(protected, PASSPHRASE, KdfParams(**CHEAP), prompt=lambda _t: PASSPHRASE)
    memory = MemoryKeyring()
    fill(config(HERE / "keyring"), memory)
    (((_service, _account), key),) = memory.store.items()
    (HERE / "keyring" / "keyring.json").write_text(json.dumps({"key": key}) + "\n")
    assert len(base64.b64decode(key)) == vaultmod.KEY_SIZE
    for folder in ("file", "protected", "keyring"):
        (HERE / folder / "agent.vault.lock").unlink()
    vectors = {
        "note": "TEST SECRETS ONLY, published on purpose: never use them",
        "passphrase": PASSPHRASE,
        "entries": ENTRIES,
    }
    text = json.dumps(vectors, ensure_ascii=False, indent=2) + "\n"
    (HERE / "vectors.json").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
