"""The handover service: hand the school mailbox account to the next keeper.

What `hoso handover …` (commands.py) and the plugin's job and status notes (__init__.py) call:
prepare, accept, confirm, release_given_copy, history, … They print nothing and know no click;
bad input is raised as a HosoError with its message.

Invariants:
- The password goes from the giver's vault into the sealed bundle and from the bundle into the
  receiver's vault, nowhere else: not into argv, the minutes, the log, messages or JSON.
- Bad input (a malformed key, a bundle for someone else, altered, truncated or replayed, no
  account in the vault) is a UsageError (exit 2) raised before anything is imported, written
  or removed.
- The giver's copy is removed only when an intact log shows the password change signed by the
  receiver's key named when this very copy was handed over.
- Every reading of the log goes through :func:`read_log`: only entries of known keys
  (trust.py) count, for reminders, numbering, removal and history alike.
- ``accept`` imports nothing until the receiver has given the giver's fingerprint and it
  matches the bundle's key.
- With a school folder, the log, the bundles and the minutes live in its
  ``Bàn giao tài khoản/`` (:func:`log_home`), so that giver, receiver and principal see every
  entry; without one, in the records folder, as before. A missing folder is never created
  here: sync would take an empty folder for one whose files were all deleted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from agent.api import (
    Config,
    SafetyStop,
    UsageError,
    Vault,
    VaultEntry,
    VaultLocked,
    VaultMissing,
    _,
    back_up_now,
    create_new,
    key_fingerprint,
    printable,
    school_folder,
)

from . import inbox, ledger, trust
from . import keys as keymod
from .bundle import (
    ACCOUNT_FIELDS,
    Account,
    OpenedBundle,
    Party,
    file_name,
    new_id,
    open_bundle,
    seal_bundle,
)
from .keys import PublicKey

MAILBOX = "school-mailbox"
BACKUP_TAG = "before-handover"
# Marks on the vault entry: which handover gave this copy away / brought it here.
HANDED_OVER = "handover_bundle"
RECEIVED = "received_bundle"
INTERNAL_FIELDS = (HANDED_OVER, RECEIVED)
SEEN_FILE = "handover-log-seen.json"

Prompt = Callable[[str], str]


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def _seen(config: Config) -> Path:
    return config.state_dir / SEEN_FILE


@dataclass(frozen=True)
class LogHome:
    """Where the handover's files are: ``root`` holds ``Bàn giao tài khoản/`` (the school
    folder, or the records folder on a computer without one); ``earlier`` is the records
    folder when the log moved away from it (its files not moved yet are still read)."""

    root: Path
    earlier: Path | None
    school: bool

    @property
    def folder(self) -> Path:
        return self.root / ledger.FOLDER


def log_home(config: Config) -> LogHome:
    """Where the log is; UsageError when that folder is not on this computer."""
    school = school_folder(config)
    if school is None:
        if not config.root.is_dir():
            raise UsageError(
                _("The records folder {root} does not exist; nothing was done.").format(
                    root=config.root
                )
            )
        return LogHome(config.root, None, school=False)
    if not school.is_dir():
        raise UsageError(
            _(
                "The school folder {path} is not on this computer yet: it comes with its first "
                "sync. Sync it, then try again; nothing was done."
            ).format(path=school)
        )
    if (school / ledger.FOLDER).is_symlink():  # anyone may write there: never followed
        raise UsageError(
            _(
                "{path} is a link, not a folder: the handover never follows it. Tell the "
                "school's admin; nothing was done."
            ).format(path=school / ledger.FOLDER)
        )
    return LogHome(school, config.root if config.root.is_dir() else None, school=True)


def log_home_or_none(config: Config) -> LogHome | None:
    """:func:`log_home`, or None where it is not on this computer (the job waits)."""
    try:
        return log_home(config)
    except UsageError:
        return None


def _my_keys(vault: Vault) -> keymod.HandoverKeys:
    found = keymod.load(vault)
    if found is None:
        raise UsageError(
            _(
                "This computer has no handover key: run `hoso handover keygen` first. "
                "Nothing was done."
            )
        )
    return found


def read_log(
    config: Config,
    keys: keymod.HandoverKeys | None,
    *,
    seen: bool = False,
    first_use: bool = True,
) -> trust.Screened:
    """The log with only the entries of known keys (see trust.py); ``seen`` also checks it
    against what this computer saw before. A computer's first reading of a log with entries,
    with no key pinned in the config, trusts the log's first keeper key (and remembers it),
    unless ``first_use`` is False (a reading that must leave no trace)."""
    home = log_home(config)
    log = ledger.verify(home.root, _seen(config) if seen else None, earlier=home.earlier)
    own = keys.public().fingerprint() if keys is not None else None
    known = trust.load(config, own)
    if not (first_use and known.first_use_open and log.entries):
        return trust.screen(log, known)
    first = trust.first_use_root(log.entries)
    trust.remember(config, first, trust.FIRST_USE)
    screened = trust.screen(log, trust.load(config, own))
    return replace(screened, trusted_now=first) if first not in (None, own) else screened


# --- keygen ------------------------------------------------------------------------------------


def make_keys(config: Config, *, new: bool, prompt: Prompt | None) -> tuple[PublicKey, bool]:
    """This computer's public key (made now when absent, or with ``new``); and whether new."""
    vault = Vault.open(config, create=True, prompt=prompt)
    keys, created = keymod.load_or_create(vault, new=new)
    return keys.public(), created


# --- prepare -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    bundle_id: str
    bundle: Path
    minutes: list[Path]
    snapshot: str | None  # the `before-handover` backup, None when there is no repository


def prepare(
    config: Config,
    *,
    to: str,
    giver: Party,
    receiver: Party,
    witness: Party | None,
    out: Path | None,
    prompt: Prompt | None,
) -> Prepared:
    """Back up, seal the account for ``to``, write bundle and minutes into ``out`` (None: the
    school folder's handover folder, or the current folder without a school folder), log
    it."""
    recipient = PublicKey.parse(to)
    home = log_home(config)
    if out is None:
        out = home.folder if home.school else Path(".")
    vault = open_vault_quietly(config, prompt, locked_too=False)
    entry = vault.get(MAILBOX) if vault is not None else None
    if vault is None or entry is None:
        raise UsageError(
            _(
                "The vault has no `{name}` entry to hand over. Store it first: `hoso vault set "
                "{name} --field address=… --field provider=… --field login_url=… --field "
                "recovery=…` (the password at the prompt). Nothing was prepared."
            ).format(name=MAILBOX)
        )
    keys, _created = keymod.load_or_create(vault)
    if recipient == keys.public():
        raise UsageError(
            _("That public key is this computer's own; give the receiver's. Nothing was prepared.")
        )
    _make_folder(out)
    snapshot = back_up_now(config, tags=(BACKUP_TAG,), prompt=prompt)
    bundle_id, created = new_id(), _now()
    account = _account(entry)
    data = seal_bundle(
        bundle_id=bundle_id,
        created=created,
        account=account,
        notes=_notes(entry),
        giver=giver,
        giver_keys=keys,
        receiver=recipient,
    )
    bundle_path = out / file_name(bundle_id)
    # Readable by its owner only: sealed, but it still names the people and the school.
    create_new(bundle_path, data, mode=0o600)
    number = 1 + sum(e.kind == ledger.PREPARED for e in read_log(config, keys).log.entries)
    fingerprints = (keys.public().fingerprint(), recipient.fingerprint())
    minutes = _write_minutes(
        config, out, bundle_id, number, (giver, receiver, witness), account, fingerprints
    )
    ledger.append(
        home.root,
        keys,
        ledger.PREPARED,
        time=created,
        bundle=bundle_id,
        data={
            "giver": giver.to_json(),
            "receiver": receiver.to_json(),
            "witness": witness.to_json() if witness else None,
            "receiver_fingerprint": recipient.fingerprint(),
        },
    )
    vault.set(MAILBOX, entry.secret.reveal(), {**entry.fields, HANDED_OVER: bundle_id})
    return Prepared(bundle_id, bundle_path, minutes, snapshot)


def giver_of(config: Config, given: str | None) -> Party:
    """The giver: ``--giver``, else the config's mailbox keeper."""
    if given:
        return Party.parse(given, "--giver")
    keeper = config.roles.school.mailbox_keeper
    if keeper is None or not keeper.position:
        raise UsageError(
            _(
                "Who hands over? Set name and position in [school.mailbox_keeper] of the config, "
                'or give --giver "NAME, POSITION". Nothing was prepared.'
            )
        )
    return Party(keeper.name, keeper.position)


def _account(entry: VaultEntry) -> Account:
    fields = entry.fields
    return Account(*(fields.get(name, "") for name in ACCOUNT_FIELDS), password=entry.secret)


def _notes(entry: VaultEntry) -> dict[str, str]:
    skip = (*ACCOUNT_FIELDS, *INTERNAL_FIELDS)
    return {k: v for k, v in entry.fields.items() if k not in skip}


def _make_folder(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            _("Cannot create {path}: {detail}. Nothing was prepared.").format(
                path=out, detail=exc.strerror
            )
        ) from None


def _write_minutes(
    config: Config,
    out: Path,
    bundle_id: str,
    number: int,
    parties: tuple[Party, Party, Party | None],
    account: Account,
    fingerprints: tuple[str, str],
) -> list[Path]:
    # python-docx loads only for a handover, not whenever `hoso` starts.
    from .minutes import MinutesFacts, Person, write_minutes

    giver, receiver, witness = parties
    school = config.roles.school
    decision = school.decision
    # The minutes are an official Vietnamese document: their words are not translated.
    facts = MinutesFacts(
        school=school.name,
        governing_body=school.governing_body,
        number=f"{number:02d}/BB-BGTK",
        place=str(config.plugins.settings("handover").get("place", "")),
        when=datetime.now().astimezone(),
        decision=f"Quyết định số {decision.number} ngày {decision.date:%d/%m/%Y} của Hiệu trưởng"
        if decision
        else "",
        giver=Person(giver.name, giver.position),
        receiver=Person(receiver.name, receiver.position),
        witness=Person(witness.name, witness.position) if witness else None,
        address=account.address,
        provider=account.provider,
        login_url=account.login_url,
        recovery_moved=account.recovery,
        password_changed_note="",  # filled in by hand once the receiver has changed it
        giver_key=fingerprints[0],
        receiver_key=fingerprints[1],
    )
    return write_minutes(out / f"bien-ban-ban-giao-{bundle_id[:8]}.docx", facts)


# --- accept ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Arrived:
    """A bundle that opened and checks, not imported: it waits for the receiver to confirm
    the giver's key fingerprint."""

    opened: OpenedBundle
    path: Path  # where it was read from
    giver_fingerprint: str
    known_as: str | None  # how this computer knows the giver's key (trust.PINNED, …), or None
    keeper_name: str | None  # the name the config pins the key under


# Gives the fingerprint the receiver compares (read out by the giver, or printed on the
# minutes) for a bundle that arrived; raises UsageError when nobody can answer.
Confirm = Callable[[Arrived], str]
# Asks the receiver which of several bundles waiting in the school folder to accept (what
# they typed: a listed path or file name); None where nobody can be asked.
Choose = Callable[[list[inbox.Waiting]], str]


def accept(
    config: Config,
    bundle: Path | None,
    *,
    prompt: Prompt | None,
    confirm: Confirm,
    choose: Choose | None = None,
) -> tuple[Arrived, OpenedBundle]:
    """Verify the bundle (None: the one waiting for this computer in the school folder), have
    the receiver confirm the giver's fingerprint, then import the account into this vault as
    `school-mailbox`, remember the giver's key, and log it."""
    home = log_home(config)
    data = _read_bundle(bundle) if bundle is not None else None
    vault = Vault.open(config, create=True, prompt=prompt)
    keys = _my_keys(vault)
    existing = vault.get(MAILBOX)
    log = read_log(config, keys, first_use=False)  # nothing remembered before the confirmation
    mine = keys.public().fingerprint()
    accepted_here = _accepted_by(log.log.entries, mine, existing)
    if bundle is None or data is None:
        bundle, data = _waiting_bundle(home, mine, accepted_here, choose)
    opened = open_bundle(data, keys)
    if accepted_here(opened.id):
        raise UsageError(
            _(
                "This handover bundle ({id}) was already accepted; an old bundle cannot be used "
                "again. Nothing was imported."
            ).format(id=opened.id)
        )
    giver_fingerprint = opened.giver_key.fingerprint()
    arrived = Arrived(
        opened,
        bundle,
        giver_fingerprint,
        log.known.get(giver_fingerprint),
        log.names.get(giver_fingerprint),
    )
    _check_fingerprint(confirm(arrived), giver_fingerprint)
    account = opened.account
    fields = {
        **opened.notes,
        **{name: getattr(account, name) for name in ACCOUNT_FIELDS},
        RECEIVED: opened.id,
    }
    if existing is not None:
        # Nothing lost: an account this vault already held (last year's, another school's)
        # is kept under a name of its own before the new one takes `school-mailbox`.
        vault.set(f"{MAILBOX}.before-{opened.id[:8]}", existing.secret.reveal(), existing.fields)
    vault.set(MAILBOX, account.password.reveal(), fields)
    # Compared in person: this computer now knows the giver's key, even before the giver's
    # "prepared" entry reaches it.
    trust.remember(config, giver_fingerprint, trust.ACCEPTED)
    # The handover's parties ride along: the giver's "prepared" entry may reach this computer
    # after the receiver confirms the password change (ledger.handovers, provisional).
    receiver = Party(config.roles.teacher.name or config.host_name, "")
    details = {
        "prepared_at": opened.created,
        "giver": opened.giver.to_json(),
        "giver_fingerprint": giver_fingerprint,
        "receiver": receiver.to_json(),
    }
    ledger.append(home.root, keys, ledger.ACCEPTED, time=_now(), bundle=opened.id, data=details)
    return arrived, opened


def _accepted_by(
    entries: list[ledger.Entry], mine: str, existing: VaultEntry | None
) -> Callable[[str], bool]:
    """Whether this computer (key ``mine``, holding ``existing``) accepted a bundle id."""

    def accepted_here(bundle_id: str) -> bool:
        # Only this receiver's own entries: anyone could sign an "accepted" for a bundle.
        return any(
            e.kind == ledger.ACCEPTED and e.bundle == bundle_id and e.author.fingerprint() == mine
            for e in entries
        ) or (existing is not None and existing.fields.get(RECEIVED) == bundle_id)

    return accepted_here


def _read_bundle(bundle: Path) -> bytes:
    try:
        return bundle.read_bytes()
    except OSError as exc:
        raise UsageError(
            _("Cannot read {path}: {detail}. Nothing was imported.").format(
                path=bundle, detail=exc.strerror
            )
        ) from None


def _waiting_bundle(
    home: LogHome, mine: str, accepted: Callable[[str], bool], choose: Choose | None
) -> tuple[Path, bytes]:
    """The one bundle waiting for this computer in the school folder, or the one of several
    that ``choose`` names; UsageError when there is no school folder, none, or several and
    nobody to choose (they are listed) or a choice that is none of them."""
    if not home.school:
        raise UsageError(
            _(
                "Name the bundle: `hoso handover accept BUNDLE` (this computer has no school "
                "folder to look in). Nothing was imported."
            )
        )
    waiting = inbox.waiting_bundles(home.folder, mine, accepted)
    if not waiting:
        raise UsageError(
            _(
                "No handover bundle for this computer's key waits in {folder}. If the giver has "
                "prepared one, wait for the school folder to sync (or name the bundle: `hoso "
                "handover accept BUNDLE`). Nothing was imported."
            ).format(folder=home.folder)
        )
    if len(waiting) == 1:
        return waiting[0].path, waiting[0].data
    if choose is None:
        raise UsageError(
            _(
                "Several handover bundles for this computer wait in {folder}:\n{listed}\nAsk "
                "the giver which one is theirs and name it: `hoso handover accept BUNDLE`. "
                "Nothing was imported."
            ).format(folder=home.folder, listed=waiting_list(waiting))
        )
    answer = choose(waiting).strip()
    chosen = [w for w in waiting if answer in (str(w.path), w.path.name)]
    if not chosen:
        raise UsageError(
            _("{answer} is none of the bundles listed. Nothing was imported.").format(
                answer=answer[:200]
            )
        )
    return chosen[0].path, chosen[0].data


def waiting_list(waiting: list[inbox.Waiting]) -> str:
    """The bundles waiting, one line each: path, giver and time (as the bundle says)."""
    return "\n".join(
        _("  {path} (from {giver}, {time})").format(
            path=w.path, giver=w.header.giver.label(), time=w.header.created
        )
        for w in waiting
    )


class FingerprintMismatch(SafetyStop):
    """The fingerprint the receiver gave is not the bundle's: it may come from an impostor."""


def _check_fingerprint(given: str, expected: str) -> None:
    found = key_fingerprint(given)
    if found is None:
        raise UsageError(
            _(
                "`{given}` is not a key fingerprint (four groups of four letters and digits, "
                "e.g. ABCD-EFGH-IJKL-MNOP). Nothing was imported."
            ).format(given=given.strip()[:40])
        )
    if found != expected:
        raise FingerprintMismatch(
            _(
                "The fingerprint you gave ({given}) is not the key that signed this bundle "
                "({expected}). The bundle may not come from the giver: do not accept it; ask "
                "the giver to read out `hoso handover keygen` on their computer and prepare it "
                "again. Nothing was imported."
            ).format(given=found, expected=expected)
        )


# --- confirm -----------------------------------------------------------------------------------


def confirm_password_changed(config: Config, *, prompt: Prompt | None) -> ledger.Handover:
    """Log that this receiver changed the password of the handover it accepted last."""
    home = log_home(config)
    keys = _my_keys(Vault.open(config, prompt=prompt))
    waiting = waiting_for_confirmation(read_log(config, keys).log.entries, keys)
    if not waiting:
        raise UsageError(
            _("There is no accepted handover waiting for a password change on this computer.")
        )
    handover = waiting[-1]
    ledger.append(home.root, keys, ledger.PASSWORD_CHANGED, time=_now(), bundle=handover.bundle)
    return handover


def waiting_for_confirmation(
    entries: list[ledger.Entry], keys: keymod.HandoverKeys
) -> list[ledger.Handover]:
    """Handovers this computer accepted whose password change is not logged yet."""
    mine = keys.public().fingerprint()
    return [
        h
        for h in ledger.handovers(entries)
        if h.receiver_fingerprint == mine and h.accepted_at and not h.password_changed_at
    ]


# --- the giver's copy, reminders, history ------------------------------------------------------


def open_vault_quietly(
    config: Config, prompt: Prompt | None, *, locked_too: bool = True
) -> Vault | None:
    """The vault, or None when there is none (or, with ``locked_too``, when it cannot be
    unlocked now: the agent's job then tries again later)."""
    quiet = (VaultMissing, VaultLocked) if locked_too else (VaultMissing,)
    try:
        return Vault.open(config, prompt=prompt)
    except quiet:
        return None


def release_given_copy(config: Config, vault: Vault) -> ledger.Handover | None:
    """Remove the `school-mailbox` copy this computer handed over, once the receiver's
    password change is in a log that verifies; the handover, or None when nothing was removed."""
    entry = vault.get(MAILBOX)
    keys = keymod.load(vault)
    if entry is None or keys is None or HANDED_OVER not in entry.fields:
        return None
    if log_home_or_none(config) is None:
        return None
    screened = read_log(config, keys, seen=True)
    if not screened.intact:
        return None  # a damaged log proves nothing: keep the copy
    # Entries of unknown keys are left out: whatever they say, they cannot confirm this one.
    log = screened.log
    mine = keys.public().fingerprint()
    for handover in ledger.handovers(log.entries):
        done = (
            handover.password_changed_at
            and handover.giver_fingerprint == mine
            and not handover.provisional
        )
        if done and handover.bundle == entry.fields[HANDED_OVER]:
            vault.remove(MAILBOX)
            return handover
    return None


def history(
    config: Config, keys: keymod.HandoverKeys | None
) -> tuple[trust.Screened, list[ledger.Handover]]:
    screened = read_log(config, keys, seen=True)
    if screened.intact:
        ledger.remember(_seen(config), screened.log)
    return screened, ledger.handovers(screened.log.entries)


@dataclass(frozen=True)
class Overview:
    """Where the handover stands on this computer, for the teacher's page: read only (no
    key made, no copy removed, nothing remembered)."""

    folder: Path | None  # ``Bàn giao tài khoản/``; None: not on this computer yet
    fingerprint: str | None  # this computer's handover key's; None: no key yet
    holds_mailbox: bool  # the vault holds the school mailbox's login
    handed_over: bool  # … a copy given away, kept until the receiver's password change
    bundles_waiting: int  # bundles sealed for this computer's key, not accepted yet
    to_confirm: list[ledger.Handover]  # accepted here, password change not logged yet
    handovers: list[ledger.Handover]  # the log's handovers, oldest first
    verified: bool
    problems: int


def overview(config: Config) -> Overview:
    home = log_home_or_none(config)
    vault = open_vault_quietly(config, prompt=None)
    keys = keymod.load(vault) if vault is not None else None
    entry = vault.get(MAILBOX) if vault is not None else None
    mine = keys.public().fingerprint() if keys is not None else None
    if home is None:
        return Overview(None, mine, entry is not None, _given(entry), 0, [], [], True, 0)
    screened = read_log(config, keys, first_use=False)
    log = screened.log
    waiting = (
        inbox.waiting_bundles(home.folder, mine, _accepted_by(log.entries, mine, entry))
        if mine is not None and home.school
        else []
    )
    return Overview(
        folder=home.folder,
        fingerprint=mine,
        holds_mailbox=entry is not None,
        handed_over=_given(entry),
        bundles_waiting=len(waiting),
        to_confirm=waiting_for_confirmation(log.entries, keys) if keys is not None else [],
        handovers=ledger.handovers(log.entries),
        verified=log.verified,
        problems=len(log.problems),
    )


def _given(entry: VaultEntry | None) -> bool:
    return entry is not None and HANDED_OVER in entry.fields


# Names and times below come from the log or a bundle (anyone's file until checked). These two
# messages also go to desktop notifications, which the terminal guard of `hoso` does not cover:
# escaped here. Everything echoed to the terminal is escaped by that guard.


def removed_message(handover: ledger.Handover) -> str:
    return _(
        "{receiver} changed the school mailbox password at {time}: this computer's copy of the "
        "account was removed from its vault."
    ).format(
        receiver=printable(handover.receiver.label()),
        time=printable(handover.password_changed_at or ""),
    )


def reminder_message(handover: ledger.Handover) -> str:
    return _(
        "You accepted the school mailbox from {giver}. Change its password and move the "
        "recovery phone/email to yours now, then run `hoso handover confirm --password-changed`."
    ).format(giver=printable(handover.giver.label()))
