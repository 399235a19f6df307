"""The school profile in force on this computer: where it is kept, and how its values join
the config's.

agent.schoolprofile accepts a profile from the school folder (signed by a trusted key, newer
than the one before, valid key by key) and keeps it here, in the state folder::

    <state>/school-profile/
        memory.json                {"serial": N | null, "first_use": FP | null, "refused": …}
        N/hoso-truong.toml         the accepted profile's exact bytes
        N/hoso-truong.toml.sig     its signature

Invariants:
- ``memory.json`` names the generation in force; it is replaced whole (temp file, rename) only
  once that generation's two files are durable; the generations before the previous one are
  removed after. A
  crash at any instant leaves the previous profile or the new one in force, never a mix.
- Nothing here checks a signature, so loading the config needs no cryptography: only what
  agent.schoolprofile accepted is written here, in a folder only this user can read (0700,
  files 0600).
- The merge: a value of this computer's own config (a ``[school]`` key, an ``[inspection]``
  key such as ``schedule``, ``[plugins.validation] types_file``) wins over the profile's, for
  this computer only; every value says where it came from (:data:`PROFILE`, :data:`CONFIG`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import shutil
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .durable import write_atomic
from .errors import ConfigError
from .i18n import _
from .roles import key_fingerprint, public_key_fingerprint

if TYPE_CHECKING:
    from .config import Config

PROFILE_NAME = "hoso-truong.toml"
SIGNATURE_NAME = PROFILE_NAME + ".sig"
FOLDER = "school-profile"
MEMORY = "memory.json"
SIGNATURE_FORMAT = "hoso-school-profile-signature"
SIGNATURE_VERSION = 1
SIGNATURE_LABEL = b"hoso-school-profile v1\n"
MAX_SIGNATURE_BYTES = 4096
PROFILE = "profile"
CONFIG = "config"
# The [school] values a profile carries (the school folder's own keys stay per computer).
SCHOOL_KEYS = (
    "name",
    "governing_body",
    "mailbox",
    "principal",
    "decision",
    "mailbox_keeper",
    "reviewers",
    "teachers",
)


@dataclass(frozen=True)
class Memory:
    """What this computer remembers of the profiles it has seen."""

    serial: int | None = None  # the generation in force; None: none accepted yet
    first_use: str | None = None  # the signer trusted on first use (nothing pinned then)
    refused: str | None = None  # the digest of the last refused file and signature
    refused_reason: str | None = None  # why it was refused (schoolprofile.Reason's value)


@dataclass(frozen=True)
class InForce:
    """The last good profile: its files in the state folder and its parsed TOML."""

    serial: int
    path: Path
    data: bytes
    signature: bytes
    raw: Mapping[str, Any]

    @property
    def signature_path(self) -> Path:
        return self.path.with_name(SIGNATURE_NAME)


def folder(state_dir: Path) -> Path:
    return state_dir / FOLDER


def read_memory(state_dir: Path) -> Memory:
    """This computer's memory (empty before the first profile); ConfigError when damaged,
    since a lost serial would let an older profile back in."""
    path = folder(state_dir) / MEMORY
    try:
        stored = json.loads(path.read_bytes())
        serial, first_use, refused = stored["serial"], stored["first_use"], stored["refused"]
        reason = stored.get("refused_reason")
    except FileNotFoundError:
        return Memory()
    except (OSError, ValueError, KeyError, TypeError):
        raise _damaged(path) from None
    valid = (
        (serial is None or (isinstance(serial, int) and not isinstance(serial, bool)))
        and (first_use is None or key_fingerprint(str(first_use)) == first_use)
        and (refused is None or isinstance(refused, str))
        and (reason is None or isinstance(reason, str))
    )
    if not valid:
        raise _damaged(path)
    return Memory(serial, first_use, refused, reason)


def write_memory(state_dir: Path, memory: Memory) -> None:
    document = {
        "serial": memory.serial,
        "first_use": memory.first_use,
        "refused": memory.refused,
        "refused_reason": memory.refused_reason,
    }
    _private_folder(folder(state_dir))
    write_atomic(
        folder(state_dir) / MEMORY, json.dumps(document, indent=1, sort_keys=True).encode()
    )


def in_force(state_dir: Path) -> InForce | None:
    """The last good profile, or None when this computer has accepted none."""
    for _attempt in range(3):
        serial = read_memory(state_dir).serial
        if serial is None:
            return None
        path = folder(state_dir) / str(serial) / PROFILE_NAME
        try:
            data = path.read_bytes()
            signature = path.with_name(SIGNATURE_NAME).read_bytes()
        except FileNotFoundError:
            # Another process may have put a newer one in force and removed this one since.
            if read_memory(state_dir).serial != serial:
                continue
            raise _damaged(path) from None
        except OSError:
            raise _damaged(path) from None
        try:
            raw = tomllib.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError):
            raise _damaged(path) from None
        return InForce(serial, path, data, signature, raw)
    raise _damaged(folder(state_dir) / MEMORY)


def store(state_dir: Path, serial: int, data: bytes, signature: bytes, memory: Memory) -> None:
    """Put ``data`` and its ``signature`` in force as generation ``serial``, with ``memory``
    (whose serial is set here), then drop the generations before the previous one."""
    base = folder(state_dir)
    before = read_memory(state_dir).serial
    generation = base / str(serial)
    _private_folder(base)
    _private_folder(generation)
    write_atomic(generation / PROFILE_NAME, data)
    write_atomic(generation / SIGNATURE_NAME, signature)
    write_memory(
        state_dir, Memory(serial=serial, first_use=memory.first_use, refused=memory.refused)
    )
    # The one before stays: a running agent's plugins may still read its types until they
    # load the config again.
    kept = {str(serial), *(str(n) for n in [before] if n is not None)}
    for old in base.iterdir():
        if old.name.isdigit() and old.name not in kept and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)


def merge(raw: Mapping[str, Any], profile: InForce | None) -> tuple[dict[str, Any], dict[str, str]]:
    """The config's raw tables with the profile's values added where the config has none,
    and where each value comes from (``"school.reviewers"`` → :data:`PROFILE`…)."""
    merged = dict(raw)
    sources: dict[str, str] = {}
    given = profile.raw if profile is not None else {}
    school = merged.get("school")
    if isinstance(school, dict):
        school = dict(school)
        local = [k for k in (*SCHOOL_KEYS, "keepers") if k in school]
        sources.update({f"school.{k}": CONFIG for k in local})
        _fill(school, given.get("school", {}), "school", sources)
        if "keepers" in given:
            _fill(school, {"keepers": given["keepers"]}, "school", sources)
        merged["school"] = school
    if "inspection" in given:
        inspection = merged.get("inspection", {})
        if isinstance(inspection, dict):
            inspection = dict(inspection)
            sources.update({f"inspection.{k}": CONFIG for k in inspection})
            _fill(inspection, given["inspection"], "inspection", sources)
            merged["inspection"] = inspection
    if "types" in given and profile is not None:
        plugins = merged.get("plugins", {})
        validation = plugins.get("validation", {}) if isinstance(plugins, dict) else None
        if isinstance(validation, dict):
            if "types_file" in validation:
                sources["types"] = CONFIG
            else:
                validation = {**validation, "types_file": str(profile.path)}
                merged["plugins"] = {**plugins, "validation": validation}
                sources["types"] = PROFILE
    return merged, sources


def _fill(
    table: dict[str, Any], given: Mapping[str, Any], prefix: str, sources: dict[str, str]
) -> None:
    for key, value in given.items():
        if key not in table:
            table[key] = value
            sources[f"{prefix}.{key}"] = PROFILE


def _private_folder(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)


def _damaged(path: Path) -> ConfigError:
    return ConfigError(
        _(
            "The school profile this computer keeps ({path}) is damaged. Remove the folder "
            "{folder}: the school folder's profile is checked and taken again at the next pass."
        ).format(path=path, folder=path.parent if path.name == MEMORY else path.parent.parent)
    )


# --- the signature file (read only: agent.schoolprofile signs and verifies) ---------------


@dataclass(frozen=True)
class Signature:
    key: bytes  # the signer's Ed25519 public key
    serial: int
    signed_at: str  # ISO 8601, UTC
    signature: bytes

    def fingerprint(self) -> str:
        return public_key_fingerprint(self.key)

    def header(self) -> dict[str, Any]:
        return {
            "format": SIGNATURE_FORMAT,
            "version": SIGNATURE_VERSION,
            "key": base64.b64encode(self.key).decode("ascii"),
            "serial": self.serial,
            "signed_at": self.signed_at,
        }

    def to_bytes(self) -> bytes:
        document = {**self.header(), "signature": base64.b64encode(self.signature).decode()}
        return (json.dumps(document, indent=1, sort_keys=True) + "\n").encode("ascii")


def signed_message(header: Mapping[str, Any], data: bytes) -> bytes:
    """What is signed: a label, the canonical JSON of the header, a newline, the file."""
    canonical = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return SIGNATURE_LABEL + canonical.encode("ascii") + b"\n" + data


def parse_signature(data: bytes) -> Signature | None:
    """The signature file's fields, or None when it is not a signature file of this format."""
    if len(data) > MAX_SIGNATURE_BYTES:
        return None
    try:
        document = json.loads(data)
        fields = set(document)
        key = base64.b64decode(document["key"], validate=True)
        signature = base64.b64decode(document["signature"], validate=True)
        serial, signed_at = document["serial"], document["signed_at"]
        datetime.fromisoformat(signed_at)
    except (ValueError, KeyError, TypeError, binascii.Error):
        return None
    valid = (
        fields == {"format", "version", "key", "serial", "signed_at", "signature"}
        and document["format"] == SIGNATURE_FORMAT
        and document["version"] == SIGNATURE_VERSION
        and isinstance(serial, int)
        and not isinstance(serial, bool)
        and 1 <= serial < 2**53  # beyond any real count, and exact in every JSON reader
        and len(key) == 32
        and len(signature) == 64
    )
    return Signature(key, serial, signed_at, signature) if valid else None


# --- what is in force ------------------------------------------------------------------------


@dataclass(frozen=True)
class InForceInfo:
    serial: int
    signer: str
    signed_at: str

    def to_json(self) -> dict[str, Any]:
        return {"serial": self.serial, "signer": self.signer, "signed_at": self.signed_at}


def in_force_info(state_dir: Path) -> InForceInfo | None:
    """The serial, signer and signing time of the profile in force (no crypto: it was
    checked when it went into force)."""
    current = in_force(state_dir)
    if current is None:
        return None
    signature = parse_signature(current.signature)
    if signature is None:
        return InForceInfo(current.serial, "", "")
    return InForceInfo(current.serial, signature.fingerprint(), signature.signed_at)


def pair_digest(data: bytes, signature: bytes | None) -> str:
    """What identifies a profile and its signature as seen together (a refusal's memory)."""
    return hashlib.sha256(data + b"\0" + (signature or b"")).hexdigest()


def refusal_warning(config: Config) -> str | None:
    """``hoso status``'s line while the school folder holds a profile this computer refused
    (the last good one stays in force); None when the folder's copy is not the refused one."""
    folder = config.school_folder
    if folder is None:
        return None
    memory = read_memory(config.state_dir)
    if memory.refused is None:
        return None
    path = folder.root / PROFILE_NAME
    try:
        data = path.read_bytes()
    except OSError:
        return None
    try:
        signature: bytes | None = path.with_name(SIGNATURE_NAME).read_bytes()
    except OSError:
        signature = None
    if pair_digest(data, signature) != memory.refused:
        return None
    kept = (
        _("the last good one (serial {serial}) stays in force").format(serial=memory.serial)
        if memory.serial is not None
        else _("this computer's own config is used")
    )
    return _(
        "The school profile in the school folder was refused ({reason}); {kept}. "
        "`hoso school show` says why and what to do."
    ).format(reason=_reason_words().get(memory.refused_reason or "", _("not valid")), kept=kept)


def _reason_words() -> dict[str, str]:
    # Keyed by schoolprofile.Reason's values (this module sits below it).
    return {
        "unsigned": _("it is not signed"),
        "damaged-signature": _("its signature is damaged"),
        "changed-after-signing": _("it was changed after it was signed"),
        "unknown-key": _("it is signed by a key this computer does not trust"),
        "older": _("it is older than the one in force"),
        "same-serial-other-content": _("it differs from the one in force under the same serial"),
        "invalid": _("a setting in it is wrong"),
    }


def first_use_warning(config: Config) -> str | None:
    """The warning shown while the profile's signer is trusted on first use only."""
    folder = config.school_folder
    if folder is None or folder.profile_key:
        return None
    first_use = read_memory(config.state_dir).first_use
    if first_use is None:
        return None
    return _(
        "The school profile's signer {fingerprint} is trusted only because it was the first "
        "seen: compare it with the principal's or admin's and pin it with "
        "`hoso init --school-key {fingerprint}`."
    ).format(fingerprint=first_use)
