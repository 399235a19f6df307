"""The school profile in force on this computer: where it is kept, and how its values join
the config's.

agent.schoolprofile accepts a profile from the school folder (signed by a trusted key, newer
than the one before, valid key by key) and keeps it here, in the state folder::

    <state>/school-profile/
        memory.json                {"serial": N | null, "first_use": FP | null, "refused": …,
                                    "floors": {FP: N}, "set_aside": FP | null}
        memory.lock                held (flock) while memory.json is read, decided on, written
        N/hoso-truong.toml         the accepted profile's exact bytes
        N/hoso-truong.toml.sig     its signature

Invariants:
- ``memory.json`` names the generation in force; it is replaced whole (temp file, rename) only
  once that generation's two files are durable; the generations before the previous one are
  removed after. A
  crash at any instant leaves the previous profile or the new one in force, never a mix.
- Whoever reads ``memory.json`` to write it back holds :func:`memory_lock`, so the agent and a
  command deciding at the same time never put an older serial back.
- ``floors`` keeps, per signer, the highest serial it had in force here: when a profile taken
  on first use is set aside (:func:`set_aside`), the pinned key's own older profiles are
  still refused.
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
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tomllib
from collections.abc import Iterator, Mapping
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
MEMORY_LOCK = "memory.lock"
SIGNATURE_FORMAT = "hoso-school-profile-signature"
SIGNATURE_VERSION = 1
SIGNATURE_LABEL = b"hoso-school-profile v1\n"
MAX_SIGNATURE_BYTES = 4096
MAX_PROFILE_BYTES = 1 << 20  # a school's profile is a few kB; anything huge is not one
MAX_SERIAL = 2**53 - 1  # beyond any real count, and exact in every JSON reader
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
    floors: tuple[tuple[str, int], ...] = ()  # per signer, the highest serial it had in force
    set_aside: str | None = None  # the first-use signer whose profile a pinned key set aside


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

    @property
    def signer(self) -> str:
        """The signing key's fingerprint ("" if its signature file does not read)."""
        signature = parse_signature(self.signature)
        return signature.fingerprint() if signature is not None else ""


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
        floors = tuple(sorted(dict(stored.get("floors", {})).items()))
        aside = stored.get("set_aside")
    except FileNotFoundError:
        return Memory()
    except (OSError, ValueError, KeyError, TypeError):
        raise _damaged(path) from None
    valid = (
        (serial is None or (isinstance(serial, int) and not isinstance(serial, bool)))
        and (first_use is None or key_fingerprint(str(first_use)) == first_use)
        and (refused is None or isinstance(refused, str))
        and (reason is None or isinstance(reason, str))
        and all(_serial(n) and key_fingerprint(str(fp)) == fp for fp, n in floors)
        and (aside is None or key_fingerprint(str(aside)) == aside)
    )
    if not valid:
        raise _damaged(path)
    return Memory(serial, first_use, refused, reason, floors, aside)


def _serial(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_SERIAL


def write_memory(state_dir: Path, memory: Memory) -> None:
    document = {
        "serial": memory.serial,
        "first_use": memory.first_use,
        "refused": memory.refused,
        "refused_reason": memory.refused_reason,
        "floors": dict(memory.floors),
        "set_aside": memory.set_aside,
    }
    _private_folder(folder(state_dir))
    write_atomic(
        folder(state_dir) / MEMORY, json.dumps(document, indent=1, sort_keys=True).encode()
    )


@contextlib.contextmanager
def memory_lock(state_dir: Path) -> Iterator[None]:
    """Held while ``memory.json`` is read, decided on and written back (blocking: the other
    holder is a refresh of a few milliseconds). Not re-entrant."""
    _private_folder(folder(state_dir))
    fd = os.open(folder(state_dir) / MEMORY_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock


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
    remembered = read_memory(state_dir)
    before = remembered.serial
    floors = dict(remembered.floors)
    signed = parse_signature(signature)
    if signed is not None:
        signer = signed.fingerprint()
        floors[signer] = max(floors.get(signer, 0), serial)
    generation = base / str(serial)
    _private_folder(base)
    _private_folder(generation)
    write_atomic(generation / PROFILE_NAME, data)
    write_atomic(generation / SIGNATURE_NAME, signature)
    write_memory(
        state_dir,
        Memory(
            serial=serial,
            first_use=memory.first_use,
            refused=memory.refused,
            floors=tuple(sorted(floors.items())),
        ),
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
    except (ValueError, KeyError, TypeError, binascii.Error, RecursionError):
        # RecursionError: a few kB of "[" nest deeper than the JSON reader goes.
        return None
    valid = (
        fields == {"format", "version", "key", "serial", "signed_at", "signature"}
        and document["format"] == SIGNATURE_FORMAT
        and document["version"] == SIGNATURE_VERSION
        and _serial(serial)
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


def read_capped(path: Path, limit: int) -> bytes | None:
    """At most ``limit`` bytes of ``path``; None when it is not there; OSError otherwise."""
    try:
        with path.open("rb") as handle:
            return handle.read(limit)
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None


def folder_copy(root: Path) -> tuple[bytes | None, bytes | None]:
    """The school folder's profile and signature as every reader here sees them: each cut
    one byte past its limit (so an oversized one is seen as such, not read whole), None when
    absent. The refusal memory digests exactly these bytes. OSError when unreadable."""
    path = root / PROFILE_NAME
    return (
        read_capped(path, MAX_PROFILE_BYTES + 1),
        read_capped(path.with_name(SIGNATURE_NAME), MAX_SIGNATURE_BYTES + 1),
    )


def refusal_warning(config: Config) -> str | None:
    """``hoso status``'s line while the school folder holds a profile this computer refused
    (the last good one stays in force); None when the folder's copy is not the refused one."""
    folder = config.school_folder
    if folder is None:
        return None
    memory = read_memory(config.state_dir)
    if memory.refused is None:
        return None
    try:
        data, signature = folder_copy(folder.root)
    except OSError:
        return None
    if data is None or pair_digest(data, signature) != memory.refused:
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


def set_aside(memory: Memory, signer: str, pinned: str) -> bool:
    """Whether the profile in force, signed by ``signer``, no longer counts now that
    ``pinned`` is: it rests on trust on first use of another key, and the pinned key did not
    sign it. (A profile taken on the pinned key clears ``first_use``, so the [[signers]] it
    lists rest on the pin from then on; a chain from another first-use key is set aside,
    even through a profile the pinned key signed before it was pinned: safe, and the pinned
    key signing again ends it.)"""
    return bool(pinned) and memory.first_use not in (None, pinned) and signer != pinned


def counting(state_dir: Path, pinned: str) -> InForce | None:
    """The profile in force, unless ``pinned`` sets it aside (:func:`set_aside`): what the
    config merges, so that a forger's first-use profile stops applying the moment a key is
    pinned, before the next check puts it aside for good."""
    current = in_force(state_dir)
    if current is None or not pinned:
        return current
    return None if set_aside(read_memory(state_dir), current.signer, pinned) else current


def first_use_warning(config: Config) -> str | None:
    """The warning shown while the profile's signer is trusted on first use only, or while a
    profile taken on first use was set aside by the pinned key and none of its is in force."""
    folder = config.school_folder
    if folder is None:
        return None
    memory = read_memory(config.state_dir)
    if folder.profile_key:
        aside = memory.set_aside
        info = in_force_info(config.state_dir)
        if info is not None and set_aside(memory, info.signer, folder.profile_key):
            aside = info.signer
        elif info is not None:
            aside = None
        if aside is None:
            return None
        return _(
            "The school profile signed by {fingerprint}, taken only because it was the first "
            "seen, was set aside: the pinned key {pinned} did not sign it. This computer's "
            "own config is used until a profile signed by {pinned} is in force (the "
            "principal or admin signs it with `hoso school sign`)."
        ).format(fingerprint=aside, pinned=folder.profile_key)
    if memory.first_use is None:
        return None
    return _(
        "The school profile's signer {fingerprint} is trusted only because it was the first "
        "seen: compare it with the principal's or admin's and pin it with "
        "`hoso init --school-key {fingerprint}`."
    ).format(fingerprint=memory.first_use)
