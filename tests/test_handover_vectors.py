"""Known answers: a bundle sealed by an earlier hoso still opens, with the same content.

tests/handover_vectors/ holds a bundle and the (test-only, published) keys it was made with.
If the bundle format or its cryptography changes, this test fails: bump the format version and
keep reading version 1 instead of silently breaking bundles already on USB drives.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from agent.config import Secret
from plugins.handover.bundle import Account, BundleRefused, Party, open_bundle, seal_bundle
from plugins.handover.keys import HandoverKeys

VECTORS = Path(__file__).resolve().parent / "handover_vectors"
# The fields of the bundle's header (format 1): its associated data.
HEADER_FIELDS = (
    "format",
    "version",
    "id",
    "created",
    "giver",
    "receiver_fingerprint",
    "ephemeral_pub",
)


def keys(name: str) -> HandoverKeys:
    stored = json.loads((VECTORS / "keys.json").read_text(encoding="utf-8"))[name]
    return HandoverKeys(base64.b64decode(stored["seal"]), base64.b64decode(stored["sign"]))


def test_the_committed_bundle_opens_with_the_receivers_key() -> None:
    opened = open_bundle((VECTORS / "bundle.hoso-handover").read_bytes(), keys("receiver"))
    assert opened.id == "0123456789abcdef0123456789abcdef"
    assert (opened.giver.name, opened.giver.position) == ("Trần Thị Bích", "Văn thư")
    assert opened.giver_key == keys("giver").public()
    assert opened.account.address == "th.binhchanh@hcm.edu.vn"
    assert opened.account.password.reveal() == "Mật-khẩu-thử-2026"
    assert opened.notes == {"2fa": "Google Authenticator trên điện thoại của trường"}


def test_the_committed_bundle_does_not_open_for_its_giver() -> None:
    with pytest.raises(BundleRefused):
        open_bundle((VECTORS / "bundle.hoso-handover").read_bytes(), keys("giver"))


def test_a_bundle_sealed_now_opens_with_the_format_1_construction() -> None:
    """An older hoso reads what this one seals: X25519, HKDF-SHA256 and AES-256-GCM over the
    canonical header, written out here apart from hoso's own code."""
    sealed = seal_bundle(
        bundle_id="fedcba9876543210fedcba9876543210",
        created="2026-12-07T13:20:00+07:00",
        account=Account("th.binhchanh@hcm.edu.vn", "gmail", "", "", Secret("Mật-khẩu-mới")),
        notes={},
        giver=Party("Trần Thị Bích", "Văn thư"),
        giver_keys=keys("giver"),
        receiver=keys("receiver").public(),
    )
    document = json.loads(sealed)
    assert (document["format"], document["version"]) == ("hoso-handover", 1)
    ephemeral = base64.b64decode(document["ephemeral_pub"])
    receiver = keys("receiver")
    shared = X25519PrivateKey.from_private_bytes(receiver.seal_private).exchange(
        X25519PublicKey.from_public_bytes(ephemeral)
    )
    key = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=ephemeral + receiver.public().seal,
        info=b"hoso-handover v1 seal",
    ).derive(shared)
    header = {k: document[k] for k in HEADER_FIELDS}
    associated = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    plain = AESGCM(key).decrypt(
        base64.b64decode(document["nonce"]),
        base64.b64decode(document["ciphertext"]),
        associated.encode("utf-8"),
    )
    assert json.loads(plain)["account"]["password"] == "Mật-khẩu-mới"
