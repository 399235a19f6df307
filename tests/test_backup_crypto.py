"""Backup cryptography (agent/backup/crypto.py): known answers, tampering, key slots.

The known-answer vectors in tests/backup_vectors/ were written by an independent
implementation of docs/backup-format.md (backup_vectors/reference.py) with fixed keys and
nonces: if hoso's byte layout, associated data or key derivation changes, these fail.
"""

from __future__ import annotations

import copy
import hashlib
import json
import unicodedata
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from backup_vectors import reference

from agent.backup import crypto
from agent.backup.crypto import Keys
from agent.envelope import KdfParams
from agent.errors import BackupDamaged, RepositoryNewer

VECTORS = json.loads(
    (Path(__file__).parent / "backup_vectors" / "vectors.json").read_text(encoding="utf-8")
)
MASTER = bytes.fromhex(VECTORS["master"])
REPO_ID = bytes.fromhex(VECTORS["repository"])
CHEAP = KdfParams(n=2**10)
NOW = datetime(2026, 11, 29, 9, 30, tzinfo=timezone(timedelta(hours=7)))
LESSON = ("Kế hoạch bài dạy: Tiếng Việt, Tuần 12. Rút kinh nghiệm sau bài dạy.\n" * 300).encode()


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys.from_master(MASTER)


# --- known answers ---------------------------------------------------------------------------


def test_key_derivation_and_blob_ids_match_the_vectors(keys: Keys) -> None:
    assert keys.encryption.hex() == VECTORS["encryption_key"]
    assert keys.ids.hex() == VECTORS["id_key"]
    for text, blob_id in VECTORS["blob_ids"].items():
        assert keys.blob_id(text.encode()) == blob_id


@pytest.mark.parametrize("vector", VECTORS["envelopes"], ids=lambda v: v["kind"])
def test_committed_envelopes_open(keys: Keys, vector: dict[str, str]) -> None:
    data = bytes.fromhex(vector["envelope"])
    plain = crypto.open_envelope(keys, REPO_ID, vector["kind"].encode(), vector["name"], data)
    assert plain == vector["plaintext"].encode("utf-8")


@pytest.mark.parametrize("vector", VECTORS["envelopes"], ids=lambda v: v["kind"])
def test_the_reference_reads_what_hoso_seals(keys: Keys, vector: dict[str, str]) -> None:
    kind, plain = vector["kind"].encode(), vector["plaintext"].encode("utf-8")
    sealed = crypto.seal(keys, REPO_ID, kind, vector["name"], plain)
    assert sealed[:6] == b"HOSO\x01" + kind
    assert reference.unseal(keys.encryption, REPO_ID, kind, vector["name"], sealed) == plain


def test_the_committed_key_slot_opens_with_its_passphrase() -> None:
    slot = VECTORS["slot"]
    assert crypto.unwrap_slot(slot, VECTORS["repository"], VECTORS["passphrase"]) == MASTER


def test_the_reference_opens_slots_hoso_makes() -> None:
    slot = crypto.make_slot(MASTER, REPO_ID.hex(), "Cô Lan", "Cô Lan", CHEAP, NOW)
    assert reference.unwrap(slot, "Cô Lan") == MASTER
    assert slot["kdf"] | {"salt": ""} == {"name": "scrypt", "n": 2**10, "r": 8, "p": 1, "salt": ""}
    assert "Cô Lan" not in json.dumps({k: v for k, v in slot.items() if k != "label"})


# --- envelopes -------------------------------------------------------------------------------


def test_compression_is_used_only_where_it_saves(keys: Keys) -> None:
    incompressible = b"".join(hashlib.sha256(i.to_bytes(4, "little")).digest() for i in range(8000))
    for plain, expected in ((LESSON, crypto.ZLIB), (incompressible, crypto.STORED)):
        sealed = crypto.seal(keys, REPO_ID, crypto.KIND_BLOB, "x", plain)
        assert reference.storage_byte(keys.encryption, REPO_ID, b"b", "x", sealed) == expected
        assert crypto.open_envelope(keys, REPO_ID, crypto.KIND_BLOB, "x", sealed) == plain
    assert len(crypto.seal(keys, REPO_ID, crypto.KIND_BLOB, "x", LESSON)) < len(LESSON) // 4


def test_compressible_data_behind_a_compressed_start_is_compressed(keys: Keys) -> None:
    # An old .doc: an embedded picture first, then text: samples across the blob see the text.
    picture = b"".join(hashlib.sha256(i.to_bytes(4, "little")).digest() for i in range(2048))
    plain = picture + LESSON * 8
    sealed = crypto.seal(keys, REPO_ID, crypto.KIND_BLOB, "x", plain)
    assert reference.storage_byte(keys.encryption, REPO_ID, b"b", "x", sealed) == crypto.ZLIB


def test_empty_and_tiny_plaintexts_round_trip(keys: Keys) -> None:
    for plain in (b"", b"a", b"{}" * 40):
        sealed = crypto.seal(keys, REPO_ID, crypto.KIND_SNAPSHOT, "snapshots", plain)
        opened = crypto.open_envelope(keys, REPO_ID, crypto.KIND_SNAPSHOT, "snapshots", sealed)
        assert opened == plain


def test_nonces_are_fresh(keys: Keys) -> None:
    nonces = {crypto.seal(keys, REPO_ID, b"s", "snapshots", b"same")[6:18] for _ in range(50)}
    assert len(nonces) == 50


@pytest.mark.parametrize(
    ("kind", "name", "repo_id"),
    [
        (crypto.KIND_INDEX, "index", REPO_ID),  # an index passed off as a snapshot
        (crypto.KIND_SNAPSHOT, "index", REPO_ID),  # the right kind in the wrong folder
        (crypto.KIND_SNAPSHOT, "snapshots", bytes(16)),  # a file of another repository
    ],
)
def test_envelopes_are_bound_to_kind_name_and_repository(
    keys: Keys, kind: bytes, name: str, repo_id: bytes
) -> None:
    sealed = crypto.seal(keys, repo_id, kind, name, b'{"x": 1}')
    with pytest.raises(BackupDamaged):
        crypto.open_envelope(keys, REPO_ID, crypto.KIND_SNAPSHOT, "snapshots", sealed)


def test_a_blob_does_not_pass_for_another_blob(keys: Keys) -> None:
    first = crypto.seal(keys, REPO_ID, crypto.KIND_BLOB, keys.blob_id(b"one"), b"one")
    with pytest.raises(BackupDamaged):
        crypto.open_envelope(keys, REPO_ID, crypto.KIND_BLOB, keys.blob_id(b"two"), first)


def _envelope_fields(size: int) -> dict[str, range]:
    return {
        "magic": range(0, 4),
        "kind": range(5, 6),
        "nonce": range(6, 18),
        "ciphertext": range(18, size - 16),
        "tag": range(size - 16, size),
    }


@pytest.mark.parametrize("field", ["magic", "kind", "nonce", "ciphertext", "tag"])
@pytest.mark.parametrize("how", ["flip", "empty", "truncate"])
def test_every_envelope_field_is_authenticated(keys: Keys, field: str, how: str) -> None:
    sealed = crypto.seal(keys, REPO_ID, crypto.KIND_INDEX, "index", LESSON)
    span = _envelope_fields(len(sealed))[field]
    if how == "flip":
        bad = bytearray(sealed)
        for position in {span.start, span.stop - 1}:
            bad[position] ^= 0x01
    elif how == "empty":
        bad = bytearray(sealed[: span.start] + sealed[span.stop :])
    else:
        bad = bytearray(sealed[: span.start + len(span) // 2])
    with pytest.raises(BackupDamaged, match="index/abc"):
        crypto.open_envelope(keys, REPO_ID, b"i", "index", bytes(bad), what="index/abc")


@pytest.mark.parametrize("length", [0, 1, 5, 6, 17, 18, 33, 34])
def test_short_envelopes_are_damaged(keys: Keys, length: int) -> None:
    sealed = crypto.seal(keys, REPO_ID, crypto.KIND_INDEX, "index", b"")
    with pytest.raises(BackupDamaged):
        crypto.open_envelope(keys, REPO_ID, crypto.KIND_INDEX, "index", sealed[:length])


def test_a_newer_version_byte_is_refused_as_newer(keys: Keys) -> None:
    sealed = bytearray(crypto.seal(keys, REPO_ID, crypto.KIND_INDEX, "index", b"{}"))
    sealed[4] = 2
    with pytest.raises(RepositoryNewer, match="newer version of hoso"):
        crypto.open_envelope(keys, REPO_ID, crypto.KIND_INDEX, "index", bytes(sealed))
    sealed[4] = 0
    with pytest.raises(BackupDamaged):
        crypto.open_envelope(keys, REPO_ID, crypto.KIND_INDEX, "index", bytes(sealed))


def test_config_envelope_carries_the_repository_id_in_clear(keys: Keys) -> None:
    sealed = crypto.seal_config(keys, REPO_ID, b'{"version": 1}')
    assert crypto.config_repository_id(sealed) == REPO_ID == sealed[6:22]
    assert crypto.open_config(keys, sealed) == b'{"version": 1}'
    altered = sealed[:6] + bytes(16) + sealed[22:]
    with pytest.raises(BackupDamaged, match="config"):
        crypto.open_config(keys, altered)


# --- key slots -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def slot() -> dict[str, Any]:
    return crypto.make_slot(MASTER, REPO_ID.hex(), "mật khẩu", "Cô Lan", CHEAP, NOW)


def test_a_slot_opens_with_its_passphrase_only(slot: dict[str, Any]) -> None:
    assert crypto.unwrap_slot(slot, REPO_ID.hex(), "mật khẩu") == MASTER
    assert crypto.unwrap_slot(slot, REPO_ID.hex(), "mat khau") is None


def test_the_passphrase_is_compared_in_nfc(slot: dict[str, Any]) -> None:
    decomposed = unicodedata.normalize("NFD", "mật khẩu")
    assert decomposed != "mật khẩu"
    assert crypto.unwrap_slot(slot, REPO_ID.hex(), decomposed) == MASTER


def _altered(slot: dict[str, Any], path: tuple[str, ...], how: str) -> dict[str, Any]:
    bad = copy.deepcopy(slot)
    holder = bad
    for key in path[:-1]:
        holder = holder[key]
    value = holder[path[-1]]
    if how == "delete":
        del holder[path[-1]]
    elif how == "empty":
        holder[path[-1]] = type(value)()
    elif isinstance(value, int):
        holder[path[-1]] = value ^ 1
    else:  # flip one character, keeping the same alphabet
        holder[path[-1]] = value[:-2] + ("A" if value[-2] != "A" else "B") + value[-1]
    return bad


SLOT_FIELDS = [
    ("format",),
    ("version",),
    ("id",),
    ("label",),
    ("created",),
    ("repository",),
    ("kdf", "name"),
    ("kdf", "n"),
    ("kdf", "r"),
    ("kdf", "p"),
    ("kdf", "salt"),
    ("nonce",),
    ("wrapped",),
    ("checksum",),
]


@pytest.mark.parametrize("path", SLOT_FIELDS, ids=".".join)
@pytest.mark.parametrize("how", ["flip", "empty", "delete"])
def test_a_damaged_slot_is_damage_not_a_wrong_passphrase(
    slot: dict[str, Any], path: tuple[str, ...], how: str
) -> None:
    bad = _altered(slot, path, how)
    with pytest.raises(BackupDamaged, match="keys/"):
        crypto.unwrap_slot(bad, REPO_ID.hex(), "mật khẩu")


def _resealed(slot: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A slot changed on purpose, with a checksum that matches again."""
    bad = copy.deepcopy(slot)
    for key, value in changes.items():
        if key.startswith("kdf_"):
            bad["kdf"][key[4:]] = value
        else:
            bad[key] = value
    bad["checksum"] = reference.slot_checksum(bad)
    return bad


@pytest.mark.parametrize(
    "changes",
    [
        {"kdf_n": 2**30},  # would need 128 GiB: refused before scrypt runs
        {"kdf_n": 1000},  # not a power of two
        {"kdf_name": "argon2id"},
        {"nonce": "AAAA"},
        {"wrapped": "AAAA"},
        {"format": "something-else"},
        {"repository": "00" * 16},
    ],
    ids=str,
)
def test_malformed_slots_with_a_good_checksum_are_damage(
    slot: dict[str, Any], changes: dict[str, Any]
) -> None:
    with pytest.raises(BackupDamaged):
        crypto.unwrap_slot(_resealed(slot, **changes), REPO_ID.hex(), "mật khẩu")


def test_a_newer_slot_version_is_refused_as_newer(slot: dict[str, Any]) -> None:
    with pytest.raises(RepositoryNewer):
        crypto.unwrap_slot(_resealed(slot, version=2), REPO_ID.hex(), "mật khẩu")


def test_a_slot_is_bound_to_its_id(slot: dict[str, Any]) -> None:
    moved = _resealed(slot, id="b1" * 16)  # copied under another id: does not decrypt
    assert crypto.unwrap_slot(moved, REPO_ID.hex(), "mật khẩu") is None


# --- the recovery key and repr --------------------------------------------------------------


def test_recovery_passphrases_are_eight_groups_of_four_base32() -> None:
    keys = {crypto.recovery_passphrase() for _ in range(20)}
    assert len(keys) == 20
    for key in keys:
        groups = key.split("-")
        assert len(groups) == 8 and all(len(g) == 4 for g in groups)
        assert set(key.replace("-", "")) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        assert crypto.canonical_recovery(key) == key


def test_a_recovery_key_typed_loosely_is_recognised() -> None:
    key = "ABCD-EFGH-IJKL-MNOP-QRST-UVWX-YZ23-4567"
    assert crypto.canonical_recovery("abcd efgh ijkl mnop qrst uvwx yz23 4567") == key
    assert crypto.canonical_recovery("ABCDEFGH1JKLMN0PQRSTUVWXYZ234567") == key  # 1→I, 0→O
    assert crypto.canonical_recovery("mật khẩu") is None
    assert crypto.canonical_recovery("ABCD-EFGH") is None


def test_keys_never_show_in_a_repr(keys: Keys) -> None:
    text = repr(keys)
    assert keys.encryption.hex() not in text and str(keys.encryption) not in text
    assert str(keys.ids) not in text
