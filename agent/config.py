"""The agent's config file (TOML) turned into typed, validated settings.

One file per agent. Every key has a default (documented in config/agent.example.toml);
an unknown key, a wrong type or an impossible value raises :class:`ConfigError` naming the
file and the key, before anything is changed. Per-user paths come from platformdirs, so
XDG_CONFIG_HOME / XDG_STATE_HOME are honoured and two agents with different homes never
share state.

Secrets live in the credential vault (agent.vault), never in this file; they travel in
:class:`Secret`, whose repr is redacted.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import ipaddress
import os
import socket
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import platformdirs

from . import profilestore, roles
from .durable import write_atomic
from .errors import ConfigError
from .i18n import _
from .model import has_control, nfc
from .roles import Roles

APP = "hoso"
CONFIG_ENV = "HOSO_CONFIG"
PASSWORD_ENV = "HOSO_WEBDAV_PASSWORD"
EXAMPLE_NAME = "agent.example.toml"


class Secret:
    """A string that never shows itself in repr, str, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass(frozen=True)
class RemoteConfig:
    url: str = ""
    remote_dir: str = "/"
    user: str = ""
    ca_file: str = ""
    verify_tls: bool = True
    timeout: float = 30.0
    retries: int = 4
    atomic_uploads: str = "auto"  # auto | always | never
    trash_dir: str = ".hoso-trash"
    # http:// to a host other than this computer sends the password in clear on every request;
    # `hoso init` writes it only with --allow-insecure-http; `hoso status` warns while it is set.
    allow_insecure_http: bool = False

    def insecure_http(self) -> bool:
        """True when the share's login travels in clear over the network (http:// to a host
        that is not this computer)."""
        parts = urlsplit(self.url)
        return parts.scheme == "http" and not is_loopback(parts.hostname or "")


@dataclass(frozen=True)
class SyncConfig:
    settle_seconds: float = 2.0
    poll_interval: float = 30.0
    rescan_interval: float = 3600.0
    # Where the share cannot say cheaply what changed (plain WebDAV), every folder is listed
    # at least every walk_interval, the folders with recent activity every recent_walk_interval
    # (docs/sync.md, "How an idle agent finds changes").
    walk_interval: float = 3600.0
    recent_walk_interval: float = 300.0
    recent_days: float = 14.0
    # The first pass after start-up waits a random part of this (at most poll_interval), so
    # that the PCs of a school switched on at 7:00 do not list the share at the same second.
    start_spread: float = 30.0
    max_delete_percent: float = 50.0
    transfers: int = 4
    ignore: tuple[str, ...] = ()
    trash_days: float = 30.0  # 0 keeps everything forever
    max_listing_bytes: int = 64 * 2**20  # a longer PROPFIND answer is refused, not read
    max_entries: int = 500_000  # a share listing more files and folders is refused


@dataclass(frozen=True)
class BackupConfig:
    """``[backup]``: the encrypted backup repository and when the agent fills and trims it."""

    repository: str = ""  # a folder; empty: under the user data folder (same disk: warned)
    key_file: str = ""  # a file holding the passphrase, readable only by its owner
    schedule: str = "daily"  # hourly | daily | weekly | off
    after_changes_minutes: float = 30.0  # a backup once changes have been quiet this long; 0: off
    max_age: float = 48.0  # hours; `hoso status` warns when the last good backup is older
    keep_last: int = 10
    keep_daily: int = 14
    keep_weekly: int = 8
    keep_monthly: int = 12
    remote_copy: bool = False  # mirror the encrypted repository to the share
    remote_dir: str = ".hoso-backup"  # that mirror's folder, inside the share folder

    def repository_path(self) -> Path:
        if self.repository:
            return Path(self.repository).expanduser()
        return Path(platformdirs.user_data_dir(APP)) / "backup"


@dataclass(frozen=True)
class UiConfig:
    """The teacher's page (agent/web): served by the agent on 127.0.0.1 only."""

    enabled: bool = True
    port: int = 0  # 0: a free port, found again through <state dir>/ui.json


@dataclass(frozen=True)
class PluginsConfig:
    """``[plugins]``: the hook timeout, and one table per plugin (``[plugins.NAME]``) whose
    ``enabled`` key switches it on or off and whose other keys belong to the plugin."""

    timeout: float = 30.0
    block_sync: tuple[str, ...] = ()  # rule ids whose findings hold a record back from upload
    tables: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def enabled(self, name: str) -> bool:
        return bool(self.tables.get(name, {}).get("enabled", True))

    def settings(self, name: str) -> Mapping[str, Any]:
        """The plugin's own keys (everything in ``[plugins.NAME]`` but ``enabled``)."""
        return {k: v for k, v in self.tables.get(name, {}).items() if k != "enabled"}


@dataclass(frozen=True)
class SchoolFolderConfig:
    """``[school] folder_url``, ``folder_root``, ``profile_key``: the school-wide folder of the
    share every agent keeps beside the records folder (the profile, the handover log, the
    school's templates). ``url`` + ``remote_dir`` address it the way [remote] addresses the
    records folder."""

    url: str  # the WebDAV base the folder is under
    remote_dir: str  # the folder, unquoted, under ``url``
    root: Path  # its local copy
    profile_key: str = ""  # the pinned profile signer's fingerprint; "": trust on first use


@dataclass(frozen=True)
class Config:
    path: Path
    root: Path
    state_dir: Path
    language: str = "auto"
    host_name: str = ""
    remote: RemoteConfig = field(default_factory=RemoteConfig)
    sync: SyncConfig = field(default_factory=SyncConfig)
    plugins: PluginsConfig = field(default_factory=PluginsConfig)
    backup: BackupConfig = field(default_factory=BackupConfig)
    ui: UiConfig = field(default_factory=UiConfig)
    roles: Roles = field(default_factory=Roles)
    school_folder: SchoolFolderConfig | None = None  # None: no school folder (as before)
    # The tables of _OPEN_TABLES as written ([smtp], [inspection]…): their plugin checks them.
    open_tables: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # Where each school value comes from, with a school folder: "school.reviewers",
    # "keepers", "inspection.schedule", "types"… -> "profile" (the school profile in force)
    # or "config" (this computer's own file, which wins). Empty without a school folder.
    school_sources: Mapping[str, str] = field(default_factory=dict)

    def table(self, name: str) -> Mapping[str, Any]:
        """An open table (``[smtp]``, ``[inspection]``…), empty when the file has none."""
        return self.open_tables.get(name, {})

    @property
    def password_file(self) -> Path:
        """Where an older hoso kept the share's password; agent.vault moves it into the
        vault on first use and deletes it."""
        return self.path.with_name(self.path.stem + ".secret")


# --- schema ---------------------------------------------------------------------------------

_TOP_KEYS: dict[str, type | tuple[type, ...]] = {
    "root": str,
    "state_dir": str,
    "language": str,
    "host_name": str,
}
_TABLES: dict[str, type] = {
    "remote": RemoteConfig,
    "sync": SyncConfig,
    "backup": BackupConfig,
    "ui": UiConfig,
}
# Tables owned by later features or plugins: accepted and passed through untouched.
_OPEN_TABLES = {"smtp", "inspection", "handover", "print"}


def default_config_path() -> Path:
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env).expanduser()
    return user_config_path()


def user_config_path() -> Path:
    """The per-user config file, whatever ``$HOSO_CONFIG`` says (a desktop session, where
    nothing sets it, finds this one)."""
    return Path(platformdirs.user_config_dir(APP)) / "agent.toml"


def default_state_dir() -> Path:
    return Path(platformdirs.user_state_dir(APP))


def default_host_name() -> str:
    return socket.gethostname().split(".")[0] or "may-tinh"


def load(path: Path | None = None) -> Config:
    """Read and validate the config file; raises ConfigError with file and key named."""
    path = (path or default_config_path()).expanduser()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            _("No config file at {path}. Run `hoso init --root FOLDER --url URL` first.").format(
                path=path
            )
        ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(
            _("The config file {path} is not valid TOML: {detail}").format(path=path, detail=exc)
        ) from None
    except OSError as exc:
        raise ConfigError(
            _("Cannot read the config file {path}: {detail}").format(path=path, detail=exc.strerror)
        ) from None
    return from_dict(raw, path)


def from_dict(raw: dict[str, Any], path: Path) -> Config:
    raw, sources = _with_profile(raw)
    tables: dict[str, Any] = {}
    open_tables: dict[str, Mapping[str, Any]] = {}
    top: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _TABLES:
            if not isinstance(value, dict):
                raise _bad(path, key, _("must be a table ([{key}])").format(key=key))
            tables[key] = _build_table(path, key, _TABLES[key], value)
        elif key == "plugins":
            tables[key] = _plugins_table(path, value)
        elif key in ("school", "teacher"):
            continue  # parsed together below: reviewers may name the teacher's group
        elif key in _OPEN_TABLES:
            if not isinstance(value, dict):
                raise _bad(path, key, _("must be a table ([{key}])").format(key=key))
            open_tables[key] = value
        elif key in _TOP_KEYS:
            top[key] = _check_type(path, key, value, _TOP_KEYS[key])
        else:
            raise _bad(path, key, _("is not a known setting"))

    if "root" not in top:
        raise _bad(path, "root", _("is missing: name the records folder"))
    root = Path(top["root"]).expanduser()
    if not root.is_absolute():
        raise _bad(path, "root", _("must be an absolute path"))
    state_dir = Path(top.get("state_dir") or default_state_dir()).expanduser()
    language = top.get("language", "auto")
    if language not in ("auto", "vi", "en"):
        raise _bad(path, "language", _("must be one of auto, vi, en"))
    remote: RemoteConfig = tables.get("remote", RemoteConfig())
    sync: SyncConfig = tables.get("sync", SyncConfig())
    backup: BackupConfig = tables.get("backup", BackupConfig())
    _validate_remote(path, remote)
    sync = _walks_after_polls(sync, raw.get("sync"))
    _validate_sync(path, sync)
    _validate_backup(path, backup)
    ui: UiConfig = tables.get("ui", UiConfig())
    if not 0 <= ui.port < 65536:
        raise _bad(path, "ui.port", _("must be a port number (1–65535), or 0 for a free one"))
    school_raw, folder_raw = _split_school(path, raw.get("school"))
    parsed_roles = roles.parse(
        school_raw, raw.get("teacher"), lambda key, problem: _bad(path, key, problem)
    )
    return Config(
        path=path,
        root=root,
        state_dir=state_dir,
        language=language,
        host_name=top.get("host_name") or default_host_name(),
        remote=remote,
        sync=sync,
        plugins=tables.get("plugins", PluginsConfig()),
        backup=backup,
        ui=ui,
        roles=parsed_roles,
        school_folder=_school_folder(path, folder_raw, remote, root),
        open_tables=open_tables,
        school_sources=sources,
    )


def _with_profile(raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """``raw`` with the school profile in force merged in (agent.profilestore), when the
    config names a school folder; as it is otherwise. Mistakes of ``raw`` itself are left
    for the checks after."""
    school = raw.get("school")
    url = school.get("folder_url") if isinstance(school, dict) else None
    if not isinstance(url, str) or not url.strip():
        return raw, {}
    state = raw.get("state_dir")
    state_dir = Path(state).expanduser() if isinstance(state, str) and state else None
    # A pinned key sets aside a profile taken on first use of another (profilestore.counting).
    key = school.get("profile_key")
    pinned = (roles.key_fingerprint(key) or "") if isinstance(key, str) else ""
    return profilestore.merge(raw, profilestore.counting(state_dir or default_state_dir(), pinned))


_FOLDER_KEYS = ("folder_url", "folder_root", "profile_key")


def _split_school(path: Path, raw: Any) -> tuple[Any, dict[str, Any]]:
    """``[school]`` without the school folder's keys (roles.py parses the rest), and those."""
    if not isinstance(raw, dict):
        return raw, {}
    folder = {k: raw[k] for k in _FOLDER_KEYS if k in raw}
    for key, value in folder.items():
        _check_type(path, f"school.{key}", value, str)
    return {k: v for k, v in raw.items() if k not in _FOLDER_KEYS}, folder


def _school_folder(
    path: Path, raw: Mapping[str, str], remote: RemoteConfig, root: Path
) -> SchoolFolderConfig | None:
    url = raw.get("folder_url", "").strip()
    if not url:
        for key in ("folder_root", "profile_key"):
            if raw.get(key, "").strip():
                raise _bad(path, f"school.{key}", _("needs school.folder_url: set both"))
        return None
    if has_control(url) or "\\" in url:
        raise _bad(path, "school.folder_url", _("holds a control character: type it again"))
    parts = urlsplit(url)
    if parts.scheme:
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise _bad(path, "school.folder_url", _folder_url_problem())
        if parts.username or parts.password:
            raise _bad(path, "school.folder_url", _("must not contain a user name or password"))
        base, folder = f"{parts.scheme}://{parts.netloc}/", unquote(parts.path)
    elif url.startswith("/"):  # a path on the share's server
        origin = urlsplit(remote.url)
        base, folder = f"{origin.scheme}://{origin.netloc}/", unquote(url)
    else:  # a folder under the share's address, e.g. a Nextcloud group folder in each user's files
        base, folder = remote.url, url
    segments = [s for s in folder.split("/") if s]
    if not segments or any(s in (".", "..") for s in segments):
        raise _bad(path, "school.folder_url", _folder_url_problem())
    local = raw.get("folder_root", "").strip()
    # The default is named after the school folder on the share, never after a value the
    # school profile may change: the local copy must not move when a profile arrives.
    folder_root = Path(local).expanduser() if local else _default_folder_root(root, segments[-1])
    if not folder_root.is_absolute():
        raise _bad(path, "school.folder_root", _("must be an absolute path"))
    if _nested(folder_root, root) or _nested(root, folder_root):
        raise _bad(
            path,
            "school.folder_root",
            _("must be beside the records folder, neither inside it nor holding it"),
        )
    key = raw.get("profile_key", "").strip()
    fingerprint = roles.key_fingerprint(key) if key else ""
    if fingerprint is None:
        raise _bad(
            path,
            "school.profile_key",
            _(
                "must be a key fingerprint as `hoso school sign` prints it, "
                'e.g. "ABCD-EFGH-IJKL-MNOP"'
            ),
        )
    return SchoolFolderConfig(base, "/".join(segments), folder_root, fingerprint)


def _folder_url_problem() -> str:
    return _(
        "must be the school folder's WebDAV address (https://…), a path on the share's server "
        "(/…), or a folder under the share's address (e.g. the Nextcloud group folder's name)"
    )


def _nested(inner: Path, outer: Path) -> bool:
    """``inner`` is ``outer`` or below it, letter case aside (FAT/exFAT drives and macOS
    ignore it: "hoso" there is the records folder "HoSo")."""
    inner_parts = [p.casefold() for p in inner.parts]
    outer_parts = [p.casefold() for p in outer.parts]
    return inner_parts[: len(outer_parts)] == outer_parts


def _default_folder_root(root: Path, share_name: str) -> Path:
    """Beside the records folder, named like the school folder on the share; never the
    records folder's own name (in any letter case)."""
    name = _folder_name(share_name)
    if name.casefold() == root.name.casefold():
        name = f"{name} (trường)"
    return root.parent / name


def _folder_name(share_name: str) -> str:
    """The default local school folder's name: the share folder's, made a safe folder name."""
    name = " ".join(share_name.replace("\\", " ").split()).strip(". ")
    return nfc(name) if name and not has_control(name) else "Trường"


def _plugins_table(path: Path, raw: Any) -> PluginsConfig:
    if not isinstance(raw, dict):
        raise _bad(path, "plugins", _("must be a table ([{key}])").format(key="plugins"))
    timeout = 30.0
    block_sync: tuple[str, ...] = ()
    tables: dict[str, Mapping[str, Any]] = {}
    for key, value in raw.items():
        if isinstance(value, dict):
            enabled = value.get("enabled", True)
            if not isinstance(enabled, bool):
                raise _bad(path, f"plugins.{key}.enabled", _("must be true or false"))
            tables[key] = value
        elif key == "timeout":
            timeout = float(_check_type(path, "plugins.timeout", value, (int, float)))
            if timeout <= 0:
                raise _bad(path, "plugins.timeout", _("must be greater than 0"))
        elif key == "block_sync":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise _bad(path, "plugins.block_sync", _("must be a list of strings"))
            block_sync = tuple(value)
        else:
            raise _bad(path, f"plugins.{key}", _("is not a known setting"))
    return PluginsConfig(timeout=timeout, block_sync=block_sync, tables=tables)


def _build_table(path: Path, table: str, cls: type, values: dict[str, Any]) -> Any:
    defaults = cls()
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{table}.{key}"
        if not hasattr(defaults, key):
            raise _bad(path, name, _("is not a known setting"))
        default = getattr(defaults, key)
        if isinstance(default, tuple):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise _bad(path, name, _("must be a list of strings"))
            value = tuple(value)
        elif isinstance(default, bool):
            value = _check_type(path, name, value, bool)
        elif isinstance(default, float):
            value = float(_check_type(path, name, value, (int, float)))
        else:
            value = _check_type(path, name, value, type(default))
        kwargs[key] = value
    return cls(**kwargs)


def _check_type(path: Path, key: str, value: Any, expected: type | tuple[type, ...]) -> Any:
    # bool is an int in Python; a number where a bool is wanted (or the reverse) is a mistake.
    is_bool = isinstance(value, bool)
    wants_bool = expected is bool or (isinstance(expected, tuple) and bool in expected)
    if not isinstance(value, expected) or (is_bool and not wants_bool):
        names = expected if isinstance(expected, tuple) else (expected,)
        words = {str: _("text"), int: _("a number"), float: _("a number"), bool: _("true or false")}
        kind = " / ".join(dict.fromkeys(words.get(t, t.__name__) for t in names))
        raise _bad(path, key, _("must be {kind}").format(kind=kind))
    return value


def _validate_remote(path: Path, remote: RemoteConfig) -> None:
    parts = urlsplit(remote.url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _bad(path, "remote.url", _("must be an http:// or https:// address of the share"))
    if parts.username or parts.password:
        raise _bad(path, "remote.url", _("must not contain a user name or password"))
    if remote.atomic_uploads not in ("auto", "always", "never"):
        raise _bad(path, "remote.atomic_uploads", _("must be one of auto, always, never"))
    if remote.timeout <= 0:
        raise _bad(path, "remote.timeout", _("must be greater than 0"))
    if remote.retries < 0:
        raise _bad(path, "remote.retries", _("must be 0 or more"))
    if remote.ca_file and not Path(remote.ca_file).expanduser().is_file():
        raise _bad(path, "remote.ca_file", _("names a file that does not exist"))
    if not remote.trash_dir or "/" in remote.trash_dir.strip("/"):
        raise _bad(path, "remote.trash_dir", _("must be a single folder name"))


def _walks_after_polls(sync: SyncConfig, given: object) -> SyncConfig:
    """The walk intervals the config leaves out are at least its poll interval: a config that
    only polls rarely (poll_interval = 3600) stays valid."""
    given = given if isinstance(given, dict) else {}
    recent = sync.recent_walk_interval
    if "recent_walk_interval" not in given:
        recent = max(recent, sync.poll_interval)
    walk = sync.walk_interval if "walk_interval" in given else max(sync.walk_interval, recent)
    return dataclasses.replace(sync, recent_walk_interval=recent, walk_interval=walk)


def _validate_sync(path: Path, sync: SyncConfig) -> None:
    for key in ("settle_seconds", "poll_interval", "rescan_interval", "trash_days", "start_spread"):
        if getattr(sync, key) < 0:
            raise _bad(path, f"sync.{key}", _("must be 0 or more"))
    for key in ("walk_interval", "recent_walk_interval", "recent_days"):
        if getattr(sync, key) <= 0:
            raise _bad(path, f"sync.{key}", _("must be greater than 0"))
    if sync.recent_walk_interval < sync.poll_interval:
        raise _bad(
            path,
            "sync.recent_walk_interval",
            _("must be at least poll_interval ({seconds:g} s)").format(seconds=sync.poll_interval),
        )
    if sync.walk_interval < sync.recent_walk_interval:
        raise _bad(
            path,
            "sync.walk_interval",
            _("must be at least recent_walk_interval ({seconds:g} s)").format(
                seconds=sync.recent_walk_interval
            ),
        )
    if not 0 < sync.max_delete_percent <= 100:
        raise _bad(path, "sync.max_delete_percent", _("must be more than 0 and at most 100"))
    if not 1 <= sync.transfers <= 32:
        raise _bad(path, "sync.transfers", _("must be between 1 and 32"))
    if not 2**20 <= sync.max_listing_bytes <= 2**31:
        limits = _("must be between 1048576 (1 MiB) and 2147483648 (2 GiB)")
        raise _bad(path, "sync.max_listing_bytes", limits)
    if not 1000 <= sync.max_entries <= 10_000_000:
        raise _bad(path, "sync.max_entries", _("must be between 1000 and 10000000"))


BACKUP_SCHEDULES = {"hourly": 3600.0, "daily": 86400.0, "weekly": 7 * 86400.0, "off": 0.0}


def _validate_backup(path: Path, backup: BackupConfig) -> None:
    if backup.schedule not in BACKUP_SCHEDULES:
        raise _bad(path, "backup.schedule", _("must be one of hourly, daily, weekly, off"))
    for key in ("after_changes_minutes", "max_age"):
        if getattr(backup, key) < 0:
            raise _bad(path, f"backup.{key}", _("must be 0 or more"))
    for key in ("keep_last", "keep_daily", "keep_weekly", "keep_monthly"):
        if getattr(backup, key) < 0:
            raise _bad(path, f"backup.{key}", _("must be 0 or more"))
    if backup.repository and not Path(backup.repository).expanduser().is_absolute():
        raise _bad(path, "backup.repository", _("must be an absolute path"))
    if not backup.remote_dir or "/" in backup.remote_dir.strip("/"):
        raise _bad(path, "backup.remote_dir", _("must be a single folder name"))


def setting_error(path: Path, key: str, problem: str) -> ConfigError:
    """The one message for a wrong setting of ``path`` (the config, or the school profile)."""
    return ConfigError(
        _("Config file {path}, setting `{key}`: {problem}.").format(
            path=path, key=key, problem=problem
        )
    )


_bad = setting_error


# --- secrets on disk ------------------------------------------------------------------------


def read_secret_file(path: Path) -> Secret:
    try:
        st = path.stat()
    except FileNotFoundError:
        return Secret("")
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            _(
                "The password file {path} can be read by other users. "
                "Run `chmod 600 {path}` and try again."
            ).format(path=path)
        )
    return Secret(path.read_text(encoding="utf-8").rstrip("\n"))


def write_private(path: Path, text: str) -> None:
    """Write a text file readable only by its owner, atomically and durably."""
    write_atomic(path, text.encode("utf-8"))


def render(
    root: Path,
    url: str,
    remote_dir: str,
    user: str,
    state_dir: str = "",
    language: str = "",
    *,
    allow_insecure_http: bool = False,
    ca_file: str = "",
    school_key: str = "",
    school_url: str = "",
) -> str:
    """The config file `hoso init` writes: the given values, every other key at its default.
    ``language`` pins the language chosen at init, so that a service started without the
    teacher's locale still speaks Vietnamese."""

    def q(value: str) -> str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    example = shipped_file(EXAMPLE_NAME)
    # The path goes into a TOML comment: a newline in it would end the comment.
    where = str(example) if example and str(example).isprintable() else f"config/{EXAMPLE_NAME}"
    lines = [
        f"# hoso agent config. Every key, its default and what it is for: {where}",
        f"root = {q(str(root))}",
    ]
    if state_dir:
        lines.append(f"state_dir = {q(state_dir)}")
    if language:
        lines.append(f"language = {q(language)}")
    lines += ["", "[remote]", f"url = {q(url)}", f"remote_dir = {q(remote_dir)}"]
    if user:
        lines.append(f"user = {q(user)}")
    if allow_insecure_http:
        lines.append("allow_insecure_http = true")
    if ca_file:
        lines.append(f"ca_file = {q(ca_file)}")
    school = [f"folder_url = {q(school_url)}"] if school_url else []
    school += [f"profile_key = {q(school_key)}"] if school_key else []
    if school:
        lines += ["", "[school]", *school]
    return "\n".join(lines) + "\n"


def shipped_file(name: str) -> Path | None:
    """A file of hoso's config/ folder: the source checkout's copy, else the one pip installed
    (pyproject's data-files put it in <prefix>/share/hoso/); None when neither exists."""
    beside_source = Path(__file__).resolve().parent.parent / "config" / name
    if beside_source.is_file():
        return beside_source
    try:
        installed = importlib.metadata.files(APP) or []
    except importlib.metadata.PackageNotFoundError:
        installed = []
    for entry in installed:
        if entry.name == name and entry.parent.name == APP:
            found = Path(str(entry.locate())).resolve()
            if found.is_file():
                return found
    return None


def is_loopback(host: str) -> bool:
    """True for a name or address of this computer (localhost, 127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
