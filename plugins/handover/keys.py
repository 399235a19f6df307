"""The handover keys, and every cryptographic operation of the handover plugin.

Each keeper's machine has one key pair for sealing (X25519) and one for signing (Ed25519),
kept in the vault as the entry ``handover-key``. The public half travels as one line of text
("hoso1:" + base32 of both public keys and a 4-byte checksum) that can be read aloud or sent
by chat; its fingerprint (SHA-256 of the public keys, four groups of base32) is compared in
person, because a key sent by chat could have been swapped on the way.

Invariants:
- This is the plugin's only module that imports ``cryptography`` or the agent's envelope: the
  bundle and the log call :func:`seal`, :func:`unseal`, :func:`sign` and :func:`verify`.
- Whatever does not unseal is the agent's one :class:`CannotOpen`.
- Private keys live only in the vault entry's secret; no repr or message shows them.
- A public-key text with a wrong prefix, length or checksum is refused (a typo is caught).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from agent.api import (
    HANDOVER_BUNDLE,
    SealingKey,
    UsageError,
    Vault,
    _,
    cannot_open,
    derive_key,
    open_sealed,
)
from agent.api import Sealed as Box
from agent.api import seal as seal_box

ENTRY = "handover-key"
PREFIX = "hoso1:"
KEY_SIZE = 32
CHECKSUM_SIZE = 4
CHECKSUM_LABEL = b"hoso-handover-key v1"
SEAL_INFO = b"hoso-handover v1 seal"

_RAW = serialization.Encoding.Raw
_RAW_PUBLIC = serialization.PublicFormat.Raw
_RAW_PRIVATE = serialization.PrivateFormat.Raw


class BadPublicKey(UsageError):
    """A public-key text that is not a hoso handover key (typo, truncated, wrong checksum)."""


class KeyDamaged(UsageError):
    """The vault's ``handover-key`` entry is not a pair of private keys."""


@dataclass(frozen=True)
class PublicKey:
    """Someone's public handover key: the sealing key and the signing key, raw 32 bytes each."""

    seal: bytes
    sign: bytes

    @classmethod
    def parse(cls, text: str) -> PublicKey:
        """The key in ``text`` ("hoso1:…"); BadPublicKey when it is not one."""
        body = "".join(text.split()).upper()  # read aloud and retyped: spaces, lower case
        if not body.startswith(PREFIX.upper()):
            raise BadPublicKey(
                _("The key must start with `{prefix}`; nothing was done.").format(prefix=PREFIX)
            )
        encoded = body[len(PREFIX) :]
        try:
            raw = base64.b32decode(encoded + "=" * (-len(encoded) % 8))
        except (binascii.Error, ValueError):
            raw = b""
        if (
            len(raw) != 2 * KEY_SIZE + CHECKSUM_SIZE
            or _checksum(raw[:-CHECKSUM_SIZE]) != raw[-CHECKSUM_SIZE:]
        ):
            raise BadPublicKey(
                _(
                    "The key is mistyped or incomplete (its checksum does not match); copy it "
                    "again from `hoso handover keygen` on the receiver's computer. "
                    "Nothing was done."
                )
            )
        return cls(raw[:KEY_SIZE], raw[KEY_SIZE : 2 * KEY_SIZE])

    def text(self) -> str:
        raw = self.seal + self.sign
        encoded = base64.b32encode(raw + _checksum(raw)).decode("ascii").rstrip("=")
        return PREFIX + encoded

    def fingerprint(self) -> str:
        """XXXX-XXXX-XXXX-XXXX: 80 bits of SHA-256 over both public keys, to compare aloud."""
        digest = base64.b32encode(hashlib.sha256(self.seal + self.sign).digest()).decode("ascii")
        return "-".join(digest[i : i + 4] for i in range(0, 16, 4))


@dataclass(frozen=True)
class HandoverKeys:
    """This machine's private keys (32 raw bytes each)."""

    seal_private: bytes
    sign_private: bytes

    def __repr__(self) -> str:
        return f"HandoverKeys({self.public().fingerprint()})"

    @classmethod
    def generate(cls) -> HandoverKeys:
        return cls(
            X25519PrivateKey.generate().private_bytes(_RAW, _RAW_PRIVATE, _no_encryption()),
            Ed25519PrivateKey.generate().private_bytes(_RAW, _RAW_PRIVATE, _no_encryption()),
        )

    def public(self) -> PublicKey:
        seal = X25519PrivateKey.from_private_bytes(self.seal_private).public_key()
        sign = Ed25519PrivateKey.from_private_bytes(self.sign_private).public_key()
        return PublicKey(seal.public_bytes(_RAW, _RAW_PUBLIC), sign.public_bytes(_RAW, _RAW_PUBLIC))


# --- the vault entry ---------------------------------------------------------------------------


def load(vault: Vault) -> HandoverKeys | None:
    """The keys stored in ``vault``, or None when there are none."""
    entry = vault.get(ENTRY)
    if entry is None:
        return None
    try:
        stored = json.loads(entry.secret.reveal())
        keys = HandoverKeys(
            base64.b64decode(stored["seal"], validate=True),
            base64.b64decode(stored["sign"], validate=True),
        )
        keys.public()  # a wrong length fails here, not later in the middle of a handover
    except (json.JSONDecodeError, KeyError, TypeError, binascii.Error, ValueError):
        raise KeyDamaged(
            _(
                "The vault entry `{name}` is not a handover key. Remove it "
                "(`hoso vault remove {name}`) and run `hoso handover keygen --new`."
            ).format(name=ENTRY)
        ) from None
    return keys


def load_or_create(vault: Vault, *, new: bool = False) -> tuple[HandoverKeys, bool]:
    """The stored keys, or fresh ones stored now (always fresh with ``new``); and whether
    they were made now."""
    existing = None if new else load(vault)
    if existing is not None:
        return existing, False
    keys = HandoverKeys.generate()
    secret = json.dumps(
        {
            "seal": base64.b64encode(keys.seal_private).decode("ascii"),
            "sign": base64.b64encode(keys.sign_private).decode("ascii"),
        }
    )
    created = datetime.now().astimezone().isoformat(timespec="seconds")
    vault.set(ENTRY, secret, {"created": created, "fingerprint": keys.public().fingerprint()})
    return keys, True


# --- sealing and signing -----------------------------------------------------------------------


@dataclass(frozen=True)
class Sealed:
    ephemeral: bytes  # the sender's one-time X25519 public key
    nonce: bytes
    ciphertext: bytes  # AES-256-GCM, tag included


def seal(recipient: PublicKey, plaintext: bytes, associated: Callable[[bytes], bytes]) -> Sealed:
    """Encrypt for ``recipient`` only: a one-time X25519 key agreement, HKDF-SHA256, and the
    agent's envelope (kind ``HANDOVER_BUNDLE``).

    ``associated(ephemeral_pub)`` gives the header authenticated alongside (a JSON object): a
    callback, because the header it comes from names the one-time key made here."""
    ephemeral = X25519PrivateKey.generate()
    ephemeral_pub = ephemeral.public_key().public_bytes(_RAW, _RAW_PUBLIC)
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient.seal))
    key = _derive(shared, ephemeral_pub, recipient.seal)
    header = associated(ephemeral_pub)
    box = seal_box(key, HANDOVER_BUNDLE, plaintext, header)
    return Sealed(ephemeral_pub, box.nonce, box.ciphertext)


def unseal(keys: HandoverKeys, sealed: Sealed, associated: bytes) -> bytes:
    """The plaintext of ``sealed``; CannotOpen when it was altered or is not for ``keys``."""
    private = X25519PrivateKey.from_private_bytes(keys.seal_private)
    try:
        shared = private.exchange(X25519PublicKey.from_public_bytes(sealed.ephemeral))
    except ValueError:  # not 32 bytes, or a forged key giving an all-zero shared secret
        raise cannot_open(_("its one-time key is not a valid key")) from None
    key = _derive(shared, sealed.ephemeral, keys.public().seal)
    return open_sealed(key, HANDOVER_BUNDLE, Box(sealed.nonce, sealed.ciphertext), associated)


def sign(keys: HandoverKeys, data: bytes) -> bytes:
    return Ed25519PrivateKey.from_private_bytes(keys.sign_private).sign(data)


def verify(sign_pub: bytes, data: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is the signature of ``data`` by the key ``sign_pub``."""
    try:
        Ed25519PublicKey.from_public_bytes(sign_pub).verify(signature, data)
    except (InvalidSignature, ValueError):
        return False
    return True


def _derive(shared: bytes, ephemeral_pub: bytes, recipient_seal: bytes) -> SealingKey:
    # Both public keys in the salt bind the key to this exchange and this recipient.
    salt = ephemeral_pub + recipient_seal
    return SealingKey(derive_key(shared, SEAL_INFO, salt))


def _checksum(raw: bytes) -> bytes:
    return hashlib.sha256(CHECKSUM_LABEL + raw).digest()[:CHECKSUM_SIZE]


def _no_encryption() -> serialization.KeySerializationEncryption:
    return serialization.NoEncryption()
