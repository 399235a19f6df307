"""An independent reader and writer of docs/backup-format.md, written from the document only.

The tests check agent/backup against it in both directions, and the committed vectors in
this folder were produced by it (fixed keys and nonces) or by hoso itself (repository/).
It shares no code with agent/backup: if the two disagree, either the code or the format
document is wrong.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import struct
import unicodedata
import zlib
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt


def derive(master: bytes) -> tuple[bytes, bytes]:
    """(encryption key, id key) of a master key."""

    def hkdf(info: bytes) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master)

    return hkdf(b"hoso-backup v1 encryption"), hkdf(b"hoso-backup v1 id")


def blob_id(id_key: bytes, plaintext: bytes) -> str:
    return hmac.new(id_key, plaintext, hashlib.sha256).hexdigest()


def seal(
    key: bytes,
    repo_id: bytes,
    kind: bytes,
    name: str,
    nonce: bytes,
    plaintext: bytes,
    compress: bool,
) -> bytes:
    header = b"HOSO" + bytes([1]) + kind
    body = b"\x01" + zlib.compress(plaintext) if compress else b"\x00" + plaintext
    return header + nonce + AESGCM(key).encrypt(nonce, body, header + repo_id + name.encode())


def unseal(key: bytes, repo_id: bytes, kind: bytes, name: str, data: bytes) -> bytes:
    header, nonce, sealed = data[:6], data[6:18], data[18:]
    assert header == b"HOSO" + bytes([1]) + kind, header
    body = AESGCM(key).decrypt(nonce, sealed, header + repo_id + name.encode())
    assert body[0] in (0, 1)
    return zlib.decompress(body[1:]) if body[0] == 1 else body[1:]


def storage_byte(key: bytes, repo_id: bytes, kind: bytes, name: str, data: bytes) -> int:
    """How an envelope's plaintext is stored: 0 as is, 1 zlib."""
    header = data[:6]
    return AESGCM(key).decrypt(data[6:18], data[18:], header + repo_id + name.encode())[0]


def slot_checksum(slot: dict[str, Any]) -> str:
    rest = {k: v for k, v in slot.items() if k != "checksum"}
    text = json.dumps(rest, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def slot_key(passphrase: str, kdf: dict[str, Any]) -> bytes:
    salt = base64.b64decode(kdf["salt"])
    secret = unicodedata.normalize("NFC", passphrase).encode("utf-8")
    return Scrypt(salt=salt, length=32, n=kdf["n"], r=kdf["r"], p=kdf["p"]).derive(secret)


def make_slot(
    master: bytes,
    repo_id: str,
    slot_id: str,
    passphrase: str,
    *,
    salt: bytes,
    nonce: bytes,
    n: int,
    label: str,
    created: str,
) -> dict[str, Any]:
    kdf = {"name": "scrypt", "n": n, "r": 8, "p": 1, "salt": base64.b64encode(salt).decode()}
    ad = f"hoso-backup key slot v1|{repo_id}|{slot_id}".encode()
    wrapped = AESGCM(slot_key(passphrase, kdf)).encrypt(nonce, master, ad)
    slot = {
        "format": "hoso-backup-key",
        "version": 1,
        "id": slot_id,
        "label": label,
        "created": created,
        "repository": repo_id,
        "kdf": kdf,
        "nonce": base64.b64encode(nonce).decode(),
        "wrapped": base64.b64encode(wrapped).decode(),
    }
    slot["checksum"] = slot_checksum(slot)
    return slot


def unwrap(slot: dict[str, Any], passphrase: str) -> bytes:
    assert slot_checksum(slot) == slot["checksum"]
    ad = f"hoso-backup key slot v1|{slot['repository']}|{slot['id']}".encode()
    nonce = base64.b64decode(slot["nonce"])
    return AESGCM(slot_key(passphrase, slot["kdf"])).decrypt(
        nonce, base64.b64decode(slot["wrapped"]), ad
    )


def read_repository(root: Path, passphrase: str) -> dict[str, Any]:
    """Everything in a repository: config, snapshots by id, every blob's plaintext, and the
    manifest (format 2; None in format 1)."""
    config_file = (root / "config").read_bytes()
    repo_id = config_file[6:22]
    master = None
    for slot_file in sorted((root / "keys").iterdir()):
        try:
            master = unwrap(json.loads(slot_file.read_text("utf-8")), passphrase)
            break
        except (InvalidTag, AssertionError, KeyError, ValueError):
            continue  # a reader tries every slot
    assert master is not None, "no slot opens"
    key, id_key = derive(master)
    config = json.loads(unseal(key, repo_id, b"c", "config", config_file[:6] + config_file[22:]))
    assert config["id"] == repo_id.hex()
    blobs: dict[str, bytes] = {}
    for index_file in sorted((root / "index").iterdir()):
        data = index_file.read_bytes()
        assert hashlib.sha256(data).hexdigest() == index_file.name
        for pack in json.loads(unseal(key, repo_id, b"i", "index", data))["packs"]:
            blobs.update(_read_pack(root, pack, key, id_key, repo_id))
    snapshots = {}
    for snap_file in sorted((root / "snapshots").iterdir()):
        data = snap_file.read_bytes()
        assert hashlib.sha256(data).hexdigest() == snap_file.name
        snapshots[snap_file.name] = json.loads(unseal(key, repo_id, b"s", "snapshots", data))
    manifest_file = root / "manifest"
    manifest = None
    if manifest_file.exists():
        manifest = json.loads(unseal(key, repo_id, b"m", "manifest", manifest_file.read_bytes()))
    return {"config": config, "snapshots": snapshots, "blobs": blobs, "manifest": manifest}


def _read_pack(
    root: Path, pack: dict[str, Any], key: bytes, id_key: bytes, repo_id: bytes
) -> dict[str, bytes]:
    data = (root / "data" / pack["id"][:2] / pack["id"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == pack["id"]
    (header_length,) = struct.unpack("<I", data[-4:])
    header = json.loads(unseal(key, repo_id, b"h", "pack", data[-4 - header_length : -4]))
    assert header["blobs"] == pack["blobs"]
    found = {}
    for blob in pack["blobs"]:
        envelope = data[blob["offset"] : blob["offset"] + blob["length"]]
        plain = unseal(key, repo_id, b"b", blob["id"], envelope)
        assert len(plain) == blob["raw_length"]
        assert blob_id(id_key, plain) == blob["id"]
        found[blob["id"]] = plain
    return found
