"""Who holds which role at the school: the config's ``[school]`` and ``[teacher]`` tables.

Letter 2174 has the principal assign, at the start of the year, the keeper of the school
mailbox and the managers who review lesson plans (L7). Inspection packaging and the mailbox
handover read those roles from here. Parsing only: every key is checked, and a mistake names
the key (through the ``bad`` callback the config module passes in).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from .errors import ConfigError
from .i18n import _
from .model import as_date, has_control, nfc

Bad = Callable[[str, str], ConfigError]

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_FINGERPRINT = re.compile(r"[A-Z2-7]{16}")


def key_fingerprint(text: str) -> str | None:
    """``text`` as a handover key fingerprint ``XXXX-XXXX-XXXX-XXXX`` (spaces, dashes and case
    as people retype them), or None when it is not one."""
    body = "".join(text.split()).replace("-", "").upper()
    if not _FINGERPRINT.fullmatch(body):
        return None
    return "-".join(body[i : i + 4] for i in range(0, 16, 4))


def public_key_fingerprint(public: bytes) -> str:
    """The fingerprint of a raw public key (the school profile's signing key):
    ``XXXX-XXXX-XXXX-XXXX``, 80 bits of SHA-256 in base32, to compare aloud."""
    digest = base64.b32encode(hashlib.sha256(public).digest()).decode("ascii")
    return "-".join(digest[i : i + 4] for i in range(0, 16, 4))


@dataclass(frozen=True)
class Person:
    name: str
    position: str = ""
    email: str = ""

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "position": self.position, "email": self.email}


@dataclass(frozen=True)
class Decision:
    """The principal's assignment decision ("Quyết định phân công"): number and date."""

    number: str
    date: date

    def to_json(self) -> dict[str, str]:
        return {"number": self.number, "date": self.date.isoformat()}


@dataclass(frozen=True)
class Reviewer(Person):
    """A manager who reviews lesson plans: of whole groups (tổ) and/or of named teachers."""

    groups: tuple[str, ...] = ()
    teachers: tuple[str, ...] = ()

    def reviews(self, teacher: str, group: str) -> bool:
        return teacher in self.teachers or (bool(group) and group in self.groups)

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "groups": list(self.groups), "teachers": list(self.teachers)}


@dataclass(frozen=True)
class Keeper:
    """A key the school trusts to sign its mailbox handover log: a keeper's name and the
    fingerprint of their handover key (``hoso handover keygen``), pinned by the admin."""

    name: str
    key: str  # the fingerprint, XXXX-XXXX-XXXX-XXXX

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "key": self.key}


@dataclass(frozen=True)
class School:
    name: str = ""
    governing_body: str = ""  # "Phòng GD&ĐT huyện …", the first line of official minutes
    mailbox: str = ""  # the school's official mailbox
    principal: Person | None = None
    decision: Decision | None = None
    mailbox_keeper: Person | None = None
    reviewers: tuple[Reviewer, ...] = ()
    keepers: tuple[Keeper, ...] = ()
    # Each teacher's login (their folder's name on the share) and full name, for managers'
    # reports: a manager's computer knows no other teacher's [teacher] name.
    teachers: tuple[tuple[str, str], ...] = ()

    def teacher_name(self, login: str) -> str:
        """The full name of the teacher whose login (or share folder) is ``login``, or
        ``login`` itself when the config does not say."""
        wanted = nfc(login).casefold()
        return next((name for key, name in self.teachers if key.casefold() == wanted), login)


@dataclass(frozen=True)
class Teacher:
    name: str = ""
    email: str = ""
    group: str = ""  # the professional group (tổ chuyên môn)


@dataclass(frozen=True)
class Roles:
    school: School = School()
    teacher: Teacher = Teacher()

    def my_reviewers(self) -> tuple[Reviewer, ...]:
        """The managers who review this teacher's lesson plans."""
        return tuple(
            r for r in self.school.reviewers if r.reviews(self.teacher.name, self.teacher.group)
        )

    def manager(self) -> Person | None:
        """This computer's person when they review other teachers' lesson plans: the
        reviewer or the principal whose name is the ``[teacher]`` name; None on a teacher's
        computer. A manager's agent keeps a copy of the teachers' folders (the whole share, or
        the groups they review) as its records folder."""
        mine = _same_name(self.teacher.name)
        if not mine:
            return None
        people: list[Person] = [*self.school.reviewers]
        if self.school.principal is not None:
            people.append(self.school.principal)
        return next((p for p in people if _same_name(p.name) == mine), None)

    def to_json(self) -> dict[str, Any]:
        school = self.school
        return {
            "school": {
                "name": school.name,
                "governing_body": school.governing_body,
                "mailbox": school.mailbox,
                "principal": school.principal.to_json() if school.principal else None,
                "decision": school.decision.to_json() if school.decision else None,
                "mailbox_keeper": school.mailbox_keeper.to_json()
                if school.mailbox_keeper
                else None,
                "reviewers": [r.to_json() for r in school.reviewers],
                "keepers": [k.to_json() for k in school.keepers],
                "teachers": dict(school.teachers),
            },
            "teacher": {
                "name": self.teacher.name,
                "email": self.teacher.email,
                "group": self.teacher.group,
            },
            "my_reviewers": [r.to_json() for r in self.my_reviewers()],
        }


def _same_name(name: str) -> str:
    """A person's name as compared: NFC, one case, single spaces ("Lê  Văn Cường" typed twice
    the same)."""
    return " ".join(nfc(name).casefold().split())


def parse(school: Any, teacher: Any, bad: Bad) -> Roles:
    return Roles(_school(school, bad), _teacher(teacher, bad))


def _table(raw: Any, key: str, bad: Bad) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise bad(key, _("must be a table ([{key}])").format(key=key))
    return raw


def _only(raw: dict[str, Any], key: str, known: set[str], bad: Bad) -> None:
    for name in raw:
        if name not in known:
            raise bad(f"{key}.{name}", _("is not a known setting"))


def _text(raw: dict[str, Any], key: str, name: str, bad: Bad, *, email: bool = False) -> str:
    value = raw.get(name, "")
    if not isinstance(value, str):
        raise bad(f"{key}.{name}", _("must be text"))
    value = value.strip()
    if has_control(value):
        raise bad(
            f"{key}.{name}",
            _("holds a control character (such as ESC or a line break): type it again"),
        )
    if email and value and not _EMAIL.fullmatch(value):
        raise bad(f"{key}.{name}", _("must be an email address such as ten@truong.edu.vn"))
    return value


def _texts(raw: dict[str, Any], key: str, name: str, bad: Bad) -> tuple[str, ...]:
    value = raw.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise bad(f"{key}.{name}", _("must be a list of strings"))
    return tuple(v.strip() for v in value)


def _person(raw: Any, key: str, bad: Bad, extra: frozenset[str] = frozenset()) -> dict[str, Any]:
    table = _table(raw, key, bad)
    _only(table, key, {"name", "position", "email", *extra}, bad)
    if not _text(table, key, "name", bad):
        raise bad(f"{key}.name", _("is missing: give the person's full name"))
    return {
        "name": _text(table, key, "name", bad),
        "position": _text(table, key, "position", bad),
        "email": _text(table, key, "email", bad, email=True),
    }


def _school(raw: Any, bad: Bad) -> School:
    table = _table(raw, "school", bad)
    known = {"name", "governing_body", "mailbox", "principal", "decision", "mailbox_keeper"}
    _only(table, "school", known | {"reviewers", "keepers", "teachers"}, bad)
    decision = None
    if "decision" in table:
        found = _table(table["decision"], "school.decision", bad)
        _only(found, "school.decision", {"number", "date"}, bad)
        number = _text(found, "school.decision", "number", bad)
        when = as_date(found.get("date"))
        if not number or when is None:
            raise bad(
                "school.decision",
                _('must give number and date, e.g. { number = "15/QĐ-TH", date = 2026-09-05 }'),
            )
        decision = Decision(number, when)
    reviewers = table.get("reviewers", [])
    if not isinstance(reviewers, list):
        raise bad("school.reviewers", _("must be a list of tables ([[school.reviewers]])"))
    return School(
        name=_text(table, "school", "name", bad),
        governing_body=_text(table, "school", "governing_body", bad),
        mailbox=_text(table, "school", "mailbox", bad, email=True),
        principal=Person(**_person(table["principal"], "school.principal", bad))
        if "principal" in table
        else None,
        decision=decision,
        mailbox_keeper=Person(**_person(table["mailbox_keeper"], "school.mailbox_keeper", bad))
        if "mailbox_keeper" in table
        else None,
        reviewers=tuple(
            _reviewer(r, f"school.reviewers[{i}]", bad) for i, r in enumerate(reviewers)
        ),
        keepers=keys(table.get("keepers"), "school.keepers", bad, keeper_key_problem()),
        teachers=_names(table, bad),
    )


def _names(table: dict[str, Any], bad: Bad) -> tuple[tuple[str, str], ...]:
    """``[school.teachers]``: login = "Full Name", one line per teacher."""
    found = _table(table.get("teachers"), "school.teachers", bad)
    names = []
    for login in found:
        name = _text(found, "school.teachers", login, bad)
        if not name:
            raise bad(f"school.teachers.{login}", _("is missing: give the person's full name"))
        names.append((nfc(login.strip()), name))
    return tuple(names)


def keys(raw: Any, key: str, bad: Bad, wrong_key: str) -> tuple[Keeper, ...]:
    """A list of ``{name, key}`` tables (``[[school.keepers]]``, the profile's
    ``[[signers]]``): each a person's name and a key fingerprint; ``wrong_key`` says where a
    fingerprint that is not one should be copied from."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise bad(key, _("must be a list of tables ([[{key}]])").format(key=key))
    return tuple(_keeper(k, f"{key}[{i}]", bad, wrong_key) for i, k in enumerate(raw))


def _keeper(raw: Any, key: str, bad: Bad, wrong_key: str) -> Keeper:
    table = _table(raw, key, bad)
    _only(table, key, {"name", "key"}, bad)
    name = _text(table, key, "name", bad)
    if not name:
        raise bad(f"{key}.name", _("is missing: give the keeper's full name"))
    fingerprint = key_fingerprint(_text(table, key, "key", bad))
    if fingerprint is None:
        raise bad(f"{key}.key", wrong_key)
    return Keeper(name, fingerprint)


def keeper_key_problem() -> str:
    """Where a keeper key's fingerprint comes from, for a key that is not one."""
    return _(
        "must be the key's fingerprint as `hoso handover keygen` prints it on the "
        'keeper\'s computer, e.g. "ABCD-EFGH-IJKL-MNOP"'
    )


def _reviewer(raw: Any, key: str, bad: Bad) -> Reviewer:
    person = _person(raw, key, bad, frozenset({"groups", "teachers"}))
    return Reviewer(
        **person,
        groups=_texts(raw, key, "groups", bad),
        teachers=_texts(raw, key, "teachers", bad),
    )


def _teacher(raw: Any, bad: Bad) -> Teacher:
    table = _table(raw, "teacher", bad)
    _only(table, "teacher", {"name", "email", "group"}, bad)
    return Teacher(
        name=_text(table, "teacher", "name", bad),
        email=_text(table, "teacher", "email", bad, email=True),
        group=_text(table, "teacher", "group", bad),
    )
