"""The agent's public face for plugins: everything a plugin may use, in one module.

A plugin imports only this module and :mod:`agent.hooks` (``hookimpl`` and the hook argument
types); a test over the import graph keeps it so, and one more keeps plugins from importing
each other. What is here stays: a name is removed or changed only with a note in
docs/plugins.md, which documents each one with an example.

The names come in two kinds:

- **Types and pure helpers** (config, records, findings, paths, errors, translation, school
  weeks, the document model), imported with this module.
- **Services** (the vault, the validator, a backup, a plugin's own storage, durable writes,
  reading documents, Word pages), which load what they need when first called, so that a
  plugin's ``import agent.api`` does not pull python-docx, lxml or the crypto stack into
  every ``hoso`` start. The heavy classes among them (``Vault``, ``Validator``, ``Storage``…)
  are resolved on first use too (:func:`__getattr__`).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import Config, Secret, is_loopback, user_config_path, write_private
from .conflictname import CopyKind, copy_kind, is_conflict_copy, original_name
from .desktopopen import OPENABLE_SUFFIXES, open_record
from .desktopopen import open_target as open_on_desktop
from .display import printable, printable_name
from .documents.model import (
    READABLE_SUFFIXES,
    Block,
    Document,
    Legacy,
    Limit,
    TooComplex,
    Unreadable,
    UnreadableReason,
)
from .documents.sandbox import (
    DEFAULT_LIMITS,
    MIB,
    Analysis,
    DocumentSandbox,
    Limits,
    ReaderUnavailable,
)
from .documents.sandbox import shared as document_sandbox
from .durable import create_new, fsync_dir, fsync_file, rename_no_replace, write_atomic
from .errors import (
    AuthError,
    CannotOpen,
    ConfigError,
    ExitCode,
    HosoError,
    SafetyStop,
    Scope,
    UnreachableError,
    UsageError,
)
from .hooks import Job, JobContext, Notification
from .i18n import _, current_language, detect_language, language, ngettext
from .lazycommand import LazyCommand
from .local import ignore_rules, literal_pattern
from .model import RelPath, Report, as_date, has_control, is_within, nfc
from .office import (
    ConversionFailure,
    ConverterMissing,
    Office,
    converted_pdf,
    converter_version,
    find_soffice,
    is_pdf,
    office_profile,
    terminate_as_interrupt,
)
from .records import (
    Finding,
    Record,
    RecordType,
    Severity,
    classify,
    merge_types,
    record_type_from_dict,
)
from .recordtypes import load_types_file, shipped_types_file, with_shipped
from .roles import key_fingerprint
from .textfold import fold, natural_key, strip_accents
from .webpage import WebCard, WebFile, WebPage, WebRedirect, WebRequest, WebTask, WebView
from .weeks import (
    FIRST_WEEK,
    LAST_WEEK,
    default_year_start,
    school_week,
    week_dates,
    week_of_path,
)

if TYPE_CHECKING:
    from .context import Ctx, pass_ctx
    from .documents.legacy import convert_docx
    from .documents.readers import read_document
    from .docx_layout import a4_page, save_new, use_font, vietnamese_defaults
    from .envelope import (
        HANDOVER_BUNDLE,
        Sealed,
        SealingKey,
        cannot_open,
        derive_key,
        open_sealed,
        seal,
    )
    from .storage import Database, Migration, Storage, StorageError
    from .validation import CheckResult, Validator, open_validator
    from .vault import Prompt, Vault, VaultEntry, VaultLocked, VaultMissing, terminal_prompt

# Heavy names, imported from their module on first use: name -> module.
_LAZY = {
    "read_document": "agent.documents.readers",
    "convert_docx": "agent.documents.legacy",
    "a4_page": "agent.docx_layout",
    "save_new": "agent.docx_layout",
    "Ctx": "agent.context",
    "pass_ctx": "agent.context",
    "HANDOVER_BUNDLE": "agent.envelope",
    "Sealed": "agent.envelope",
    "SealingKey": "agent.envelope",
    "cannot_open": "agent.envelope",
    "derive_key": "agent.envelope",
    "open_sealed": "agent.envelope",
    "seal": "agent.envelope",
    "use_font": "agent.docx_layout",
    "vietnamese_defaults": "agent.docx_layout",
    "Database": "agent.storage",
    "Migration": "agent.storage",
    "Storage": "agent.storage",
    "StorageError": "agent.storage",
    "CheckResult": "agent.validation",
    "Validator": "agent.validation",
    "open_validator": "agent.validation",
    "Vault": "agent.vault",
    "VaultEntry": "agent.vault",
    "VaultLocked": "agent.vault",
    "VaultMissing": "agent.vault",
    "terminal_prompt": "agent.vault",
}


def __getattr__(name: str) -> Any:
    """PEP 562: the heavy names of :data:`_LAZY`, imported when first asked for."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


# --- services ----------------------------------------------------------------------------------


def open_vault(config: Config, *, prompt: Prompt | None = None) -> Vault:
    """The teacher's vault (``hoso vault``), unlocked; ``prompt`` asks for its passphrase when
    the system keyring holds no key (``terminal_prompt()`` on a terminal, None elsewhere).
    Raises VaultMissing when there is none yet, VaultLocked when it cannot be unlocked."""
    from .vault import Vault

    return Vault.open(config, prompt=prompt)


def vault_entry(config: Config, name: str, *, prompt: Prompt | None = None) -> VaultEntry | None:
    """The vault entry ``name`` (``"smtp"``, ``"school-mailbox"``…), None when the vault
    does not hold it. ``entry.secret`` is a :class:`Secret`; ``entry.fields`` its fields."""
    return open_vault(config, prompt=prompt).get(name)


def back_up_now(
    config: Config, *, tags: Sequence[str] = (), prompt: Prompt | None = None
) -> str | None:
    """Take a backup snapshot of the records folder now (before a step that cannot be undone)
    and return its id; None when this computer has no backup repository. The passphrase
    comes as for ``hoso backup create`` (``prompt`` on a terminal)."""
    if not (config.backup.repository_path() / "config").exists():
        return None
    # The backup machinery loads only on a computer that has a repository.
    from .backup.service import backup, open_repository, passphrase

    repo = open_repository(config, passphrase(config, prompt=prompt))
    return backup(config, repo, tags=tuple(tags)).snapshot


def storage(config: Config, plugin: str, migrations: Sequence[Migration]) -> Storage:
    """The plugin's own SQLite database (``<state dir>/plugins/<plugin>.sqlite3``, 0600),
    created on first use, with ``migrations`` applied: migration *n* (0-based) turns a
    version-*n* file into version *n+1*; append to the list, never edit one. Close it when
    done (or use ``with``)."""
    from .storage import open_storage

    return open_storage(config.state_dir, plugin, migrations)


def agent_running(config: Config) -> bool:
    """Whether a hoso agent (``hoso run``) holds this config's state folder now, or a command
    doing a sync itself: then leave the writing to it (the search index, for one)."""
    from .lock import held_elsewhere

    return held_elsewhere(config.state_dir)


def school_folder(config: Config) -> Path | None:
    """The local copy of the school-wide folder every agent keeps (``[school] folder_url``),
    or None when this computer has none. The agent syncs it; a plugin writes school-wide
    files there (the handover log, evidence of submissions) and reads the school's own
    (templates in ``Biểu mẫu/``). The folder may not exist yet before its first sync."""
    folder = config.school_folder
    return folder.root if folder is not None else None


def on_school_share(config: Config, relpath: RelPath, sha256: str) -> bool:
    """Whether the school folder's file ``relpath`` (relative to :func:`school_folder`) is on
    the share with the bytes whose hex SHA-256 is ``sha256``, as the school folder's last
    sync recorded it (an upload the share refused, or one not confirmed yet, is not). Read
    only; False without a school folder. Check it before removing any other copy of what you
    wrote there: a file on this computer alone is one disk away from being lost."""
    from . import schoolfolder
    from .journal import synced_sha256

    if config.school_folder is None:
        return False
    journal = config.state_dir / schoolfolder.STATE_SUBDIR / "journal.sqlite3"
    return synced_sha256(journal, nfc(relpath)) == sha256


def trash_moved_file(config: Config, path: Path, *, sha256: str) -> RelPath:
    """Take a records-folder file that your plugin has copied elsewhere (the school folder)
    and checked out of the records folder: it goes into hoso's local trash, listed by `hoso
    trash list` and brought back by `hoso trash restore`, and the next sync pass removes it
    from the share (into the share's trash). ``sha256`` is the hex SHA-256 of the bytes you
    copied: a file that changed since is left where it is, as is anything but a regular file
    inside the records folder reached without a symlink (a HosoError saying so; nothing
    moved). Returns its records path."""
    from .journal import Journal
    from .trash import trash_moved_file as move

    with Journal.open(config.state_dir / "journal.sqlite3") as journal:
        return move(config, journal, path, sha256=sha256)


def school_year_start(validator: Validator, today: date) -> date:
    """The Monday of school week 1 of the school year holding ``today``: a plugin's setting
    when one answers ``hoso_school_year_start`` (validation's ``year_start``), else the week
    of 5 September."""
    return validator.host.school_year_start(today) or default_year_start(today)


def record_date(validator: Validator, record: Record, year_start: date) -> date | None:
    """The day a record is about, read from its content by a plugin that knows its type (a
    lesson plan's teaching day: ``hoso_record_date``); None when no plugin can tell."""
    return validator.host.record_date(record, year_start)


__all__ = [
    "Analysis",
    "AuthError",
    "Block",
    "CannotOpen",
    "CheckResult",
    "Config",
    "ConfigError",
    "ConversionFailure",
    "ConverterMissing",
    "CopyKind",
    "Ctx",
    "DEFAULT_LIMITS",
    "Database",
    "Document",
    "DocumentSandbox",
    "ExitCode",
    "FIRST_WEEK",
    "Finding",
    "HANDOVER_BUNDLE",
    "HosoError",
    "Job",
    "JobContext",
    "LAST_WEEK",
    "LazyCommand",
    "Legacy",
    "Limit",
    "Limits",
    "MIB",
    "OPENABLE_SUFFIXES",
    "Migration",
    "Notification",
    "Office",
    "READABLE_SUFFIXES",
    "ReaderUnavailable",
    "Record",
    "RecordType",
    "RelPath",
    "Report",
    "SafetyStop",
    "Scope",
    "Sealed",
    "SealingKey",
    "Secret",
    "Severity",
    "Storage",
    "StorageError",
    "TooComplex",
    "UnreachableError",
    "Unreadable",
    "UnreadableReason",
    "UsageError",
    "Validator",
    "Vault",
    "VaultEntry",
    "VaultLocked",
    "VaultMissing",
    "WebCard",
    "WebFile",
    "WebPage",
    "WebRedirect",
    "WebRequest",
    "WebTask",
    "WebView",
    "_",
    "a4_page",
    "agent_running",
    "as_date",
    "back_up_now",
    "cannot_open",
    "classify",
    "convert_docx",
    "converted_pdf",
    "converter_version",
    "copy_kind",
    "create_new",
    "current_language",
    "default_year_start",
    "derive_key",
    "detect_language",
    "document_sandbox",
    "find_soffice",
    "fold",
    "fsync_dir",
    "fsync_file",
    "has_control",
    "ignore_rules",
    "is_conflict_copy",
    "is_loopback",
    "is_pdf",
    "is_within",
    "key_fingerprint",
    "language",
    "literal_pattern",
    "load_types_file",
    "merge_types",
    "natural_key",
    "nfc",
    "on_school_share",
    "ngettext",
    "office_profile",
    "open_on_desktop",
    "open_record",
    "open_sealed",
    "open_validator",
    "open_vault",
    "original_name",
    "pass_ctx",
    "printable",
    "printable_name",
    "read_document",
    "record_date",
    "record_type_from_dict",
    "rename_no_replace",
    "save_new",
    "school_folder",
    "school_week",
    "school_year_start",
    "seal",
    "shipped_types_file",
    "storage",
    "strip_accents",
    "terminal_prompt",
    "terminate_as_interrupt",
    "trash_moved_file",
    "use_font",
    "user_config_path",
    "vault_entry",
    "vietnamese_defaults",
    "week_dates",
    "week_of_path",
    "with_shipped",
    "write_atomic",
    "write_private",
]
