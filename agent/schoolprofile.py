"""The school profile: one signed file in the school folder with what every computer shares.

``hoso-truong.toml`` at the school folder's root holds the ``[school]`` values, the mailbox
keepers' keys (``[[keepers]]``), who may sign the profile (``[[signers]]``), the record types
(``[[types]]``) and the inspection calendar (``[inspection]``); ``hoso-truong.toml.sig``
beside it is the principal's or admin's Ed25519 signature (docs/school.md is the format
document). This module checks a profile key by key, signs it, and decides whether the
school folder's copy goes into force (:func:`refresh`); agent.profilestore keeps the one in
force and merges it into the config.

Invariants:
- A profile goes into force only when signed by a trusted key (the key pinned by
  ``[school] profile_key``, a ``[[signers]]`` key of the profile in force, or, with nothing
  pinned, the first signer seen), with a serial above the one in force, and valid key by key;
  anything else is refused with one message and the last good profile stays in force.
- The signature covers the file's exact bytes and its serial, signing time and key.
- Decisions take the time as an argument; :func:`judge` is pure.
- The private key stays in the vault; no message, repr or JSON shows it.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import json
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any

from . import profilestore, roles
from .config import Config, SchoolFolderConfig, setting_error
from .display import printable_name
from .durable import write_atomic
from .envelope import SigningKey, verify_signature
from .errors import ConfigError, SafetyStop, UsageError
from .hooks import load_plugins
from .i18n import _
from .profilestore import (
    MAX_PROFILE_BYTES,
    MAX_SERIAL,
    PROFILE_NAME,
    SIGNATURE_NAME,
    InForce,
    Memory,
    Signature,
    parse_signature,
    signed_message,
)
from .recordtypes import parse_types
from .vault import Prompt, Vault

VAULT_ENTRY = "school-profile-key"
_TOP_KEYS = {"school", "keepers", "signers", "types", "inspection"}
_PER_COMPUTER = ("folder_url", "folder_root", "profile_key")
_SHOWN_LINES = 20  # changed lines a refusal names; the terminal shows the whole difference


# --- the profile's content -----------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    """A profile that passed every check."""

    raw: Mapping[str, Any]
    school: roles.School
    keepers: tuple[roles.Keeper, ...]
    signers: tuple[roles.Keeper, ...]
    types: int  # how many record types it defines


def check(data: bytes, path: Path, config: Config) -> Profile:
    """``data`` as a school profile named ``path``, checked key by key with the config's own
    messages (ConfigError naming ``path`` and the key)."""

    def bad(key: str, problem: str) -> ConfigError:
        return setting_error(path, key, problem)

    if len(data) > MAX_PROFILE_BYTES:
        raise ConfigError(
            _("The school profile {path} is too large to be one ({size} bytes).").format(
                path=path, size=len(data)
            )
        )
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(
            _("The school profile {path} is not valid TOML: {detail}").format(path=path, detail=exc)
        ) from None
    for key in raw:
        if key not in _TOP_KEYS:
            raise bad(key, _("is not a known setting"))
    school = raw.get("school", {})
    if not isinstance(school, dict):
        raise bad("school", _("must be a table ([{key}])").format(key="school"))
    for key in school:
        if key in _PER_COMPUTER:
            raise bad(f"school.{key}", _("belongs in each computer's config, not the profile"))
        if key == "keepers":
            raise bad("school.keepers", _("is written [[keepers]] in the school profile"))
    parsed = roles.parse(school, None, bad).school
    keepers = roles.keys(raw.get("keepers"), "keepers", bad, roles.keeper_key_problem())
    signers = roles.keys(raw.get("signers"), "signers", bad, _signer_key_problem())
    types = parse_types(raw.get("types", []), path)
    inspection = raw.get("inspection", {})
    if not isinstance(inspection, dict):
        raise bad("inspection", _("must be a table ([{key}])").format(key="inspection"))
    # The inspection table is the inspection plugin's: its own check, naming this file.
    probe = replace(
        config,
        path=path,
        open_tables={"inspection": inspection},
        roles=replace(config.roles, school=parsed),
    )
    load_plugins(probe).check_config()
    return Profile(raw, replace(parsed, keepers=keepers), keepers, signers, len(types))


def _signer_key_problem() -> str:
    return _(
        "must be the signing key's fingerprint as `hoso school sign` prints it, "
        'e.g. "ABCD-EFGH-IJKL-MNOP"'
    )


def signer_keys(raw: Mapping[str, Any]) -> frozenset[str]:
    """The fingerprints a (checked) profile lists in ``[[signers]]``."""
    found = raw.get("signers", [])
    keys = (roles.key_fingerprint(str(s.get("key", ""))) for s in found if isinstance(s, dict))
    return frozenset(k for k in keys if k)


# --- the signature file --------------------------------------------------------------------


def make_signature(key: SigningKey, data: bytes, serial: int, now: float) -> Signature:
    signed_at = datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds")
    unsigned = Signature(key.public(), serial, signed_at, b"")
    return replace(unsigned, signature=key.sign(signed_message(unsigned.header(), data)))


# --- the decision --------------------------------------------------------------------------


class Reason(Enum):
    UNSIGNED = "unsigned"
    DAMAGED_SIGNATURE = "damaged-signature"
    CHANGED = "changed-after-signing"
    UNKNOWN_KEY = "unknown-key"
    OLDER = "older"
    SAME_SERIAL = "same-serial-other-content"
    INVALID = "invalid"


@dataclass(frozen=True)
class Trust:
    """The keys this computer trusts to sign the profile, before reading the folder's copy."""

    pinned: str  # [school] profile_key, "" when nothing is pinned
    first_use: str | None  # remembered signer trusted on first use
    signers: frozenset[str]  # [[signers]] of the profile in force
    # Per signer, the highest serial it had in force here: with nothing in force (a first-use
    # profile set aside by the pinned key), the pinned key's older profiles stay refused.
    floors: tuple[tuple[str, int], ...] = ()

    def floor(self, signer: str) -> int:
        return dict(self.floors).get(signer, 0)

    def trusted(self) -> frozenset[str]:
        remembered = {self.first_use} if self.first_use and not self.pinned else set()
        return frozenset({self.pinned} - {""} | remembered | self.signers)

    def open_to_first_use(self, current: InForce | None) -> bool:
        return not self.pinned and self.first_use is None and current is None


@dataclass(frozen=True)
class Verdict:
    """What the folder's copy is: ``signature`` to take in, already ``in_force``, or refused."""

    signature: Signature | None = None
    in_force: bool = False
    refused: Reason | None = None
    signer: str = ""  # the fingerprint that signed it, when the signature could be read
    first_use: bool = False  # taken because nothing was pinned and it is the first seen


def judge(data: bytes, sig_data: bytes | None, current: InForce | None, trust: Trust) -> Verdict:
    """Whether the profile ``data`` with the signature file ``sig_data`` may go into force
    over ``current``. Pure; its content is checked after (:func:`check`)."""
    if sig_data is None:
        return Verdict(refused=Reason.UNSIGNED)
    signature = parse_signature(sig_data)
    if signature is None:
        return Verdict(refused=Reason.DAMAGED_SIGNATURE)
    signer = signature.fingerprint()
    if not verify_signature(
        signature.key, signed_message(signature.header(), data), signature.signature
    ):
        return Verdict(refused=Reason.CHANGED, signer=signer)
    first_use = trust.open_to_first_use(current)
    if signer not in trust.trusted() and not first_use:
        return Verdict(refused=Reason.UNKNOWN_KEY, signer=signer)
    if current is not None and signature.serial < current.serial:
        return Verdict(refused=Reason.OLDER, signer=signer, signature=signature)
    if current is None and signature.serial < trust.floor(signer):
        return Verdict(refused=Reason.OLDER, signer=signer, signature=signature)
    if current is not None and signature.serial == current.serial:
        if data == current.data:
            return Verdict(in_force=True, signer=signer, signature=signature)
        return Verdict(refused=Reason.SAME_SERIAL, signer=signer, signature=signature)
    return Verdict(signature=signature, signer=signer, first_use=first_use)


# --- refresh: the folder's copy into force ---------------------------------------------------


class State(Enum):
    NO_FOLDER = "no-folder"  # no school folder configured
    ABSENT = "absent"  # the school folder holds no profile (yet)
    ACCEPTED = "accepted"  # the folder's copy went into force now
    IN_FORCE = "in-force"  # the folder's copy is the one in force
    REFUSED = "refused"


@dataclass(frozen=True)
class Outcome:
    state: State
    message: str = ""  # for REFUSED: what is wrong, what stays in force, what to do
    new: bool = False  # REFUSED: first time this file is refused (report it); ACCEPTED: True
    reason: Reason | None = None
    serial: int | None = None  # the serial of the folder's copy, when its signature reads
    signer: str = ""
    first_use: bool = False  # ACCEPTED by trust on first use (nothing pinned)

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "reason": self.reason.value if self.reason else None,
            "message": self.message,
            "serial": self.serial,
            "signer": self.signer or None,
        }


def standing(config: Config, folder: SchoolFolderConfig) -> tuple[InForce | None, Memory, Trust]:
    """The profile in force that counts (None when a pinned key set aside one taken on first
    use: :func:`profilestore.set_aside`), this computer's memory, and the keys it trusts."""
    current = profilestore.counting(config.state_dir, folder.profile_key)
    memory = profilestore.read_memory(config.state_dir)
    signers = signer_keys(current.raw) if current is not None else frozenset()
    return current, memory, Trust(folder.profile_key, memory.first_use, signers, memory.floors)


def _put_aside(config: Config, memory: Memory) -> Memory:
    """Nothing in force any more, the first use forgotten, the set-aside signer named for
    the warning; the floors stay (the pinned key's own older profiles stay refused)."""
    current = profilestore.in_force(config.state_dir)
    aside = current.signer if current is not None else None
    memory = replace(memory, serial=None, first_use=None, set_aside=aside or None)
    profilestore.write_memory(config.state_dir, memory)
    return memory


def refresh(config: Config, now: float) -> Outcome:
    """Read the school folder's profile, decide, and put it in force when it may be; a
    refusal is remembered so that the same bad file is reported once (``Outcome.new``)."""
    folder = config.school_folder
    if folder is None:
        return Outcome(State.NO_FOLDER)
    with profilestore.memory_lock(config.state_dir):
        return _refresh(config, folder)


def _refresh(config: Config, folder: SchoolFolderConfig) -> Outcome:
    profile_path = folder.root / PROFILE_NAME
    data, sig_data = _folder_copy(folder.root)
    current, memory, trust = standing(config, folder)
    if current is None and memory.serial is not None:
        memory = _put_aside(config, memory)
        trust = replace(trust, first_use=None)
    if data is None:
        return Outcome(State.ABSENT)
    verdict = judge(data, sig_data, current, trust)
    serial = verdict.signature.serial if verdict.signature else None
    if verdict.in_force:
        return Outcome(State.IN_FORCE, serial=serial, signer=verdict.signer)
    detail = ""
    if verdict.refused is None and verdict.signature is not None:
        try:
            check(data, profile_path, config)
        except ConfigError as exc:
            detail = str(exc)
        else:
            # Taken on the pinned key, the profile no longer rests on a first use.
            first_use = verdict.signer if verdict.first_use else memory.first_use
            if verdict.signer == trust.pinned:
                first_use = None
            profilestore.store(
                config.state_dir,
                verdict.signature.serial,
                data,
                sig_data or b"",
                Memory(first_use=first_use),
            )
            return Outcome(
                State.ACCEPTED,
                new=True,
                serial=serial,
                signer=verdict.signer,
                first_use=verdict.first_use,
            )
    reason = verdict.refused or Reason.INVALID
    digest = profilestore.pair_digest(data, sig_data)
    new = memory.refused != digest
    if new:
        profilestore.write_memory(
            config.state_dir, replace(memory, refused=digest, refused_reason=reason.value)
        )
    message = refusal_message(reason, profile_path, verdict, current, trust, detail)
    return Outcome(State.REFUSED, message, new, reason, serial, verdict.signer)


def refusal_message(
    reason: Reason,
    path: Path,
    verdict: Verdict,
    current: InForce | None,
    trust: Trust,
    detail: str = "",
) -> str:
    """One message: what is wrong with the folder's copy, what stays in force, what to do."""
    found = verdict.signature.serial if verdict.signature else 0
    sig = path.with_name(SIGNATURE_NAME)
    resign = _("The principal or admin checks it and signs it with `hoso school sign`.")
    problem, todo = {
        Reason.UNSIGNED: (
            _("The school profile {path} is not signed ({sig} is missing)."),
            resign,
        ),
        Reason.DAMAGED_SIGNATURE: (
            _("The signature {sig} of the school profile is damaged or not a hoso signature."),
            resign,
        ),
        Reason.CHANGED: (
            _(
                "The school profile {path} was changed after it was signed (its signature "
                "does not match its content)."
            ),
            _(
                "The principal or admin puts back the signed file, or makes the wanted change "
                "with `hoso school edit`, which starts from the profile in force, not from "
                "this copy (`hoso school sign` shows what this copy changes before signing it)."
            ),
        ),
        Reason.UNKNOWN_KEY: (
            _(
                "The school profile {path} is signed by the key {signer}, which this computer "
                "does not trust."
            ),
            _(
                "If that key is the principal's or admin's, pin it on this computer with "
                "`hoso init --school-key {signer}`, or have a trusted signer list it in "
                "[[signers]]."
            ),
        ),
        Reason.OLDER: (
            _(
                "The school profile {path} (serial {found}) is older than one this computer "
                "already took (serial {serial}): an old copy was put back."
            ),
            _("The principal or admin signs the current profile again with `hoso school sign`."),
        ),
        Reason.SAME_SERIAL: (
            _(
                "The school profile {path} has the serial of the one in force ({serial}) but "
                "other content."
            ),
            resign,
        ),
        Reason.INVALID: (
            _("The school profile {path} is signed but not valid: {detail}"),
            _("The principal or admin corrects it with `hoso school edit`."),
        ),
    }[reason]
    if current is None:
        kept = _("No school profile is in force on this computer: its own config is used.")
    else:
        kept = _("The last good profile (serial {serial}) stays in force.")
    return " ".join(
        (
            problem.format(
                path=path,
                sig=sig,
                signer=verdict.signer,
                found=found,
                serial=current.serial if current else trust.floor(verdict.signer),
                detail=detail.rstrip("."),
            ),
            kept.format(serial=current.serial if current else 0),
            todo.format(signer=verdict.signer),
        )
    )


def _folder_copy(root: Path) -> tuple[bytes | None, bytes | None]:
    """profilestore.folder_copy, an unreadable file as one message."""
    try:
        return profilestore.folder_copy(root)
    except OSError as exc:
        raise UsageError(
            _("Cannot read {path}: {detail}").format(
                path=exc.filename or root / PROFILE_NAME, detail=exc.strerror
            )
        ) from None


# --- signing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Signed:
    fingerprint: str
    serial: int
    key_created: bool
    outcome: Outcome  # this computer's refresh right after


def folder_of(config: Config) -> SchoolFolderConfig:
    folder = config.school_folder
    if folder is None:
        raise UsageError(
            _(
                "No school folder is set up on this computer: set [school] folder_url in the "
                "config (docs/school.md)."
            )
        )
    return folder


def signing_key(vault: Vault) -> tuple[SigningKey, bool]:
    """The school profile's signing key from the vault, made and stored on first use; and
    whether it was made now."""
    entry = vault.get(VAULT_ENTRY)
    if entry is not None:
        try:
            return SigningKey(base64.b64decode(entry.secret.reveal(), validate=True)), False
        except (binascii.Error, ValueError):
            raise UsageError(
                _(
                    "The vault entry `{name}` is not a signing key. Remove it "
                    "(`hoso vault remove {name}`) to make a new one; the new key must then "
                    "be pinned on every computer."
                ).format(name=VAULT_ENTRY)
            ) from None
    key = SigningKey.generate()
    fingerprint = roles.public_key_fingerprint(key.public())
    vault.set(
        VAULT_ENTRY,
        base64.b64encode(key.secret).decode("ascii"),
        {"fingerprint": fingerprint},
    )
    return key, True


@dataclass(frozen=True)
class Signer:
    """This computer's signing key, checked to be one this computer trusts."""

    key: SigningKey = field(repr=False)
    fingerprint: str
    created: bool  # made now, on first use


def signer_of(config: Config, *, prompt: Prompt | None = None) -> Signer:
    """This computer's signing key (made and stored in the vault on first use); SafetyStop
    when this computer would not take what it signs, so no computer of the school would."""
    folder = folder_of(config)
    key, created = signing_key(Vault.open(config, create=True, prompt=prompt))
    fingerprint = roles.public_key_fingerprint(key.public())
    current, _memory, trust = standing(config, folder)
    if fingerprint not in trust.trusted() and not trust.open_to_first_use(current):
        raise SafetyStop(
            _(
                "This computer's signing key {fingerprint} is not trusted for the school "
                "profile here, so no computer of the school would take what it signs; "
                "nothing was signed. Pin it (`hoso init --school-key {fingerprint}`) or have "
                "the current signer list it in [[signers]]."
            ).format(fingerprint=fingerprint)
        )
    return Signer(key, fingerprint, created)


def sign(
    config: Config,
    now: float,
    *,
    prompt: Prompt | None = None,
    signer: Signer | None = None,
    confirm: Callable[[str], bool] | None = None,
    expected: bytes | None = None,
) -> Signed:
    """Check the school folder's profile as it stands and sign it (with ``signer``, else
    this computer's key) with a serial above every one seen; then put it in force here.

    A copy no trusted key signed (a teacher may have changed it), or an older signed one
    put back, is signed only when it is the profile in force, when it is ``expected`` (what
    `hoso school edit` just saved), or when ``confirm`` is given its difference from the
    profile in force and says yes; otherwise SafetyStop naming what differs. ConfigError
    (nothing written) when it is not valid, SafetyStop when the key is not trusted here."""
    folder = folder_of(config)
    path = folder.root / PROFILE_NAME
    data, existing = _folder_copy(folder.root)
    if data is None:
        raise UsageError(
            _("There is no school profile {path} yet: `hoso school edit` writes one.").format(
                path=path
            )
        )
    check(data, path, config)
    signer = signer or signer_of(config, prompt=prompt)
    current, _memory, trust = standing(config, folder)
    # The folder's serial counts only when a trusted key signed it: a forged .sig of any
    # serial would otherwise push every later profile to the format's maximum.
    before = verified(data, existing, trust.trusted() | {signer.fingerprint})
    claimed = parse_signature(existing) if existing is not None else None
    if (
        current is None
        and before is None
        and claimed is not None
        and claimed.fingerprint() in trust.trusted() | {signer.fingerprint}
        and claimed.serial > trust.floor(signer.fingerprint)
    ):
        # Its serial cannot be taken on trust (anyone can copy a public key into a .sig),
        # and signing below it would be refused as older on every PC that has it.
        raise SafetyStop(
            _(
                "The school folder's profile carries a signature of a trusted key with serial "
                "{serial}, but its content no longer matches it (it was changed after "
                "signing), and this computer has no profile in force to compare with. "
                "Signing now would give a lower serial, which every PC refuses as older. Get "
                "the signed copy back first (`hoso trash list --school`, or the share's "
                "versions of the file), run `hoso school sync` so that it is in force here, "
                "then `hoso school edit`. Nothing was signed."
            ).format(serial=claimed.serial)
        )
    if expected is not None and data != expected:
        raise SafetyStop(
            _(
                "The school profile {path} was changed by someone else after it was saved; "
                "nothing was signed. Run `hoso school edit` again."
            ).format(path=path)
        )
    # A trusted signature vouches for the copy only when newer than the one in force: an
    # older signed copy put back would otherwise be signed again under a new serial.
    vouched = before is not None and (current is None or before.serial > current.serial)
    if expected is None and not vouched and (current is None or data != current.data):
        change = difference(current, data)
        if confirm is None or not confirm(change):
            raise SafetyStop(_unverified_message(path, current, change))
    serial = 1 + max(
        current.serial if current else 0,
        trust.floor(signer.fingerprint),
        before.serial if before else 0,
    )
    if serial > MAX_SERIAL:
        raise SafetyStop(
            _(
                "The school profile cannot be signed: its serial would pass the largest one "
                "the format allows ({largest}). Nothing was signed."
            ).format(largest=MAX_SERIAL)
        )
    signature = make_signature(signer.key, data, serial, now)
    write_atomic(path.with_name(SIGNATURE_NAME), signature.to_bytes(), mode=0o644)
    return Signed(signer.fingerprint, serial, signer.created, refresh(config, now))


def verified(data: bytes, sig_data: bytes | None, keys: frozenset[str]) -> Signature | None:
    """The signature ``sig_data`` when one of ``keys`` made it over ``data``; else None."""
    signature = parse_signature(sig_data) if sig_data is not None else None
    if signature is None or signature.fingerprint() not in keys:
        return None
    message = signed_message(signature.header(), data)
    return signature if verify_signature(signature.key, message, signature.signature) else None


def difference(current: InForce | None, data: bytes) -> str:
    """The unified difference from the profile in force (nothing, when none) to ``data``,
    each line made printable (the file may hold anything)."""
    before = current.data.decode("utf-8", "replace") if current else ""
    lines = difflib.unified_diff(
        before.splitlines(),
        data.decode("utf-8", "replace").splitlines(),
        _("in force (serial {serial})").format(serial=current.serial) if current else "",
        str(PROFILE_NAME),
        lineterm="",
    )
    return "\n".join(printable_name(line) for line in lines)


def _unverified_message(path: Path, current: InForce | None, change: str) -> str:
    shown = [line for line in change.splitlines()[2:] if line[:1] in "+-"]
    more = len(shown) - _SHOWN_LINES
    lines = "\n".join(shown[:_SHOWN_LINES])
    if more > 0:
        lines += "\n" + _("… and {count} more changed lines").format(count=more)
    base = (
        _("the profile in force (serial {serial})").format(serial=current.serial)
        if current
        else _("an empty profile (none is in force here)")
    )
    return _(
        "The school profile {path} is not a copy a trusted key signed (someone may have "
        "changed it): nothing was signed. It differs from {base} in these lines:\n{lines}\n"
        "If these changes are wanted, sign it in a terminal (`hoso school sign` shows the "
        "difference and asks), or make them with `hoso school edit`, which starts from the "
        "profile in force."
    ).format(path=path, base=base, lines=lines)


def save(config: Config, text: str) -> bytes:
    """Write ``text`` (checked first: ConfigError and nothing written when it is not valid)
    as the school folder's profile; the bytes written."""
    path = folder_of(config).root / PROFILE_NAME
    data = text.encode("utf-8")
    check(data, path, config)
    write_atomic(path, data, mode=0o644)
    return data


# --- a starting point for `hoso school edit` ---------------------------------------------------


def template(config: Config) -> str:
    """Where `hoso school edit` starts: the profile in force; else the school folder's copy
    when a trusted key signed it; else a new one holding this computer's ``[school]``
    values, keeper keys and inspection calendar. Never a copy nobody trusted signed: a line
    a teacher slipped into it would be signed with the admin's change."""
    folder = folder_of(config)
    current, _memory, trust = standing(config, folder)
    if current is not None:
        return current.data.decode("utf-8", errors="replace")
    data, sig_data = _folder_copy(folder.root)
    if data is not None and verified(data, sig_data, trust.trusted()) is not None:
        return data.decode("utf-8", errors="replace")
    school = config.roles.school
    lines = [
        _("# The school profile (docs/school.md): signed by the principal or admin."),
        "[school]",
        f"name = {_q(school.name)}",
        f"governing_body = {_q(school.governing_body)}",
        f"mailbox = {_q(school.mailbox)}",
    ]
    if school.decision:
        number, day = _q(school.decision.number), school.decision.date.isoformat()
        lines.append(f"decision = {{ number = {number}, date = {day} }}")
    people = (("principal", school.principal), ("mailbox_keeper", school.mailbox_keeper))
    for name, person in people:
        if person:
            lines.append(f"{name} = {_person(person)}")
    for reviewer in school.reviewers:
        lines += ["", "[[school.reviewers]]", *_person_lines(reviewer)]
        lines.append(f"groups = {_list(reviewer.groups)}")
        lines.append(f"teachers = {_list(reviewer.teachers)}")
    if school.teachers:
        lines += ["", "[school.teachers]"]
        lines += [f"{_q(login)} = {_q(name)}" for login, name in school.teachers]
    for keeper in school.keepers:
        lines += ["", "[[keepers]]", f"name = {_q(keeper.name)}", f"key = {_q(keeper.key)}"]
    lines += [
        "",
        _("# Who else may sign this profile (their `hoso school sign` fingerprint):"),
        "# [[signers]]",
        '# name = "…"',
        '# key = "ABCD-EFGH-IJKL-MNOP"',
        "",
        _("# The school's record types, same shape as config/record-types.toml:"),
        "# [[types]]",
    ]
    schedule = config.table("inspection").get("schedule", [])
    if isinstance(schedule, list) and schedule:
        lines += ["", "[inspection]"]
        for item in schedule:
            if isinstance(item, dict):
                lines += ["", "[[inspection.schedule]]"]
                lines += [f"{k} = {_value(v)}" for k, v in item.items()]
    return "\n".join(lines) + "\n"


def _q(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string


def _list(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(_q(v) for v in values) + "]"


def _value(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, str):
        return _q(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _person_lines(person: roles.Person) -> list[str]:
    return [f"{k} = {_q(v)}" for k, v in person.to_json().items() if isinstance(v, str) and v]


def _person(person: roles.Person) -> str:
    return "{ " + ", ".join(_person_lines(person)) + " }"
