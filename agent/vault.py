"""The credential vault: every secret hoso uses, encrypted in one file next to the config.

docs/vault.md is the format document; this module is its only implementation. It owns the
``keyring`` library; the encryption is hoso's envelope (agent/envelope.py).

Invariants:
- The vault file is an envelope of kind ``hoso-vault v1`` over the JSON of the entries, bound to
  the canonical JSON of the header (everything but nonce and ciphertext): a swapped header, a
  flipped byte or a truncated file is a :class:`VaultDamaged`, never a half-read vault.
- Every write is atomic and durable on return (temp file in the same folder, fsync, rename,
  fsync of the folder) and made under an exclusive lock after re-reading the file, so two
  processes changing different entries lose neither change.
- The 32-byte vault key lives in the OS keyring when a usable one exists, else in a key file
  readable only by its owner (refused otherwise), optionally wrapped by a passphrase (scrypt).
  An existing key is never replaced.
- Secrets stay in :class:`Secret`; no message, repr or JSON of this module contains one.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import getpass
import json
import os
import re
import stat
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import keyring
import keyring.backend
import keyring.errors

from . import envelope
from .config import PASSWORD_ENV, Config, Secret, read_secret_file
from .durable import remove_stale_temps, write_atomic
from .envelope import KEY_SIZE, NONCE_SIZE, TAG_SIZE, KdfParams, Sealed, SealingKey
from .errors import CannotOpen, ConfigError, ExitCode, HosoError, Scope, UsageError
from .i18n import _
from .log import get_logger, register_secret

FORMAT = "hoso-vault"
VERSION = 1
KEY_FORMAT = "hoso-vault-key"
KEY_VERSION = 1
KEYRING_SERVICE = "hoso"
PASSPHRASE_ENV = "HOSO_VAULT_PASSPHRASE"
SOURCE_KEYRING = "keyring"
SOURCE_FILE = "file"
WEBDAV = "webdav"
SCHOOL_FOLDER = "school-folder"  # the school folder's own login, when it has one
NAME_PATTERN = re.compile(r"[a-z0-9._-]{1,64}\Z")
DEFAULT_KDF = KdfParams()  # the backup's production scrypt cost: about 32 MiB, 0.1 s

log = get_logger(__name__)

Prompt = Callable[[str], str]


class VaultDamaged(HosoError):
    """The vault file (or its key) is truncated, altered or unreadable."""

    exit_code = ExitCode.PARTIAL
    scope = Scope.AGENT


class VaultNewer(ConfigError):
    """The vault was written by a newer hoso (format version above ours)."""


class VaultLocked(UsageError):
    """The vault's key cannot be had now: keyring unreachable, no or wrong passphrase."""


class VaultMissing(UsageError):
    """There is no vault yet (nothing has been stored)."""


@dataclass(frozen=True)
class VaultEntry:
    """One credential: the secret, and fields that are NOT secret (shown by `vault list`)."""

    name: str
    secret: Secret
    fields: Mapping[str, str]
    updated: str


def terminal_prompt() -> Prompt | None:
    """A hidden prompt for the vault's passphrase when a person is at a terminal, else None
    (a service, a script: HOSO_VAULT_PASSPHRASE or a keyring must unlock it)."""
    return getpass.getpass if sys.stdin.isatty() else None


def vault_path(config: Config) -> Path:
    return config.path.with_name(config.path.stem + ".vault")


def key_file_path(config: Config) -> Path:
    return config.path.with_name(config.path.stem + ".vault-key")


def check_name(name: str, what: str = "") -> str:
    """``name`` when it is 1–64 characters of a-z 0-9 . _ -; else a UsageError."""
    if not NAME_PATTERN.match(name):
        raise UsageError(
            _("{what} `{name}` must be 1 to 64 characters of a-z, 0-9, '.', '_' or '-'.").format(
                what=what or _("The vault entry name"), name=name[:80]
            )
        )
    return name


# Field values are shown by `vault list`; a key named like one of these is a secret misplaced.
SECRET_WORDS = ("password", "secret", "token", "passphrase")


def public_fields(pairs: tuple[str, ...]) -> dict[str, str]:
    """The non-secret fields of an entry from KEY=VALUE pairs; a UsageError for a pair that
    is not one, a bad key, or a key that names a secret (it would be shown by `list`)."""
    fields: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise UsageError(_("`--field {pair}` must be KEY=VALUE.").format(pair=key[:40]))
        check_name(key, _("The field name"))
        if any(word in key for word in SECRET_WORDS):
            raise UsageError(
                _(
                    "`--field {key}=…` would show a secret in the command line and in "
                    "`hoso vault list`. Give the secret on stdin or at the prompt instead."
                ).format(key=key)
            )
        fields[key] = value
    return fields


# --- the vault ---------------------------------------------------------------------------------


class Vault:
    """An opened vault: entries in memory, every change written through before returning."""

    def __init__(self, path: Path, key: _Key, entries: dict[str, VaultEntry]) -> None:
        self._path = path
        self._key = key
        self._entries = entries

    def __repr__(self) -> str:
        return f"Vault({str(self._path)!r}, {len(self._entries)} entries)"

    @classmethod
    def open(
        cls,
        config: Config,
        *,
        create: bool = False,
        prompt: Prompt | None = None,
        backend: keyring.backend.KeyringBackend | None = None,
    ) -> Vault:
        """The vault of ``config``. ``create``: make an empty one (and its key) when absent.

        ``prompt`` asks for the key file's passphrase when HOSO_VAULT_PASSPHRASE is unset;
        ``backend`` overrides the OS keyring (tests; default ``keyring.get_keyring()``).
        """
        path = vault_path(config)
        keys = _KeySource(config, path, prompt, backend)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            if not create:
                raise VaultMissing(
                    _("There is no vault yet ({path}): `hoso vault set NAME` makes it.").format(
                        path=path
                    )
                ) from None
            # Under the lock: two first `set`s at once must not make two different keys.
            with _locked(path):
                vault = cls(path, keys.create(), {})
                if not path.exists():  # another process may have made it meanwhile
                    vault._write({})
                vault._entries = vault._read()
            return vault
        except OSError as exc:
            raise _damaged(path, exc.strerror or str(exc)) from None
        header = _parse_header(path, data)
        key = keys.load(header["key"]["source"])
        return cls(path, key, _decrypt(path, key, data))

    @property
    def path(self) -> Path:
        return self._path

    def names(self) -> list[str]:
        return sorted(self._entries)

    def get(self, name: str) -> VaultEntry | None:
        entry = self._entries.get(name)
        if entry is not None:
            register_secret(entry.secret.reveal())
        return entry

    def set(self, name: str, secret: str, fields: Mapping[str, str] | None = None) -> None:
        """Store ``secret`` under ``name`` (replacing it); durable when this returns."""
        check_name(name)
        for key in fields or {}:
            check_name(key, _("The field name"))
        if not secret:
            raise UsageError(_("An empty secret cannot be stored."))
        entry = VaultEntry(
            name=name,
            secret=Secret(secret),
            fields=MappingProxyType(dict(fields or {})),
            updated=datetime.now().astimezone().isoformat(timespec="seconds"),
        )
        self._change(lambda entries: entries.__setitem__(name, entry))

    def remove(self, name: str) -> bool:
        """Remove the entry; False when there was none (nothing written then)."""
        removed = False

        def drop(entries: dict[str, VaultEntry]) -> None:
            nonlocal removed
            removed = entries.pop(name, None) is not None

        self._change(drop, write_if=lambda: removed)
        return removed

    def public(self) -> list[dict[str, Any]]:
        """Names, fields and times of the entries: never a secret."""
        return [
            {"name": e.name, "fields": dict(e.fields), "updated": e.updated}
            for e in sorted(self._entries.values(), key=lambda e: e.name)
        ]

    # --- writing -----------------------------------------------------------------------------

    def _change(
        self,
        apply: Callable[[dict[str, VaultEntry]], None],
        write_if: Callable[[], bool] = lambda: True,
    ) -> None:
        # Re-read under the lock: another process may have changed another entry since open.
        with _locked(self._path):
            entries = self._read()
            apply(entries)
            if write_if():
                self._write(entries)
            self._entries = entries

    def _read(self) -> dict[str, VaultEntry]:
        try:
            data = self._path.read_bytes()
        except OSError as exc:
            raise _damaged(self._path, exc.strerror or str(exc)) from None
        header = _parse_header(self._path, data)
        if header["key"]["source"] != self._key.source:
            raise _damaged(self._path, _("its key source changed while it was open"))
        return _decrypt(self._path, self._key, data)

    def _write(self, entries: dict[str, VaultEntry]) -> None:
        header = {
            "format": FORMAT,
            "version": VERSION,
            "key": {"source": self._key.source, "kdf": self._key.kdf},
        }
        plaintext = json.dumps({"entries": {n: _entry_json(e) for n, e in entries.items()}})
        sealed = envelope.seal(
            self._key.sealing(), envelope.VAULT, plaintext.encode(), _canonical(header)
        )
        document = {**header, "nonce": _b64(sealed.nonce), "ciphertext": _b64(sealed.ciphertext)}
        # Every writer holds the lock, so a temp file seen now was left by a killed writer.
        remove_stale_temps(self._path)
        write_atomic(self._path, json.dumps(document).encode())


@contextlib.contextmanager
def _locked(vault: Path) -> Iterator[None]:
    """An exclusive lock for a read-modify-write of ``vault``.

    flock: the kernel drops it when the holder dies, so no lock is ever stale."""
    vault.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(vault.with_name(vault.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _entry_json(entry: VaultEntry) -> dict[str, Any]:
    return {"secret": entry.secret.reveal(), "fields": dict(entry.fields), "updated": entry.updated}


# --- reading -----------------------------------------------------------------------------------


def _parse_header(path: Path, data: bytes) -> dict[str, Any]:
    """The vault document, its shape checked (the tag check comes after)."""
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _damaged(path, _("it is not complete JSON (truncated or altered)")) from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise _damaged(path, _("it is not a hoso vault"))
    version = document.get("version")
    if isinstance(version, int) and not isinstance(version, bool) and version > VERSION:
        raise VaultNewer(
            _(
                "The vault {path} was written by a newer version of hoso (format {found}, this "
                "hoso reads format {ours}). Update hoso to use it."
            ).format(path=path, found=version, ours=VERSION)
        )
    key = document.get("key")
    well_formed = (
        version == VERSION
        and not isinstance(version, bool)
        and set(document) == {"format", "version", "key", "nonce", "ciphertext"}
        and isinstance(key, dict)
        and set(key) == {"source", "kdf"}
        and key["source"] in (SOURCE_KEYRING, SOURCE_FILE)
        and (key["kdf"] is None or isinstance(key["kdf"], dict))
        and isinstance(document["nonce"], str)
        and isinstance(document["ciphertext"], str)
    )
    if not well_formed:
        raise _damaged(path, _("its header is malformed"))
    return document


def _decrypt(path: Path, key: _Key, data: bytes) -> dict[str, VaultEntry]:
    document = json.loads(data.decode("utf-8"))  # already checked by _parse_header
    header = {k: v for k, v in document.items() if k not in ("nonce", "ciphertext")}
    sealed = Sealed(_unb64(path, document["nonce"]), _unb64(path, document["ciphertext"]))
    try:
        plaintext = envelope.open_sealed(key.sealing(), envelope.VAULT, sealed, _canonical(header))
    except CannotOpen as exc:
        raise _damaged(path, exc.problem) from None
    return _entries(path, plaintext)


def _entries(path: Path, plaintext: bytes) -> dict[str, VaultEntry]:
    # Authenticated, so only a bug of ours could make it malformed; still never half-read.
    try:
        raw = json.loads(plaintext.decode("utf-8"))["entries"]
        entries = {
            name: VaultEntry(
                name=name,
                secret=Secret(item["secret"]),
                fields=MappingProxyType(dict(item["fields"])),
                updated=item["updated"],
            )
            for name, item in raw.items()
        }
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, AttributeError):
        raise _damaged(path, _("its content is malformed")) from None
    return entries


def _canonical(header: Mapping[str, Any]) -> bytes:
    return json.dumps(header, sort_keys=True, separators=(",", ":")).encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(path: Path, text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise _damaged(path, _("a field is not valid base64")) from None


def _damaged(path: Path, problem: str) -> VaultDamaged:
    return VaultDamaged(
        _("The vault {path} is damaged: {problem}. Restore it from a backup.").format(
            path=path, problem=problem
        )
    )


# --- the key -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Key:
    value: bytes
    source: str
    kdf: dict[str, Any] | None  # the passphrase wrapping of the key file, if any

    def __repr__(self) -> str:
        return f"_Key(source={self.source!r})"

    def sealing(self) -> SealingKey:
        return SealingKey(self.value)


class _KeySource:
    """Where the vault key is: the OS keyring, else the key file beside the config."""

    def __init__(
        self,
        config: Config,
        vault: Path,
        prompt: Prompt | None,
        backend: keyring.backend.KeyringBackend | None,
    ) -> None:
        self.key_file = key_file_path(config)
        self.account = str(vault)
        self.vault = vault
        self.prompt = prompt
        self._backend = backend

    def backend(self) -> keyring.backend.KeyringBackend:
        return self._backend if self._backend is not None else keyring.get_keyring()

    def usable_keyring(self) -> bool:
        # fail.Keyring has priority 0, null.Keyring and an empty chainer are below 0.
        return float(self.backend().priority) > 0

    def create(self) -> _Key:
        """The key for a new vault: an existing one is reused, never replaced."""
        if self.key_file.exists():
            return self.load(SOURCE_FILE)
        if self.usable_keyring():
            existing = self._keyring_get()
            if existing is not None:
                return self._from_keyring(existing)
            value = os.urandom(KEY_SIZE)
            self._keyring_call(lambda b: b.set_password(KEYRING_SERVICE, self.account, _b64(value)))
            return _Key(value, SOURCE_KEYRING, None)
        value = os.urandom(KEY_SIZE)
        document = {"format": KEY_FORMAT, "version": KEY_VERSION, "key": _b64(value)}
        write_atomic(self.key_file, json.dumps(document).encode())
        return _Key(value, SOURCE_FILE, None)

    def load(self, source: str) -> _Key:
        if source == SOURCE_KEYRING:
            stored = self._keyring_get()
            if stored is None:
                raise _damaged(self.vault, _("its key is missing from the OS keyring"))
            return self._from_keyring(stored)
        return self._from_file()

    def _keyring_get(self) -> str | None:
        stored: str | None = self._keyring_call(
            lambda b: b.get_password(KEYRING_SERVICE, self.account)
        )
        return stored

    def _keyring_call(self, call: Callable[[keyring.backend.KeyringBackend], Any]) -> Any:
        try:
            return call(self.backend())
        except keyring.errors.KeyringError:
            raise VaultLocked(
                _(
                    "The vault's key is in the OS keyring, which cannot be reached now. "
                    "Unlock it (log in to the desktop session) and try again."
                )
            ) from None

    def _from_keyring(self, stored: str) -> _Key:
        try:
            value = base64.b64decode(stored, validate=True)
        except (binascii.Error, ValueError):
            value = b""
        if len(value) != KEY_SIZE:
            raise _damaged(self.vault, _("its key in the OS keyring is malformed"))
        return _Key(value, SOURCE_KEYRING, None)

    def _from_file(self) -> _Key:
        document = self._read_key_file()
        if "wrapped" in document:
            return self._unwrap(document)
        value = _unb64(self.key_file, str(document.get("key", "")))
        if len(value) != KEY_SIZE:
            raise _damaged(self.key_file, _("the key has the wrong length"))
        return _Key(value, SOURCE_FILE, None)

    def _read_key_file(self) -> dict[str, Any]:
        try:
            st = self.key_file.stat()
        except FileNotFoundError:
            raise _damaged(
                self.vault, _("its key file {path} is missing").format(path=self.key_file)
            ) from None
        if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(
                _(
                    "The vault key file {path} can be read by other users. "
                    "Run `chmod 600 {path}` and try again."
                ).format(path=self.key_file)
            )
        try:
            document = json.loads(self.key_file.read_bytes().decode("utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            raise _damaged(self.key_file, _("it is not complete JSON")) from None
        if not isinstance(document, dict) or document.get("format") != KEY_FORMAT:
            raise _damaged(self.key_file, _("it is not a hoso vault key"))
        version = document.get("version")
        if isinstance(version, int) and version > KEY_VERSION:
            raise VaultNewer(
                _("The vault key file {path} was written by a newer version of hoso.").format(
                    path=self.key_file
                )
            )
        if version != KEY_VERSION:
            raise _damaged(self.key_file, _("its version is malformed"))
        return document

    def _unwrap(self, document: dict[str, Any]) -> _Key:
        params, salt = _kdf_params(self.key_file, document.get("kdf"))
        nonce = _unb64(self.key_file, str(document.get("nonce", "")))
        wrapped = _unb64(self.key_file, str(document.get("wrapped", "")))
        if len(nonce) != NONCE_SIZE or len(wrapped) != KEY_SIZE + TAG_SIZE:
            raise _damaged(self.key_file, _("its fields are malformed"))
        wrapping = envelope.passphrase_key(self._passphrase(), salt, params)
        try:
            value = envelope.open_sealed(wrapping, envelope.VAULT_KEY, Sealed(nonce, wrapped))
        except CannotOpen:
            raise VaultLocked(_("Wrong vault passphrase; nothing was changed.")) from None
        return _Key(value, SOURCE_FILE, document["kdf"])

    def _passphrase(self) -> str:
        from_env = os.environ.get(PASSPHRASE_ENV)
        if from_env:
            return from_env
        if self.prompt is None:
            raise VaultLocked(
                _(
                    "The vault key is protected by a passphrase: set {var} or run the command "
                    "in a terminal."
                ).format(var=PASSPHRASE_ENV)
            )
        return self.prompt(_("Vault passphrase: "))


def protect(
    config: Config, passphrase: str, params: KdfParams = DEFAULT_KDF, prompt: Prompt | None = None
) -> None:
    """Wrap the key file's key with ``passphrase`` (scrypt + AES-GCM), or re-wrap it.

    Only a key file can be protected: a key in the OS keyring is guarded by the login.
    """
    if len(passphrase) < 8:
        raise UsageError(_("The vault passphrase must have at least 8 characters."))
    vault = Vault.open(config, prompt=prompt)
    if vault._key.source != SOURCE_FILE:
        raise UsageError(_("This vault's key is in the OS keyring; it needs no passphrase."))
    salt = os.urandom(16)
    kdf = {"name": "scrypt", "n": params.n, "r": params.r, "p": params.p, "salt": _b64(salt)}
    wrapping = envelope.passphrase_key(passphrase, salt, params)
    sealed = envelope.seal(wrapping, envelope.VAULT_KEY, vault._key.value)
    document = {
        "format": KEY_FORMAT,
        "version": KEY_VERSION,
        "kdf": kdf,
        "nonce": _b64(sealed.nonce),
        "wrapped": _b64(sealed.ciphertext),
    }
    write_atomic(key_file_path(config), json.dumps(document).encode())
    # Rewrite the vault so that its header records the wrapping (informational, authenticated).
    vault._key = _Key(vault._key.value, SOURCE_FILE, kdf)
    vault._change(lambda entries: None)


def _kdf_params(path: Path, kdf: Any) -> tuple[KdfParams, bytes]:
    try:
        params = KdfParams(n=kdf["n"], r=kdf["r"], p=kdf["p"])
        ok = kdf["name"] == "scrypt" and all(
            isinstance(v, int) and not isinstance(v, bool) for v in (params.n, params.r, params.p)
        )
        salt = base64.b64decode(kdf["salt"], validate=True)
    except (KeyError, TypeError, binascii.Error, ValueError):
        ok, salt = False, b""
    # valid() bounds scrypt's memory: a forged key file cannot make us allocate gigabytes.
    if not ok or not params.valid() or len(salt) < 16:
        raise _damaged(path, _("its key-derivation parameters are malformed"))
    return params, salt


# --- the sync core's password -----------------------------------------------------------------


def webdav_password(
    config: Config,
    *,
    prompt: Prompt | None = None,
    backend: keyring.backend.KeyringBackend | None = None,
) -> Secret:
    """The share's password: HOSO_WEBDAV_PASSWORD, else the vault's ``webdav`` entry.

    Migration: a password file (``config.password_file``, written by an older hoso) is stored
    in the vault as ``webdav``, replacing what was there, and deleted only once that write is
    durable. No vault and no file: an empty Secret.
    """
    from_env = os.environ.get(PASSWORD_ENV)
    if from_env is not None:
        return Secret(from_env)
    legacy = read_secret_file(config.password_file)
    if not legacy:
        if not vault_path(config).exists():
            return legacy
        entry = Vault.open(config, prompt=prompt, backend=backend).get(WEBDAV)
        return entry.secret if entry is not None else Secret("")
    register_secret(legacy.reveal())
    fields = {"user": config.remote.user} if config.remote.user else {}
    vault = Vault.open(config, create=True, prompt=prompt, backend=backend)
    vault.set(WEBDAV, legacy.reveal(), fields)
    # missing_ok: the agent's two lanes may both find the file at start, and both move it.
    config.password_file.unlink(missing_ok=True)
    log.info("the share password moved from %s into the vault", config.password_file)
    return legacy


def school_folder_login(
    config: Config,
    *,
    prompt: Prompt | None = None,
    backend: keyring.backend.KeyringBackend | None = None,
) -> tuple[str, Secret]:
    """The school folder's user name and password: the vault's ``school-folder`` entry
    (fields ``user``, the password as its secret) when it has one, else the share's login
    (``[remote] user`` and :func:`webdav_password`). The one place this choice is made."""
    if vault_path(config).exists():
        try:
            entry = Vault.open(config, prompt=prompt, backend=backend).get(SCHOOL_FOLDER)
        except VaultLocked:
            if os.environ.get(PASSWORD_ENV) is None:
                raise
            entry = None  # the share's password is in the environment: its login it is
        if entry is not None:
            return entry.fields.get("user") or config.remote.user, entry.secret
    return config.remote.user, webdav_password(config, prompt=prompt, backend=backend)
