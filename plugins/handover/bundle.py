"""The sealed handover bundle (a ``.hoso-handover`` file): the school account, for one receiver.

Format (JSON, version 1)::

    {"format": "hoso-handover", "version": 1, "id": "<32 hex>", "created": "<ISO time>",
     "giver": {"name", "position", "sign_pub", "seal_pub"}, "receiver_fingerprint": "XXXX-…",
     "ephemeral_pub", "nonce", "ciphertext", "signature"}          (bytes in base64)

The ciphertext is the agent's envelope (keys.seal: AES-256-GCM, docs/envelope.md) over
``{"account": {address, provider, login_url, recovery, password}, "notes": {…}}`` with the
canonical JSON of the header (every field but nonce, ciphertext and signature) as associated
data; the signature is the giver's Ed25519 signature over the canonical JSON of every field
but itself.

Invariants:
- :func:`open_bundle` returns only a bundle whose shape, signature, recipient and ciphertext
  all check; anything else is a :class:`BundleRefused` (exit 2) saying nothing was imported.
- The signature proves that the bundle is intact and was made by the key it names; that the
  key is the giver's is what the receiver checks by comparing the fingerprint in person.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agent.api import (
    CannotOpen,
    Secret,
    UsageError,
    _,
    has_control,
)

from . import keys as keymod
from .keys import HandoverKeys, PublicKey

FORMAT = "hoso-handover"
VERSION = 1
SUFFIX = ".hoso-handover"
MAX_BYTES = 1_000_000  # a bundle is a few kilobytes; a huge file is not one
ACCOUNT_FIELDS = ("address", "provider", "login_url", "recovery")
_HEADER = ("format", "version", "id", "created", "giver", "receiver_fingerprint", "ephemeral_pub")
_SEALED = ("nonce", "ciphertext")


class BundleRefused(UsageError):
    """The bundle cannot be accepted; nothing was imported."""


@dataclass(frozen=True)
class Party:
    """A person in the handover (giver, receiver, witness) as the minutes name them."""

    name: str
    position: str

    @classmethod
    def parse(cls, text: str, option: str) -> Party:
        """``"NAME, POSITION"`` (the position may itself contain commas)."""
        name, _sep, position = text.partition(",")
        if has_control(text):
            raise UsageError(
                _(
                    "{option} holds a control character (such as ESC or a line break); type "
                    "the name and position again."
                ).format(option=option)
            )
        if not name.strip() or not position.strip():
            raise UsageError(
                _('{option} must be "NAME, POSITION", e.g. "Trần Thị Bình, Giáo viên".').format(
                    option=option
                )
            )
        return cls(name.strip(), position.strip())

    def label(self) -> str:
        return f"{self.name}, {self.position}" if self.position else self.name

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "position": self.position}


@dataclass(frozen=True)
class Account:
    """The school mailbox account: non-secret fields and the password (a Secret)."""

    address: str
    provider: str
    login_url: str
    recovery: str
    password: Secret


@dataclass(frozen=True)
class OpenedBundle:
    id: str
    created: str
    giver: Party
    giver_key: PublicKey
    account: Account
    notes: Mapping[str, str]


@dataclass(frozen=True)
class Header:
    """What a bundle's header says, unchecked (anyone may have written it): enough to tell
    whom a bundle in the school folder is for, never to import it."""

    id: str
    created: str
    giver: Party
    receiver_fingerprint: str


def peek(data: bytes) -> Header | None:
    """The header of a well-formed bundle of this format, None for anything else."""
    try:
        document = _parse(data)
    except BundleRefused:
        return None
    giver = document["giver"]
    return Header(
        document["id"],
        document["created"],
        Party(giver["name"], giver["position"]),
        document["receiver_fingerprint"],
    )


def new_id() -> str:
    return secrets.token_hex(16)


def file_name(bundle_id: str) -> str:
    return f"ban-giao-{bundle_id}{SUFFIX}"


def seal_bundle(
    *,
    bundle_id: str,
    created: str,
    account: Account,
    notes: Mapping[str, str],
    giver: Party,
    giver_keys: HandoverKeys,
    receiver: PublicKey,
) -> bytes:
    """The bundle file's bytes: ``account`` and ``notes`` sealed for ``receiver``, signed."""
    mine = giver_keys.public()
    header: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "id": bundle_id,
        "created": created,
        "giver": {**giver.to_json(), "sign_pub": _b64(mine.sign), "seal_pub": _b64(mine.seal)},
        "receiver_fingerprint": receiver.fingerprint(),
    }
    plaintext = json.dumps(
        {
            "account": {
                **{name: getattr(account, name) for name in ACCOUNT_FIELDS},
                "password": account.password.reveal(),
            },
            "notes": dict(notes),
        }
    ).encode("utf-8")

    def associated(ephemeral_pub: bytes) -> bytes:
        header["ephemeral_pub"] = _b64(ephemeral_pub)
        return _associated(header)

    sealed = keymod.seal(receiver, plaintext, associated)
    document = {**header, "nonce": _b64(sealed.nonce), "ciphertext": _b64(sealed.ciphertext)}
    document["signature"] = _b64(keymod.sign(giver_keys, canonical(document)))
    return json.dumps(document, ensure_ascii=False, indent=1).encode("utf-8") + b"\n"


def open_bundle(data: bytes, my_keys: HandoverKeys) -> OpenedBundle:
    """The verified, decrypted bundle; BundleRefused for anything else."""
    document = _parse(data)
    giver_key = PublicKey(
        _bytes(document["giver"], "seal_pub"), _bytes(document["giver"], "sign_pub")
    )
    body = {k: v for k, v in document.items() if k != "signature"}
    if not keymod.verify(giver_key.sign, canonical(body), _bytes(document, "signature")):
        raise _refused(_("it was altered after it was signed (or it is damaged)"))
    if document["receiver_fingerprint"] != my_keys.public().fingerprint():
        raise _refused(
            _(
                "it was sealed for another key ({theirs}), not for yours ({mine}). Ask the giver "
                "to prepare it again with your public key"
            ).format(theirs=document["receiver_fingerprint"], mine=my_keys.public().fingerprint())
        )
    sealed = keymod.Sealed(
        _bytes(document, "ephemeral_pub"), _bytes(document, "nonce"), _bytes(document, "ciphertext")
    )
    try:
        plaintext = keymod.unseal(my_keys, sealed, _associated(document))
    except CannotOpen:
        raise _refused(_("its sealed part does not open with your key")) from None
    account, notes = _content(plaintext)
    giver = document["giver"]
    return OpenedBundle(
        id=document["id"],
        created=document["created"],
        giver=Party(giver["name"], giver["position"]),
        giver_key=giver_key,
        account=account,
        notes=notes,
    )


def canonical(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def _associated(document: Mapping[str, Any]) -> bytes:
    return canonical({k: document[k] for k in _HEADER})


def _parse(data: bytes) -> dict[str, Any]:
    if len(data) > MAX_BYTES:
        raise _refused(_("it is far too big to be a handover bundle"))
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _refused(_("it is not a complete handover bundle (truncated or damaged)")) from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise _refused(_("it is not a hoso handover bundle"))
    if document.get("version") != VERSION:
        raise _refused(
            _("it has format version {found}; this hoso reads version {ours}").format(
                found=document.get("version"), ours=VERSION
            )
        )
    giver = document.get("giver")
    expected = {*_HEADER, *_SEALED, "signature"}
    well_formed = (
        set(document) == expected
        and all(isinstance(document[k], str) for k in expected - {"version", "giver"})
        and isinstance(giver, dict)
        and set(giver) == {"name", "position", "sign_pub", "seal_pub"}
        and all(isinstance(v, str) for v in giver.values())
    )
    if not well_formed:
        raise _refused(_("its fields are malformed (truncated or damaged)"))
    return document


def _content(plaintext: bytes) -> tuple[Account, dict[str, str]]:
    # Authenticated and signed, so only a giver's bug could make this malformed.
    try:
        content = json.loads(plaintext.decode("utf-8"))
        raw = content["account"]
        account = Account(
            *(str(raw[name]) for name in ACCOUNT_FIELDS), password=Secret(str(raw["password"]))
        )
        notes = {str(k): str(v) for k, v in dict(content["notes"]).items()}
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError):
        raise _refused(_("its sealed content is malformed")) from None
    if not account.password.reveal():
        raise _refused(_("it carries no password"))
    return account, notes


def _bytes(document: Mapping[str, Any], key: str) -> bytes:
    try:
        return base64.b64decode(document[key], validate=True)
    except (binascii.Error, ValueError):
        raise _refused(_("its field `{key}` is malformed").format(key=key)) from None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _refused(reason: str) -> BundleRefused:
    return BundleRefused(
        _("This handover bundle cannot be accepted: {reason}. Nothing was imported.").format(
            reason=reason
        )
    )
