"""Inspection emails: a selection of records packed into numbered messages ("Phần i/n"), each
under the mail provider's size limit, as the exact bytes that are sent and kept as evidence.

Each message is multipart/mixed: a text/plain body (base64, UTF-8) listing the files, one
attachment per file (base64, RFC 2231 file name), then ``manifest.json`` with the same data.

Invariants:
- A message's encoded size (headers, body, manifest, base64 attachments, boundaries) is at most
  ``max_message_bytes``. :func:`plan_parts` computes these sizes exactly without reading a file
  and :func:`build_messages` produces exactly that many bytes: everything that varies between
  two builds of a part (Date, the random part of the Message-ID, the MIME boundary) has a fixed
  length.
- An attachment is the bytes the selection saw: each file is read once and refused
  (:class:`FileChanged`) unless its size and SHA-256 match. Nothing is ever replaced by a link.
- A file too large for any message, even alone, is not attached, and every message names it
  (in the body, and in the manifest's ``not_attached``): the school knows what is missing.
- The subject always carries "Phần i/n", even for a single part: every message says where it
  stands in the submission, which keeps the evidence uniform.
"""

from __future__ import annotations

import base64
import hashlib
import json
import mimetypes
import secrets
import unicodedata
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage, MIMEPart
from email.utils import format_datetime
from pathlib import Path, PurePosixPath
from typing import Any

from agent.api import (
    RelPath,
    UsageError,
    _,
    current_language,
    language,
)

from .model import (
    Address,
    BuiltMessage,
    Envelope,
    FileChanged,
    Packing,
    PartPlan,
    SelectedFile,
    Selection,
)

FORMAT = "hoso-inspection/1"
EMAIL_LANGUAGE = "vi"  # the email is written for the school, whatever the teacher reads
MANIFEST = "manifest.json"
# CRLF line endings, 78-character lines. Headers set raw are written as folded here: refolding
# would turn the name= fallback into RFC 2231, which the readers it is for cannot read.
POLICY = policy.SMTP.clone(refold_source="none")
_LINE_BYTES = 57  # bytes per base64 line under POLICY: 76 characters, then CRLF
_BOUNDARY_PREFIX = "=_hoso_"  # "=_" never occurs in base64 or in our headers' words
_SIZING_KEY = "0" * 64  # a SHA-256 hex: plans are exact for keys of this length
_SIZING_DATE = format_datetime(datetime(2000, 1, 1, tzinfo=UTC))  # any Date: same length
# UTF-8 bytes per RFC 2047 encoded word: 68 characters, so "Subject: " and a word fit in 78.
_WORD_BYTES = 42
_Q_TEXT = 56  # encoded characters per "Q" word: ' name="' and a word fit in 78

# Gmail refuses these, also inside archives (support.google.com/mail/answer/6590), and so do
# most school providers; .reg and .sh are scripts all the same.
BLOCKED_SUFFIXES = frozenset({
    ".ade", ".adp", ".apk", ".appx", ".appxbundle", ".bat", ".cab", ".chm", ".cmd", ".com",
    ".cpl", ".diagcab", ".diagcfg", ".diagpkg", ".dll", ".dmg", ".ex", ".ex_", ".exe", ".hta",
    ".img", ".ins", ".iso", ".isp", ".jar", ".jnlp", ".js", ".jse", ".lib", ".lnk", ".mde",
    ".mjs", ".msc", ".msi", ".msix", ".msixbundle", ".msp", ".mst", ".nsh", ".pif", ".ps1",
    ".reg", ".scr", ".sct", ".sh", ".shb", ".sys", ".vb", ".vbe", ".vbs", ".vhd", ".vxd",
    ".wsc", ".wsf", ".wsh", ".xll",
})  # fmt: skip
ARCHIVE_SUFFIXES = frozenset(
    {".zip", ".rar", ".7z", ".tar", ".tgz", ".taz", ".gz", ".bz2", ".xz", ".z"}
)
UNCHECKED_ARCHIVES = frozenset({".rar", ".7z"})  # no reader in the standard library
_NESTED_ZIPS = 2  # how deep to look into zips inside zips
_NESTED_ZIP_BYTES = 50_000_000  # larger inner zips are not opened (a zip bomb stays shut)
# Macro-enabled Office files, and the macro-free format to save them as.
MACRO_SUFFIXES = {
    ".docm": ".docx", ".dotm": ".docx", ".xlsm": ".xlsx", ".xltm": ".xlsx", ".xlam": ".xlsx",
    ".pptm": ".pptx", ".potm": ".pptx", ".ppsm": ".pptx",
}  # fmt: skip


class MessageUnreadable(UsageError):
    """The data is not an email message (no Message-ID or no Date header)."""


@dataclass(frozen=True)
class ReadMessage:
    """An inspection email parsed back, for ``hoso inspect verify`` and the tests."""

    message_id: str
    date: str  # the Date header as sent
    subject: str
    sender: str  # the From address
    recipients: tuple[str, ...]  # the To addresses
    package: str | None  # X-Hoso-Package
    part: int | None  # X-Hoso-Part "i/n"
    parts: int | None
    manifest: dict[str, Any] | None  # None when the message carries no hoso manifest
    attachments: tuple[tuple[str, bytes], ...] = field(repr=False)  # the manifest excluded


# --- names and sizes ------------------------------------------------------------------------


def _line(text: str) -> str:
    """One line of text: runs of whitespace (line breaks included) become one space."""
    return " ".join(text.split())


def attachment_name(path: RelPath) -> str:
    """The records path as one readable file name: "Tuần 10/Toán/Bài 56.docx" →
    "Tuần 10 - Toán - Bài 56.docx" (NFC)."""
    parts = (_line(unicodedata.normalize("NFC", p)) for p in path.split("/"))
    return " - ".join(p for p in parts if p)


def attachment_names(files: Sequence[SelectedFile]) -> tuple[str, ...]:
    """Each file's attachment name, unique in the submission (ignoring case, as Windows
    does when the teacher saves them): a repeated name gets " (2)", " (3)"… before its
    suffix. "manifest.json" is kept for the manifest."""
    taken = {MANIFEST}
    names = []
    for file in files:
        name = attachment_name(file.path)
        stem, suffix = _split_suffix(name)
        number = 1
        while name.casefold() in taken:
            number += 1
            name = f"{stem} ({number}){suffix}"
        taken.add(name.casefold())
        names.append(name)
    return tuple(names)


def _split_suffix(name: str) -> tuple[str, str]:
    suffix = PurePosixPath(name).suffix
    return (name[: -len(suffix)], suffix) if suffix else (name, "")


def _decimal(value: float) -> str:
    text = f"{value:.1f}"
    return text.replace(".", ",") if current_language() == "vi" else text


def byte_count(size: int) -> str:
    """25000000 → "25,000,000" ("25.000.000" in Vietnamese, where the comma is decimal)."""
    text = f"{size:,}"
    return text.replace(",", ".") if current_language() == "vi" else text


def human_size(size: int) -> str:
    """1234567 → "1.2 MB" ("1,2 MB" in Vietnamese); decimal units, as file managers show."""
    if size < 1000:
        return f"{size} B"
    value = size / 1000
    for unit in ("KB", "MB"):
        if value < 999.95:  # what rounds to 1000.0 is shown in the next unit
            return f"{_decimal(value)} {unit}"
        value /= 1000
    return f"{_decimal(value)} GB"


def _base64_len(size: int) -> int:
    """Encoded length of ``size`` bytes as the email package writes them: 76-character
    lines, each ended by CRLF."""
    lines, rest = divmod(size, _LINE_BYTES)
    return lines * (_LINE_BYTES * 4 // 3 + 2) + (4 * -(-rest // 3) + 2 if rest else 0)


def _lines_len(lines: Sequence[str]) -> int:
    """Length of the body text once encoded: UTF-8, each line ended by CRLF."""
    return sum(len(line.encode()) + 2 for line in lines)


# --- the message ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Package:
    """What every message of a submission shares, however it is split."""

    selection: Selection
    envelope: Envelope
    key: str
    names: tuple[str, ...]  # the attachment name of each of selection.files
    left: tuple[int, ...] = ()  # files too large for any message: named in each, not attached

    @classmethod
    def of(cls, selection: Selection, envelope: Envelope, key: str) -> _Package:
        return cls(selection, envelope, key, attachment_names(selection.files))

    @property
    def attached(self) -> tuple[int, ...]:
        return tuple(i for i in range(len(self.selection.files)) if i not in self.left)

    def without(self, index: int) -> _Package:
        return replace(self, left=tuple(sorted((*self.left, index))))


@dataclass(frozen=True)
class _Stamp:
    """What differs between two builds of a part, each of a fixed length: the Date header,
    the random part of the Message-ID and the MIME boundary."""

    date: str
    token: str  # 16 hex digits
    boundary: str

    @classmethod
    def fresh(cls, date: str) -> _Stamp:
        return cls(date, secrets.token_hex(8), _BOUNDARY_PREFIX + secrets.token_hex(12))


_SIZING_STAMP = _Stamp(_SIZING_DATE, "0" * 16, _BOUNDARY_PREFIX + "0" * 24)


def _message_id(package: _Package, part: int, stamp: _Stamp) -> str:
    return f"<hoso.{package.key[:16]}.{part}.{stamp.token}@{package.envelope.domain}>"


def _subject(package: _Package, part: int, parts: int) -> str:
    envelope = package.envelope
    return _("[Inspection records] {teacher} – {types} – {period} – Part {part}/{parts}").format(
        teacher=_line(envelope.sender.name),
        types=_line(", ".join(envelope.type_names or package.selection.types)),
        period=_line(package.selection.label),
        part=part,
        parts=parts,
    )


def _encoded_words(text: str) -> list[str]:
    """RFC 2047 words (base64, UTF-8), split between characters; each word carries its own
    spaces, since readers drop the folding between two words."""
    data = _line(text).encode()
    words = []
    start = 0
    while start < len(data):
        end = min(start + _WORD_BYTES, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:  # inside a character: back off
            end -= 1
        words.append(f"=?utf-8?b?{base64.b64encode(data[start:end]).decode()}?=")
        start = end
    return words


# Headers with non-ASCII words are folded by hand, one token a line, and written as given
# (``set_raw``: lines under 78 characters are not refolded): Python 3.11's email package folds
# an address list wrongly (it encodes the comma between two names, so readers see only the
# first address) and drops the space where it splits a subject between two encoded words.


def _text_header(text: str) -> str:
    return "\n ".join(_encoded_words(text))


def _address_header(addresses: Sequence[Address]) -> str:
    lines = [
        token
        for address in addresses
        for token in (*_encoded_words(address.name), f"<{address.email}>,")
    ]
    lines[-1] = lines[-1].removesuffix(",")
    return "\n ".join(lines)


def _headers(package: _Package, part: int, parts: int, stamp: _Stamp) -> MIMEPart:
    """The top-level message, multipart/mixed, without its parts yet."""
    envelope = package.envelope
    message = MIMEPart(policy=POLICY)
    message.set_raw("From", _address_header([envelope.sender]))
    message.set_raw("To", _address_header(envelope.recipients))
    message.set_raw("Subject", _text_header(_subject(package, part, parts)))
    message["Date"] = stamp.date
    message["Message-ID"] = _message_id(package, part, stamp)
    message["MIME-Version"] = "1.0"
    message["X-Hoso-Package"] = package.key
    message["X-Hoso-Part"] = f"{part}/{parts}"
    message.make_mixed()
    message.set_boundary(stamp.boundary)
    return message


def _intro_lines(package: _Package, part: int, parts: int, count: int, total: int) -> list[str]:
    envelope, selection = package.envelope, package.selection
    reviewers = ", ".join(_line(r.name or r.email) for r in envelope.recipients[1:])
    school = _line(envelope.school)
    greeting = (
        _("Dear leadership of {school} and {reviewers},").format(school=school, reviewers=reviewers)
        if reviewers
        else _("Dear leadership of {school},").format(school=school)
    )
    return [
        greeting,
        "",
        _("I am submitting my records for the periodic inspection, as attached files."),
        "",
        _("Teacher: {name} <{email}>").format(
            name=_line(envelope.sender.name), email=envelope.sender.email
        ),
        _("School: {school}").format(school=school),
        _("Records: {types}").format(
            types=_line(", ".join(envelope.type_names or selection.types))
        ),
        _("Period: {period}").format(period=_line(selection.label)),
        _("Part {part}/{parts} of this submission").format(part=part, parts=parts),
        "",
        _("Files attached to this message ({count}, {size} in total):").format(
            count=count, size=human_size(total)
        ),
    ]


def _file_text(package: _Package, index: int) -> str:
    """A file's line in the body, after its number."""
    file = package.selection.files[index]
    return _("{name} — {size} — SHA-256: {sha256}").format(
        name=package.names[index], size=human_size(file.size), sha256=file.sha256
    )


def _left_lines(package: _Package) -> list[str]:
    """The files of the submission no message carries, so the school knows what is missing,
    why, and how to check the copy handed over."""
    if not package.left:
        return []
    return [
        "",
        _(
            "Not attached ({count}): too large to send by email, even alone in a message. "
            "The teacher hands them over another way (for example on a USB stick); their "
            "SHA-256 fingerprints below let the school check each copy:"
        ).format(count=len(package.left)),
        *(f"{number}. {_file_text(package, i)}" for number, i in enumerate(package.left, 1)),
    ]


def _closing_lines(package: _Package) -> list[str]:
    return [
        *_left_lines(package),
        "",
        _(
            "The files are attached to this email itself; none of them is a download link. "
            "The attachment {manifest} lists the same names, sizes and SHA-256 fingerprints "
            "in machine-readable form."
        ).format(manifest=MANIFEST),
        "",
        _("Respectfully,"),
        _line(package.envelope.sender.name),
    ]


def _body_lines(package: _Package, part: int, parts: int, indices: Sequence[int]) -> list[str]:
    total = sum(package.selection.files[i].size for i in indices)
    return [
        *_intro_lines(package, part, parts, len(indices), total),
        *(f"{number}. {_file_text(package, i)}" for number, i in enumerate(indices, 1)),
        *_closing_lines(package),
    ]


def _body_part(lines: Sequence[str]) -> MIMEPart:
    body = MIMEPart(policy=POLICY)
    body.set_content("\n".join(lines), cte="base64")  # any mail server carries base64
    return body


def _q_words(text: str) -> list[str]:
    """RFC 2047 "Q" words, whole characters each. Only letters, digits and "!*+-" stay as
    they are (RFC 2047 5(3)); a space is "_". Unlike base64, a reader that does not decode
    them still shows most of the name, and never a "/" (munpack makes it a folder)."""
    words, current = [], ""
    for char in text:
        if char == " ":
            piece = "_"
        elif char.isascii() and (char.isalnum() or char in "!*+-"):
            piece = char
        else:
            piece = "".join(f"={byte:02X}" for byte in char.encode())
        if current and len(current) + len(piece) > _Q_TEXT:
            words.append(current)
            current = ""
        current += piece
    return [f"=?utf-8?q?{word}?=" for word in (*words, current)]


def _name_parameter(name: str) -> str:
    """``name="…"`` for Content-Type, one token a line: quoted as it is when it is short
    printable ASCII, else RFC 2047 words."""
    plain = name.isascii() and name.isprintable() and not {'"', "\\"} & set(name)
    if plain and "=?" not in name and len(name) <= _Q_TEXT:
        return f'name="{name}"'
    return 'name="' + "\n ".join(_q_words(name)) + '"'


def _attachment(name: str, content: bytes) -> MIMEPart:
    guessed, encoding = mimetypes.guess_type(name)
    # A compressed file's guessed type is that of its content: send it as plain bytes.
    content_type = guessed if guessed and not encoding else "application/octet-stream"
    maintype, _slash, subtype = content_type.partition("/")
    attachment = MIMEPart(policy=POLICY)
    # Content-Disposition gets filename*= (RFC 2231), what current readers take. Readers
    # that predate RFC 2231 (older Outlook, many webmail and phone apps) fall back to the
    # Content-Type's name=, which therefore carries the name RFC 2047-encoded, as Outlook
    # and Thunderbird write it. No RFC 2047 filename= beside filename*=: a reader given both
    # may take either (Python's compat32 parser returns the encoded words), which would show
    # "=?utf-8?b?…" to people whose reader handles RFC 2231 perfectly well.
    attachment.set_content(content, maintype, subtype, filename=name)
    others = [(key, value) for key, value in attachment.raw_items() if key != "Content-Type"]
    for key in ("Content-Type", *(key for key, _value in others)):
        del attachment[key]
    attachment.set_raw("Content-Type", f"{content_type};\n {_name_parameter(name)}")
    for key, value in others:  # in their order, after the Content-Type, as set_content had them
        attachment.set_raw(key, value)
    return attachment


def _entry(package: _Package, index: int) -> dict[str, Any]:
    file = package.selection.files[index]
    return {
        "name": package.names[index],
        "path": file.path,
        "size": file.size,
        "sha256": file.sha256,
        "record_type": file.record_type,
        "selected_by": file.selected_by.value,
    }


def _manifest(
    package: _Package, part: int, parts: int, indices: Sequence[int], stamp: _Stamp
) -> dict[str, Any]:
    envelope, selection = package.envelope, package.selection
    return {
        "format": FORMAT,
        "package": package.key,
        "part": part,
        "parts": parts,
        "message_id": _message_id(package, part, stamp),
        "date": stamp.date,
        "teacher": {"name": envelope.sender.name, "email": envelope.sender.email},
        "school": envelope.school,
        "period": selection.label,
        "weeks": list(selection.weeks) if selection.weeks else None,
        "month": selection.period,
        "types": list(selection.types),
        "files": [_entry(package, i) for i in indices],
        "not_attached": [{**_entry(package, i), "reason": "too_large"} for i in package.left],
    }


def _json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2)


def _manifest_part(data: bytes) -> MIMEPart:
    manifest = MIMEPart(policy=POLICY)
    manifest.set_content(
        data, "application", "json", filename=MANIFEST, params={"charset": "utf-8"}
    )
    return manifest


def _compose(
    package: _Package,
    part: int,
    parts: int,
    indices: Sequence[int],
    contents: Sequence[bytes],
    stamp: _Stamp,
) -> MIMEPart:
    message = _headers(package, part, parts, stamp)
    message.attach(_body_part(_body_lines(package, part, parts, indices)))
    for index, content in zip(indices, contents, strict=True):
        message.attach(_attachment(package.names[index], content))
    manifest = _manifest(package, part, parts, indices, stamp)
    message.attach(_manifest_part((_json(manifest) + "\n").encode()))
    return message


def _flatten(message: MIMEPart) -> bytes:
    return message.as_bytes(policy=POLICY)


# --- planning -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Group:
    indices: tuple[int, ...]  # into selection.files
    size: int  # encoded bytes of the message


class _Sizer:
    """Exact encoded sizes of candidate messages, from costs computed once per file.

    A message is its header block, then for each MIME part "--boundary" CRLF, the part and a
    CRLF, then the closing "--boundary--" CRLF. A part is its headers plus its base64 lines,
    so each cost below is a part flattened without content plus the base64 length of it.
    """

    def __init__(self, package: _Package, stamp: _Stamp) -> None:
        self.package = package
        self.stamp = stamp
        self.frame = len(stamp.boundary) + 6  # "--" boundary CRLF before a part, CRLF after
        files = package.selection.files
        self.attachment = [
            len(_flatten(_attachment(name, b""))) + _base64_len(file.size) + self.frame
            for name, file in zip(package.names, files, strict=True)
        ]
        self.line = [len(_file_text(package, i).encode()) for i in range(len(files))]
        self.entry = [self._nested_len(_entry(package, i)) for i in range(len(files))]
        # The body's encoded text is never empty: set_content("") still writes one CRLF.
        self.body_head = len(_flatten(_body_part([]))) - _base64_len(2) + self.frame
        self.manifest_head = len(_flatten(_manifest_part(b""))) + self.frame
        self.closing = _lines_len(_closing_lines(package))

    @staticmethod
    def _nested_len(entry: dict[str, Any]) -> int:
        """Length of an entry of the manifest's "files" list: indented 4 more on each line."""
        text = _json(entry)
        return len(text.encode()) + 4 * text.count("\n")

    def fill(self, candidates: Sequence[int], part: int, parts: int, limit: int) -> list[int]:
        """The most of ``candidates``, in order, that fit in message ``part``."""
        package, files = self.package, self.package.selection.files
        data = _flatten(_headers(package, part, parts, self.stamp))
        fixed = data.index(b"\r\n\r\n") + 4 + self.frame + self.body_head + self.manifest_head
        empty = _manifest(package, part, parts, [], self.stamp)
        manifest_base = len((_json(empty) + "\n").encode())
        chosen: list[int] = []
        attachments = lines = entries = total = 0
        for index in candidates:
            count = len(chosen) + 1
            attachments += self.attachment[index]
            lines += len(str(count)) + 2 + self.line[index] + 2  # "12. " … CRLF
            entries += self.entry[index]
            total += files[index].size
            intro = _lines_len(_intro_lines(package, part, parts, count, total))
            # "[]" becomes "[\n    " entry ",\n    " entry … "\n  ]"
            manifest = manifest_base + 8 + entries + 6 * (count - 1)
            size = (
                fixed
                + _base64_len(intro + lines + self.closing)
                + _base64_len(manifest)
                + attachments
            )
            if size > limit:
                break
            chosen.append(index)
        return chosen

    def built_size(self, indices: Sequence[int], part: int, parts: int) -> int:
        """The size of the message built for real (attachments left empty, their base64
        length added): the check on :meth:`fill`."""
        files = self.package.selection.files
        message = _compose(self.package, part, parts, indices, [b""] * len(indices), self.stamp)
        return len(_flatten(message)) + sum(_base64_len(files[i].size) for i in indices)


class _Oversized(Exception):
    """The file at ``index`` fits in no message, even alone."""

    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.index = index


def too_large_reason(file: SelectedFile, limit: int) -> str:
    """Why a file is not attached, and what the teacher can do, in the teacher's language."""
    return _(
        "{path} is {size} MB: too large to send by email, even alone in a message (the "
        "limit is {limit} MB per message with the attachment encoding, about {raw} MB of "
        "files). It is not attached; every message of the submission names it with its size "
        "and SHA-256, and the rest is sent. hoso never replaces an attachment by a download "
        "link. Make the file smaller (compress the pictures in the document, save it as PDF, "
        "or split it into several documents) and send again, or hand it over on a USB stick "
        "with the messages' manifest.json, whose SHA-256 lets the school check the copy. If "
        "the school's mail provider accepts larger messages, the school can raise `[smtp] "
        "max_message_bytes` in the config."
    ).format(
        path=file.path,
        size=_decimal(file.size / 1e6),
        limit=_decimal(limit / 1e6),
        raw=_decimal(limit * _LINE_BYTES / (_LINE_BYTES * 4 // 3 + 2) / 1e6),
    )


def _pack(sizer: _Sizer, parts: int, limit: int) -> list[_Group]:
    """Greedy first fit in order, each message numbered out of ``parts``."""
    order = sizer.package.attached
    groups: list[_Group] = []
    start = 0
    while start < len(order):
        part = len(groups) + 1
        chosen = sizer.fill(order[start:], part, parts, limit)
        if not chosen:
            raise _Oversized(order[start])
        size = sizer.built_size(chosen, part, parts)
        while size > limit:  # the build disagrees with fill: the last file moves on
            if len(chosen) == 1:
                raise _Oversized(order[start])
            chosen.pop()
            size = sizer.built_size(chosen, part, parts)
        groups.append(_Group(tuple(chosen), size))
        start += len(chosen)
    return groups


def _numbered(package: _Package, limit: int, stamp: _Stamp) -> list[_Group]:
    """Numbering "i/n" changes sizes a little, so pack again until the number of messages is
    the n they were numbered with. A larger n never makes a message smaller, so the count
    only grows and this ends."""
    if not package.attached:
        return []
    sizer = _Sizer(package, stamp)
    parts = 1
    groups = _pack(sizer, parts, limit)
    while len(groups) != parts:
        parts = len(groups)
        groups = _pack(sizer, parts, limit)
    return groups


def _email_plan(package: _Package, limit: int) -> tuple[_Package, list[_Group]]:
    """The plan, sized with the email's text in the email's language, and the package it
    is for: a file that fits in no message is left out of the attachments and named in
    every message, which makes each a little longer, so this packs again until no file is
    found too large (each round leaves one more file out, so it ends)."""
    with language(EMAIL_LANGUAGE):
        while True:
            try:
                return package, _numbered(package, limit, _SIZING_STAMP)
            except _Oversized as oversized:
                package = package.without(oversized.index)


def plan_parts(
    selection: Selection,
    envelope: Envelope,
    *,
    max_message_bytes: int,
    key: str = _SIZING_KEY,
) -> Packing:
    """How the selection is split into messages, with each message's exact encoded size,
    and the files too large for any message; nothing is read from disk. The sizes are those
    of :func:`build_messages` with a ``key`` of the same length (the key is in three headers
    and the manifest): pass the real one, or rely on the default, a SHA-256 hex. An empty
    selection gives no part."""
    package, groups = _email_plan(_Package.of(selection, envelope, key), max_message_bytes)
    return Packing(
        parts=tuple(
            PartPlan(
                part=part,
                parts=len(groups),
                files=tuple(selection.files[i] for i in group.indices),
                size=group.size,
            )
            for part, group in enumerate(groups, 1)
        ),
        not_attached=tuple(selection.files[i] for i in package.left),
    )


# --- building -------------------------------------------------------------------------------


def _read(file: SelectedFile) -> bytes:
    """The file's bytes, read once, if they are still the ones selected."""
    try:
        content = file.file.read_bytes()
    except OSError as error:
        raise FileChanged(
            _("{path} can no longer be read ({error}): run the command again.").format(
                path=file.path, error=error.strerror or error
            )
        ) from None
    if len(content) != file.size or hashlib.sha256(content).hexdigest() != file.sha256:
        raise FileChanged(
            _("{path} changed while packaging: run the command again.").format(path=file.path)
        )
    return content


def build_messages(
    selection: Selection,
    envelope: Envelope,
    *,
    max_message_bytes: int,
    now: datetime,
    key: str,
) -> Iterator[BuiltMessage]:
    """The messages of the submission, one at a time (only one is in memory), each exactly
    the size :func:`plan_parts` gives, all with the same Date.

    A file too large for any message is not attached (:func:`plan_parts` names it).
    Raises FileChanged (when the message that holds the file is built: earlier messages may
    already have been yielded).
    """
    package, groups = _email_plan(_Package.of(selection, envelope, key), max_message_bytes)
    date = format_datetime(now)
    for part, group in enumerate(groups, 1):
        stamp = _Stamp.fresh(date)
        contents = [_read(selection.files[i]) for i in group.indices]
        with language(EMAIL_LANGUAGE):
            message = _compose(package, part, len(groups), group.indices, contents, stamp)
            subject = _subject(package, part, len(groups))
        yield BuiltMessage(
            part=part,
            parts=len(groups),
            message_id=_message_id(package, part, stamp),
            date=date,
            subject=subject,
            files=tuple(selection.files[i] for i in group.indices),
            data=_flatten(message),
        )


# --- reading back ---------------------------------------------------------------------------


def _header(message: EmailMessage, name: str) -> str:
    value = message[name]
    return str(value).strip() if value is not None else ""


def _part_numbers(text: str) -> tuple[int | None, int | None]:
    part, _slash, parts = text.partition("/")
    if part.isdigit() and parts.isdigit():
        return int(part), int(parts)
    return None, None


def _content(part: EmailMessage) -> bytes:
    """An attachment's bytes (base64 or quoted-printable decoded)."""
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""  # an attached message has none


def _as_manifest(part: EmailMessage) -> dict[str, Any] | None:
    if part.get_filename() != MANIFEST or part.get_content_type() != "application/json":
        return None
    try:
        data = json.loads(_content(part))
    except ValueError:  # not JSON, or not UTF-8: a file that happens to have this name
        return None
    return data if isinstance(data, dict) and data.get("format") == FORMAT else None


def read_message(data: bytes) -> ReadMessage:
    """An .eml parsed back with Python's email parser. A message without a hoso manifest
    gives ``manifest=None`` (its attachments are still listed).

    Raises MessageUnreadable when the data has no Message-ID or no Date header.
    """
    message = message_from_bytes(data, policy=policy.default)
    message_id, date = _header(message, "Message-ID"), _header(message, "Date")
    if not message_id or not date:
        raise MessageUnreadable(
            _("This is not an email message saved by hoso (no Message-ID or no Date).")
        )
    manifest = None
    attachments = []
    for attached in message.iter_attachments():
        found = _as_manifest(attached)
        if found is not None:
            manifest = found
        else:
            attachments.append((attached.get_filename() or "", _content(attached)))
    sender, to = message["From"], message["To"]
    part, parts = _part_numbers(_header(message, "X-Hoso-Part"))
    return ReadMessage(
        message_id=message_id,
        date=date,
        subject=_header(message, "Subject"),
        sender=sender.addresses[0].addr_spec if sender is not None and sender.addresses else "",
        recipients=tuple(a.addr_spec for a in to.addresses) if to is not None else (),
        package=_header(message, "X-Hoso-Package") or None,
        part=part,
        parts=parts,
        manifest=manifest,
        attachments=tuple(attachments),
    )


# --- types mail providers refuse ------------------------------------------------------------


def _blocked_inside(archive: zipfile.ZipFile, depth: int) -> str | None:
    """The first name in the zip that makes mail providers refuse it, if any."""
    infos = archive.infolist()
    encrypted = any(info.flag_bits & 0x1 for info in infos)
    for info in infos:
        suffix = PurePosixPath(info.filename).suffix.lower()
        if suffix in BLOCKED_SUFFIXES or (encrypted and suffix in ARCHIVE_SUFFIXES):
            return info.filename  # Gmail cannot scan an archive in an encrypted one
        if suffix == ".zip" and depth < _NESTED_ZIPS and info.file_size <= _NESTED_ZIP_BYTES:
            with archive.open(info) as inner, zipfile.ZipFile(inner) as nested:
                found = _blocked_inside(nested, depth + 1)
            if found:
                return f"{info.filename}/{found}"
    return None


def blocked_reason(file: Path) -> str | None:
    """Why mail providers (Gmail first) would refuse the file, or None: programs and scripts,
    and zip archives holding them."""
    suffix = file.suffix.lower()
    if suffix in BLOCKED_SUFFIXES:
        return _(
            "mail providers such as Gmail refuse {suffix} files (programs and scripts)"
        ).format(suffix=suffix)
    if suffix != ".zip":
        return None
    try:
        with zipfile.ZipFile(file) as archive:
            found = _blocked_inside(archive, 1)
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError) as error:
        return _(
            "the archive cannot be opened ({error}); mail providers refuse damaged archives"
        ).format(error=error)
    if found:
        return _("the archive holds {name}, a type mail providers such as Gmail refuse").format(
            name=found
        )
    return None


def is_blocked(file: Path) -> bool:
    return blocked_reason(file) is not None


def package_warnings(selection: Selection) -> list[str]:
    """Files that will be sent but may be flagged or refused on the way."""
    warnings = []
    for file in selection.files:
        suffix = PurePosixPath(file.path).suffix.lower()
        if suffix in MACRO_SUFFIXES:
            warnings.append(
                _(
                    "{path}: a macro-enabled file; mail providers may block or flag it. Save it "
                    "as {plain} (without macros) before sending."
                ).format(path=file.path, plain=MACRO_SUFFIXES[suffix])
            )
        elif suffix in UNCHECKED_ARCHIVES:
            warnings.append(
                _(
                    "{path}: hoso cannot look inside {suffix} archives, and mail providers refuse "
                    "archives that hold programs or scripts. Sending the documents themselves "
                    "is safer."
                ).format(path=file.path, suffix=suffix)
            )
    return warnings
