"""The cryptography of backup repositories: keys, envelopes and key slots.

docs/backup-format.md is the specification; this module is its only implementation of the
byte layouts. The encryption itself is hoso's envelope (agent/envelope.py, docs/envelope.md).

Invariants:
- Every file and blob is a framed envelope (``HOSO``, a version byte, a kind byte, a random
  12-byte nonce, AES-256-GCM) whose associated data binds the kind, the repository id and a name.
- Nothing here returns bytes that failed authentication: a reader gets the plaintext, a
  :class:`BackupDamaged`, or a :class:`RepositoryNewer` for a version byte above ours.
- Key slots carry an unkeyed checksum so that damage (exit 1) is told apart from a wrong
  passphrase (exit 2); the passphrase itself only ever meets scrypt.
- Secrets never appear in a ``repr`` or in a message.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .. import envelope
from ..envelope import NONCE_SIZE, TAG_SIZE, KdfParams, Sealed, SealingKey
from ..errors import BackupDamaged, CannotOpen, EnvelopeNewer, RepositoryNewer
from ..i18n import _

HEADER_SIZE = envelope.FRAME_HEADER_SIZE
REPO_ID_SIZE = 16
MASTER_SIZE = 64
ENVELOPE_OVERHEAD = envelope.FRAME_OVERHEAD + 1  # + the storage byte

KIND_CONFIG = b"c"
KIND_INDEX = b"i"
KIND_SNAPSHOT = b"s"
KIND_LOCK = b"l"
KIND_BLOB = b"b"
KIND_PACK_HEADER = b"h"
KIND_MANIFEST = b"m"

STORED = 0
ZLIB = 1
# Measured on lesson-plan XML, Markdown and tree JSON: level 3 is up to 8% smaller than 1 at
# about its speed (both deflate_fast); 6 is 5-11% smaller than 3 but takes about twice as long.
ZLIB_LEVEL = 3
# Most content (docx, xlsx, pdf, jpg) is already compressed. Compressing 4 samples of 4 KiB
# spread over a blob tells it apart at a quarter of the cost of a 64 KiB prefix, and sees the
# middle of a blob too (an old .doc may start with an embedded picture and go on with text).
PROBE_SAMPLES = 4
PROBE_SAMPLE_SIZE = 4 * 1024

SLOT_FORMAT = "hoso-backup-key"
SLOT_VERSION = 1
RECOVERY_GROUPS = 8
RECOVERY_BYTES = 20
_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
# Look-alikes a person may type when copying the recovery key from paper.
_BASE32_LOOKALIKES = str.maketrans({"0": "O", "1": "I", "8": "B"})


@dataclass(frozen=True)
class Keys:
    """The two keys derived from a repository's master key (never shown in a repr)."""

    encryption: bytes = field(repr=False)
    ids: bytes = field(repr=False)
    # One AES key schedule per repository, not one per blob.
    sealing: SealingKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sealing", SealingKey(self.encryption))

    @classmethod
    def from_master(cls, master: bytes) -> Keys:
        return cls(
            encryption=envelope.derive_key(master, b"hoso-backup v1 encryption"),
            ids=envelope.derive_key(master, b"hoso-backup v1 id"),
        )

    def blob_id(self, plaintext: bytes | memoryview) -> str:
        """The keyed id of a blob: it reveals nothing about the content without the key."""
        return hmac.digest(self.ids, plaintext, "sha256").hex()


def new_master() -> bytes:
    return os.urandom(MASTER_SIZE)


def new_repository_id() -> bytes:
    return os.urandom(REPO_ID_SIZE)


# --- envelopes -------------------------------------------------------------------------------


def seal(keys: Keys, repo_id: bytes, kind: bytes, name: str, plaintext: bytes) -> bytes:
    """Compress when it pays, then encrypt ``plaintext`` into an envelope of ``kind``."""
    return envelope.seal_framed(
        keys.sealing, envelope.framed_kind(kind), _store(plaintext), repo_id + name.encode()
    )


def open_envelope(
    keys: Keys, repo_id: bytes, kind: bytes, name: str, data: bytes | memoryview, *, what: str = ""
) -> bytes:
    """The plaintext of an envelope, after checking magic, version, kind and tag.

    ``what`` names the file or blob in the error message (default: the envelope's name).
    """
    what = what or name
    with _backup_errors(what):
        stored = envelope.open_framed(
            keys.sealing, envelope.framed_kind(kind), data, repo_id + name.encode()
        )
    return _unstore(stored, what)


def seal_config(keys: Keys, repo_id: bytes, plaintext: bytes) -> bytes:
    """The config envelope: like any other, with the repository id in clear after the header."""
    sealed = seal(keys, repo_id, KIND_CONFIG, "config", plaintext)
    return sealed[:HEADER_SIZE] + repo_id + sealed[HEADER_SIZE:]


def config_repository_id(data: bytes) -> bytes:
    """The repository id a config file names, readable before any key is known."""
    with _backup_errors("config"):
        envelope.check_frame(data, envelope.framed_kind(KIND_CONFIG))
    if len(data) < HEADER_SIZE + REPO_ID_SIZE:
        raise _damaged("config", _("it is truncated"))
    return data[HEADER_SIZE : HEADER_SIZE + REPO_ID_SIZE]


def open_config(keys: Keys, data: bytes) -> bytes:
    repo_id = config_repository_id(data)
    sealed = data[:HEADER_SIZE] + data[HEADER_SIZE + REPO_ID_SIZE :]
    return open_envelope(keys, repo_id, KIND_CONFIG, "config", sealed)


@contextlib.contextmanager
def _backup_errors(what: str) -> Iterator[None]:
    """The envelope's refusals, as the backup says them: ``what`` is damaged, or newer."""
    try:
        yield
    except EnvelopeNewer as exc:
        raise RepositoryNewer(
            _(
                "The backup repository was written by a newer version of hoso (format {found}, "
                "this hoso reads format {ours}). Update hoso to use it."
            ).format(found=exc.found, ours=envelope.VERSION)
        ) from None
    except CannotOpen as exc:
        raise _damaged(what, exc.problem) from None


def _store(plaintext: bytes) -> bytes:
    """The storage byte and the bytes to encrypt: zlib only when it saves at least 1/8."""
    if _worth_compressing(plaintext):
        packed = zlib.compress(plaintext, ZLIB_LEVEL)
        if _saves_enough(len(packed), len(plaintext)):
            return bytes((ZLIB,)) + packed
    return bytes((STORED,)) + plaintext


def _worth_compressing(plaintext: bytes) -> bool:
    """Whether samples of ``plaintext`` compress by 1/8: cheap, and right for nearly all data."""
    size = len(plaintext)
    if size < 64:
        return False  # zlib's own overhead eats any gain
    if size <= 2 * PROBE_SAMPLES * PROBE_SAMPLE_SIZE:
        return True  # as cheap to try the whole
    step = size // PROBE_SAMPLES
    view = memoryview(plaintext)
    probe = b"".join(view[i * step : i * step + PROBE_SAMPLE_SIZE] for i in range(PROBE_SAMPLES))
    return _saves_enough(len(zlib.compress(probe, ZLIB_LEVEL)), len(probe))


def _saves_enough(packed: int, size: int) -> bool:
    return packed <= size - size // 8


def _unstore(stored: bytes, what: str) -> bytes:
    if not stored:  # authentic, yet without its storage byte: only a writer's bug does this
        raise _damaged(what, _("it is truncated"))
    method, rest = stored[0], memoryview(stored)[1:]
    if method == STORED:
        return bytes(rest)
    if method == ZLIB:
        try:
            return zlib.decompress(rest)
        except zlib.error:
            raise _damaged(what, _("its compressed content is corrupt")) from None
    raise _damaged(what, _("it uses an unknown storage method {method}").format(method=method))


def _damaged(what: str, problem: str) -> BackupDamaged:
    return BackupDamaged(
        _("The backup file {what} is damaged: {problem}.").format(what=what, problem=problem)
    )


# --- key slots -------------------------------------------------------------------------------


def make_slot(
    master: bytes, repo_id: str, passphrase: str, label: str, params: KdfParams, now: datetime
) -> dict[str, Any]:
    """A key slot (the JSON object of docs/backup-format.md) wrapping ``master``."""
    slot_id = os.urandom(16).hex()
    salt = os.urandom(16)
    sealed = envelope.seal(
        envelope.passphrase_key(passphrase, salt, params),
        envelope.BACKUP_KEY_SLOT,
        master,
        _slot_header(repo_id, slot_id),
    )
    slot: dict[str, Any] = {
        "format": SLOT_FORMAT,
        "version": SLOT_VERSION,
        "id": slot_id,
        "label": label,
        "created": now.isoformat(timespec="seconds"),
        "repository": repo_id,
        "kdf": {"name": "scrypt", "n": params.n, "r": params.r, "p": params.p, "salt": _b64(salt)},
        "nonce": _b64(sealed.nonce),
        "wrapped": _b64(sealed.ciphertext),
    }
    slot["checksum"] = slot_checksum(slot)
    return slot


def unwrap_slot(
    slot: dict[str, Any], repo_id: str, passphrase: str, *, what: str = ""
) -> bytes | None:
    """The master key, or None when ``passphrase`` is not this slot's.

    Raises BackupDamaged when the slot fails its checksum or is malformed, and
    RepositoryNewer for a slot format newer than ours.
    """
    what = what or "keys/{id}".format(id=slot.get("id", "?"))
    if not isinstance(slot.get("checksum"), str) or slot_checksum(slot) != slot["checksum"]:
        raise _damaged(what, _("its checksum does not match"))
    if isinstance(slot.get("version"), int) and slot["version"] > SLOT_VERSION:
        raise RepositoryNewer(
            _("The key slot {what} was written by a newer version of hoso.").format(what=what)
        )
    if slot.get("repository") != repo_id:
        raise _damaged(what, _("it belongs to another backup repository"))
    params, salt, nonce, wrapped = _slot_fields(slot, what)
    try:
        return envelope.open_sealed(
            envelope.passphrase_key(passphrase, salt, params),
            envelope.BACKUP_KEY_SLOT,
            Sealed(nonce, wrapped),
            _slot_header(repo_id, slot["id"]),
        )
    except CannotOpen:
        return None


def slot_checksum(slot: dict[str, Any]) -> str:
    rest = {key: value for key, value in slot.items() if key != "checksum"}
    canonical = json.dumps(rest, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _slot_fields(slot: dict[str, Any], what: str) -> tuple[KdfParams, bytes, bytes, bytes]:
    """The slot's KDF parameters, salt, nonce and wrapped key, checked for shape."""
    try:
        kdf = slot["kdf"]
        params = KdfParams(n=kdf["n"], r=kdf["r"], p=kdf["p"])
        fields = (
            kdf["name"] == "scrypt"
            and slot["format"] == SLOT_FORMAT
            and slot["version"] == SLOT_VERSION
            and isinstance(slot["id"], str)
            and all(isinstance(v, int) for v in (params.n, params.r, params.p))
            and params.valid()
        )
        salt = base64.b64decode(kdf["salt"], validate=True)
        nonce = base64.b64decode(slot["nonce"], validate=True)
        wrapped = base64.b64decode(slot["wrapped"], validate=True)
    except (KeyError, TypeError, binascii.Error):
        fields = False
    if not fields or len(salt) < 16 or len(nonce) != NONCE_SIZE:
        raise _damaged(what, _("its fields are malformed"))
    if len(wrapped) != MASTER_SIZE + TAG_SIZE:
        raise _damaged(what, _("its wrapped key has the wrong length"))
    return params, salt, nonce, wrapped


def _slot_header(repo_id: str, slot_id: str) -> bytes:
    return f"{repo_id}|{slot_id}".encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# --- the recovery key ------------------------------------------------------------------------


def recovery_passphrase() -> str:
    """A printable recovery key: 20 random bytes as 8 groups of 4 base32 characters."""
    text = base64.b32encode(os.urandom(RECOVERY_BYTES)).decode("ascii")
    return _group(text)


def canonical_recovery(text: str) -> str | None:
    """``text`` as a recovery key typed by a person (any case, spaces, look-alike digits).

    Returns the canonical ``ABCD-EFGH-…`` form, or None when ``text`` is not one.
    """
    letters = "".join(text.split()).replace("-", "").upper().translate(_BASE32_LOOKALIKES)
    if len(letters) != 4 * RECOVERY_GROUPS or any(c not in _BASE32 for c in letters):
        return None
    return _group(letters)


def _group(letters: str) -> str:
    return "-".join(letters[i : i + 4] for i in range(0, len(letters), 4))
