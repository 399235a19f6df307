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

from plugins.handover.bundle import BundleRefused, open_bundle
from plugins.handover.keys import HandoverKeys

VECTORS = Path(__file__).resolve().parent / "handover_vectors"


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
