"""hoso's one authenticated-encryption envelope: AES-256-GCM with its kind bound in.

docs/envelope.md is the format document. The backup repository, the vault and the handover
bundle seal everything they write through this module, and it is the agent's only importer of
``cryptography``: the envelope and the keys that seal it (HKDF subkeys, scrypt passphrases),
and the Ed25519 signatures the school profile is signed with.
The formats written before this module existed are its version 1, byte for byte.

Invariants:
- The associated data of an envelope is its kind's label followed by the header it is bound
  to. Labels are prefix-free (and none starts with ``{``, where the handover bundle's JSON
  header starts), so an envelope opens only as its own kind with its own header.
- Every seal draws a fresh 12-byte nonce from ``os.urandom``; callers never choose one.
- Whatever does not open (not an envelope, another kind or header, truncated, altered, another
  key) is a :class:`CannotOpen`, a framed envelope of a later version an :class:`EnvelopeNewer`;
  no byte that failed authentication is ever returned.
- Keys and passphrases appear in no repr and no message.
"""

from __future__ import annotations

import os
import unicodedata
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from .errors import CannotOpen, EnvelopeNewer
from .i18n import _

MAGIC = b"HOSO"
VERSION = 1
KEY_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16
FRAME_HEADER_SIZE = 6  # magic, version, kind byte
FRAME_OVERHEAD = FRAME_HEADER_SIZE + NONCE_SIZE + TAG_SIZE
# scrypt needs 128 * n * r bytes: refuse parameters (possibly forged) that need more than 1 GiB.
_SCRYPT_MAX_MEMORY = 1 << 30


@dataclass(frozen=True)
class Kind:
    """What an envelope holds. ``label`` starts its associated data; a framed kind's label
    (magic, version, kind byte) is also the first six bytes of the envelope itself."""

    label: bytes
    framed: bool = False


def framed_kind(code: bytes) -> Kind:
    """The framed kind whose kind byte is ``code`` (the backup's files and blobs)."""
    if len(code) != 1:
        raise ValueError("a framed kind is one byte")
    return Kind(MAGIC + bytes((VERSION,)) + code, framed=True)


# The kinds sealed as separate nonce and ciphertext fields. Framed kinds all start with MAGIC.
VAULT = Kind(b"hoso-vault v1")
VAULT_KEY = Kind(b"hoso-vault-key v1")
BACKUP_KEY_SLOT = Kind(b"hoso-backup key slot v1|")
# Format 1 of the bundle has no label: its header is a JSON object (it starts with "{", which
# no label does) naming its own format and version. Its key serves one bundle only.
HANDOVER_BUNDLE = Kind(b"")
KINDS = (VAULT, VAULT_KEY, BACKUP_KEY_SLOT, HANDOVER_BUNDLE)


@dataclass(frozen=True, eq=False)
class SealingKey:
    """A 32-byte AES-256-GCM key, its key schedule made once (never shown in a repr)."""

    secret: bytes = field(repr=False)
    _aead: AESGCM = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.secret) != KEY_SIZE:
            raise ValueError("an envelope key is 32 bytes")
        object.__setattr__(self, "_aead", AESGCM(self.secret))


@dataclass(frozen=True)
class Sealed:
    """A nonce and its ciphertext (tag included), for formats that store them as two fields."""

    nonce: bytes
    ciphertext: bytes


def seal(key: SealingKey, kind: Kind, plaintext: bytes, header: bytes = b"") -> Sealed:
    """``plaintext`` encrypted under a fresh nonce, bound to ``kind`` and ``header``."""
    nonce = os.urandom(NONCE_SIZE)
    return Sealed(nonce, key._aead.encrypt(nonce, plaintext, _associated(kind, header)))


def open_sealed(key: SealingKey, kind: Kind, sealed: Sealed, header: bytes = b"") -> bytes:
    """The plaintext of ``sealed``; CannotOpen unless ``key``, ``kind`` and ``header`` are
    the ones it was sealed with and not one byte changed."""
    if len(sealed.nonce) != NONCE_SIZE or len(sealed.ciphertext) < TAG_SIZE:
        raise cannot_open(_("it is truncated"))
    return _decrypt(key, sealed.nonce, sealed.ciphertext, _associated(kind, header))


def seal_framed(key: SealingKey, kind: Kind, plaintext: bytes, header: bytes = b"") -> bytes:
    """The framed envelope: the kind's label, the nonce, the ciphertext and tag."""
    if not kind.framed:
        raise ValueError("not a framed kind")
    nonce = os.urandom(NONCE_SIZE)
    return kind.label + nonce + key._aead.encrypt(nonce, plaintext, kind.label + header)


def open_framed(
    key: SealingKey, kind: Kind, data: bytes | memoryview, header: bytes = b""
) -> bytes:
    """The plaintext of the framed envelope ``data`` (see :func:`open_sealed`)."""
    check_frame(data, kind)
    if len(data) < FRAME_OVERHEAD:
        raise cannot_open(_("it is truncated"))
    nonce = bytes(data[FRAME_HEADER_SIZE : FRAME_HEADER_SIZE + NONCE_SIZE])
    body = memoryview(data)[FRAME_HEADER_SIZE + NONCE_SIZE :]  # no copy of a large blob
    return _decrypt(key, nonce, body, kind.label + header)


def check_frame(data: bytes | memoryview, kind: Kind) -> None:
    """Refuse ``data`` unless it starts as a framed envelope of ``kind`` (no key needed)."""
    start = bytes(data[:FRAME_HEADER_SIZE])
    if len(start) < FRAME_HEADER_SIZE or start[:4] != MAGIC:
        raise cannot_open(_("it does not start like a hoso file"))
    if start[4] > VERSION:
        raise EnvelopeNewer(
            _(
                "It was written by a newer version of hoso (envelope version {found}, this "
                "hoso reads version {ours}). Update hoso to open it."
            ).format(found=start[4], ours=VERSION),
            problem=_("it was written by a newer version of hoso"),
            found=start[4],
        )
    if start != kind.label:
        raise cannot_open(_("its header is wrong"))


def cannot_open(problem: str) -> CannotOpen:
    """The one error for sealed data that does not open; ``problem`` says why, briefly."""
    return CannotOpen(
        _("The encrypted data cannot be opened: {problem}.").format(problem=problem),
        problem=problem,
    )


def _associated(kind: Kind, header: bytes) -> bytes:
    if not kind.label and header[:1] != b"{":
        raise ValueError("an envelope without a label is bound to a JSON header")
    return kind.label + header


def _decrypt(key: SealingKey, nonce: bytes, body: bytes | memoryview, associated: bytes) -> bytes:
    try:
        return key._aead.decrypt(nonce, body, associated)
    except InvalidTag:
        raise cannot_open(
            _("its authentication check fails (altered, truncated, or sealed with another key)")
        ) from None


# --- keys ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class KdfParams:
    """scrypt cost parameters; the defaults are the production ones (about 32 MiB, 0.1 s)."""

    n: int = 2**15
    r: int = 8
    p: int = 1

    def valid(self) -> bool:
        return (
            self.n >= 2
            and self.n & (self.n - 1) == 0
            and 1 <= self.r <= 64
            and 1 <= self.p <= 16
            and 128 * self.n * self.r <= _SCRYPT_MAX_MEMORY
        )


def passphrase_key(passphrase: str, salt: bytes, params: KdfParams) -> SealingKey:
    """The key scrypt makes of ``passphrase`` (compared in NFC: however it was typed)."""
    secret = unicodedata.normalize("NFC", passphrase).encode("utf-8")
    return SealingKey(
        Scrypt(salt=salt, length=KEY_SIZE, n=params.n, r=params.r, p=params.p).derive(secret)
    )


def derive_key(secret: bytes, info: bytes, salt: bytes | None = None) -> bytes:
    """A 32-byte key for the one purpose ``info``, derived from ``secret`` (HKDF-SHA256)."""
    return HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=salt, info=info).derive(secret)


# --- signatures ----------------------------------------------------------------------------

SIGNATURE_SIZE = 64


@dataclass(frozen=True, eq=False)
class SigningKey:
    """An Ed25519 private key, 32 raw bytes (never shown in a repr)."""

    secret: bytes = field(repr=False)
    _key: Ed25519PrivateKey = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.secret) != KEY_SIZE:
            raise ValueError("a signing key is 32 bytes")
        object.__setattr__(self, "_key", Ed25519PrivateKey.from_private_bytes(self.secret))

    @classmethod
    def generate(cls) -> SigningKey:
        raw = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return cls(raw)

    def public(self) -> bytes:
        """The public key, 32 raw bytes."""
        return self._key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    def sign(self, data: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``data``."""
        return self._key.sign(data)


def verify_signature(public: bytes, data: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is the Ed25519 signature of ``data`` by the key ``public``
    (False for a key or signature of the wrong shape, never an exception)."""
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, data)
    except (InvalidSignature, ValueError):
        return False
    return True
