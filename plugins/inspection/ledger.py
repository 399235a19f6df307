"""The ledger of inspection emails, in the plugin's own storage (:func:`agent.api.storage`).

One row per message: who accepted it, what it carried, where its evidence copy is. A row is
written before the message's first try and updated after each step, so a run that stops at
any point is finished by the next one without sending anything twice. Journals of schema 3
and 4 held this table; its rows move here on the first open.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Any

from agent.api import Config, Database, Storage, storage

NAME = "inspection"
_JSON = ("recipients", "accepted", "refused", "files")


@dataclass(frozen=True)
class SentMessage:
    """One inspection email in the ledger."""

    message_id: str
    package: str  # the submission it belongs to (a digest of sender, recipients and files)
    part: int
    parts: int
    label: str  # the period, as in the subject
    date: str  # the Date header
    subject: str
    sender: str
    recipients: tuple[str, ...]  # every intended recipient
    accepted: Mapping[str, str]  # recipient -> when the server took it (ISO 8601)
    refused: Mapping[str, str]  # recipient -> the server's last refusal
    reply: str  # the server's reply to the end of DATA
    files: tuple[Mapping[str, Any], ...]  # {"name", "path", "size", "sha256"}
    # the evidence copy, relative to the records root; its full path when it went to the
    # school folder (evidence_in = "school"); "" before it is written
    eml: str
    outbox: str  # the exact bytes to send, in the state folder
    sent_copy: bool  # appended to the sender's Sent folder over IMAP
    created: float

    @property
    def complete(self) -> bool:
        return all(r in self.accepted for r in self.recipients)

    def to_json(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "part": self.part,
            "parts": self.parts,
            "date": self.date,
            "subject": self.subject,
            "recipients": list(self.recipients),
            "accepted": dict(self.accepted),
            "refused": dict(self.refused),
            "reply": self.reply,
            "eml": self.eml,
            "sent_copy": self.sent_copy,
            "files": [dict(f) for f in self.files],
        }


def _v1(db: Database) -> None:
    """The ledger, with the columns the journal's table had (schema 3), so its rows move as
    they are."""
    db.table("sent_messages").create(
        {
            "message_id": str,
            "package": str,
            "part": int,
            "parts": int,
            "label": str,
            "date": str,
            "subject": str,
            "sender": str,
            "recipients": str,  # JSON lists and objects, see SentMessage
            "accepted": str,
            "refused": str,
            "reply": str,
            "files": str,
            "eml": str,
            "outbox": str,
            "sent_copy": int,
            "created": float,
        },
        pk="message_id",
    )
    db.table("sent_messages").create_index(["package"])


# MIGRATIONS[n] turns a version-n ledger into version n+1. Append only; never edit one.
MIGRATIONS = (_v1,)


class Ledger:
    """Open with :meth:`Ledger.open` (or ``with Ledger.opened(config) as ledger``)."""

    def __init__(self, store: Storage) -> None:
        self._store = store

    @classmethod
    def open(cls, config: Config) -> Ledger:
        return cls(storage(config, NAME, MIGRATIONS))

    @classmethod
    @contextmanager
    def opened(cls, config: Config) -> Iterator[Ledger]:
        ledger = cls.open(config)
        try:
            yield ledger
        finally:
            ledger.close()

    def put_sent_messages(self, messages: Iterable[SentMessage]) -> None:
        """Store (or replace) messages of the ledger, all in one transaction."""
        rows = []
        for message in messages:
            row = {f.name: getattr(message, f.name) for f in fields(SentMessage)}
            for key in _JSON:
                row[key] = json.dumps(row[key], ensure_ascii=False)
            row["sent_copy"] = int(message.sent_copy)
            rows.append(row)
        with self._store.transaction() as db:
            db.table("sent_messages").insert_all(rows, replace=True)

    def sent_messages(self, package: str | None = None) -> list[SentMessage]:
        """The ledger, oldest first (one package's messages when ``package`` is given)."""
        where, args = ("WHERE package = ?", (package,)) if package else ("", ())
        names = [f.name for f in fields(SentMessage)]
        with self._store.reading() as db:
            rows = db.execute(
                f"SELECT {', '.join(names)} FROM sent_messages {where} ORDER BY created, part",
                args,
            ).fetchall()
        found = []
        for row in rows:
            values = dict(zip(names, row, strict=True))
            for key in _JSON:
                values[key] = json.loads(values[key])
            values["recipients"] = tuple(values["recipients"])
            values["files"] = tuple(values["files"])
            values["sent_copy"] = bool(values["sent_copy"])
            found.append(SentMessage(**values))
        return found

    def close(self) -> None:
        self._store.close()


def history(config: Config) -> list[list[SentMessage]]:
    """The submissions, oldest first, each a list of its messages."""
    with Ledger.opened(config) as ledger:
        packages: dict[str, list[SentMessage]] = {}
        for message in ledger.sent_messages():
            packages.setdefault(message.package, []).append(message)
    return list(packages.values())
