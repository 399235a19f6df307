"""Turn a WebDAV multistatus answer into typed entries, strictly.

This module's one job is reading what a PROPFIND brings back: it holds the request body
(:data:`PROPFIND_BODY`) and turns the ``DAV:multistatus`` answer into :class:`Props`, one per
``DAV:response``, with hrefs made relative to the remote root. It speaks no HTTP (no
``requests`` here) and is the only module that imports an XML parser (``lxml``).

Invariants:

* No DTD, entity or external reference is ever resolved: the XML is parsed by lxml with entity
  substitution, DTD loading and network access off, and a document with a DOCTYPE is refused.
* An answer is fed to the parser as it arrives and refused once it passes ``max_bytes``; the
  rest is never read.
* Anything malformed raises :class:`~agent.errors.ProtocolError` with a translated message,
  never an empty list: XML that does not parse, a root other than ``DAV:multistatus``, a
  response without href or without any property answered 200, a size that is not a number,
  or no (or several) responses for the folder asked for.
* The path gate: every entry below the folder asked for is checked here, once. Each href
  segment is percent-decoded exactly once (RFC 3986; ``%252E`` is the three characters
  ``%2E``, a harmless name) and must be UTF-8; a decoded name that is empty, ``.`` or ``..``,
  or holds ``/``, ``\\``, NUL or another control character (C0, DEL, C1) — as spelt or after
  NFC — is refused, and so is an href that is not directly in that folder, or an entry whose
  ETag holds a control character (it is sent back in If-Match). A refused entry is
  not an error of the whole answer: it comes back in :attr:`Listing.refused` with the reason,
  and its name is never a path anyone writes to.
* Hrefs come back as the server spells them (percent-decoded, possibly NFD), relative to the
  remote root; the root is matched after NFC, so an NFD spelling of the root is accepted.
"""

from __future__ import annotations

import email.utils
import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import unquote_to_bytes, urlsplit

from . import safexml
from .errors import ProtocolError
from .i18n import _
from .model import RelPath, has_control, nfc, parent_of
from .safexml import Element, TooLarge, UnsafeXml

DAV_NS = "DAV:"
OC_NS = "http://owncloud.org/ns"

PROPFIND_BODY = (
    b'<?xml version="1.0" encoding="utf-8"?>'
    b'<d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns"><d:prop>'
    b"<d:resourcetype/><d:getetag/><d:getcontentlength/><d:getlastmodified/>"
    b"<oc:fileid/><oc:checksums/><oc:size/><oc:data-fingerprint/>"
    b"</d:prop></d:propfind>"
)


@dataclass(frozen=True)
class Props:
    """One ``DAV:response`` of a multistatus, with only the props that came back 200."""

    href_path: str  # path relative to the remote root, server spelling, "" for the root
    is_dir: bool
    etag: str
    size: int
    mtime: int
    checksum: str | None
    fileid: str | None
    data_fingerprint: str | None


@dataclass(frozen=True)
class Refused:
    """A listed entry the path gate refused: what it claims to be, and why it is refused.

    ``path`` is the claimed path relative to the remote root, NFC, each decoded segment as
    spelt except that a ``/`` inside one is shown as ``%2F`` (so the path keeps its depth);
    an href outside the root keeps its whole decoded URL path, with its leading ``/``.
    """

    path: str
    reason: str


@dataclass(frozen=True)
class Listing:
    """One PROPFIND answer: the folder asked for, its entries that passed the gate, the rest."""

    own: Props
    children: list[Props] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)


class _Refusal(Exception):
    """An href that fails the path gate (internal: becomes a :class:`Refused`)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(reason)
        self.path = path
        self.reason = reason


def protocol_error(host: str, detail: str) -> ProtocolError:
    """The error for an answer from ``host`` that cannot be trusted; ``detail`` says why."""
    return ProtocolError(
        _(
            "The share at {host} gave an answer hoso cannot trust: {detail}. Nothing was changed; "
            "the next pass will try again."
        ).format(host=host, detail=detail),
        detail=detail,
    )


@dataclass(frozen=True)
class MultistatusParser:
    """Parses the answers of one share; ``root_path`` is the remote root's URL path, NFC."""

    host: str  # named in error messages
    root_path: tuple[str, ...]  # percent-decoded, NFC path segments of the remote root URL
    max_bytes: int  # an answer longer than this is refused (the config's sync.max_listing_bytes)

    @classmethod
    def for_root(cls, root_url: str, host: str, max_bytes: int) -> MultistatusParser:
        root = tuple(nfc(_decoded(s) or s) for s in _raw_segments(root_url))
        return cls(host=host, root_path=root, max_bytes=max_bytes)

    def parse(self, body: Iterable[bytes], folder: RelPath) -> Listing:
        """A multistatus for ``folder`` (read from ``body``'s chunks), through the path gate.

        The response for ``folder`` itself is ``own``; every other response must name an entry
        directly in it with a name that passes the gate, else it goes to ``refused``."""
        folder = nfc(folder)
        own: list[Props] = []
        children: list[Props] = []
        refused: list[Refused] = []

        def take(response: Element) -> None:
            # Each response is read as soon as it is complete, then dropped from the tree.
            try:
                props = self._response(response)
            except _Refusal as refusal:
                refused.append(Refused(refusal.path, refusal.reason))
                return
            if nfc(props.href_path) == folder:
                own.append(props)
            elif nfc(parent_of(props.href_path)) == folder:
                children.append(props)
            else:
                reason = _("it is not in the folder that was listed")
                refused.append(Refused(nfc(props.href_path), reason))

        root = self._xml(body, each=f"{{{DAV_NS}}}response", take=take)
        if root.tag != f"{{{DAV_NS}}}multistatus":
            raise self._error(_("its answer is not a WebDAV multistatus"))
        if len(own) != 1:
            raise self._error(_("its answer does not describe the folder asked for"))
        return Listing(own[0], children, refused)

    def is_collection(self, body: Iterable[bytes]) -> bool:
        """Whether a Depth: 0 multistatus says its resource is a collection (folder)."""
        answer = self._xml(body)
        return answer.find(f".//{{{DAV_NS}}}resourcetype/{{{DAV_NS}}}collection") is not None

    def too_large(self) -> ProtocolError:
        """The error for an answer longer than ``max_bytes``."""
        return self._error(
            _(
                "its answer is longer than {size} MiB (max_listing_bytes in the [sync] "
                "section of the config; raise it only for a folder that really is that large)"
            ).format(size=round(self.max_bytes / 2**20, 1))
        )

    def _xml(
        self,
        body: Iterable[bytes],
        each: str = "",
        take: Callable[[Element], None] = lambda element: None,
    ) -> Element:
        try:
            return safexml.parse_stream(body, self.max_bytes, each=each, take=take)
        except TooLarge:
            raise self.too_large() from None
        except UnsafeXml as exc:
            raise self._error(
                _("its answer is not valid XML ({detail})").format(detail=exc.reason)
            ) from None

    def _response(self, element: Element) -> Props:
        href = element.findtext(f"{{{DAV_NS}}}href")
        if not href:
            raise self._error(_("an entry of its answer has no address"))
        href_path = self._relative(href)  # the gate, before anything else is read
        props: dict[str, Element] = {}
        for propstat in element.findall(f"{{{DAV_NS}}}propstat"):
            status = propstat.findtext(f"{{{DAV_NS}}}status") or ""
            prop = propstat.find(f"{{{DAV_NS}}}prop")
            if prop is not None and _status_code(status) == 200:
                props.update((child.tag, child) for child in prop)
        if not props:
            raise self._error(_("it gave no properties for {href}").format(href=href))

        def text(ns: str, name: str) -> str | None:
            found = props.get(f"{{{ns}}}{name}")
            return None if found is None else (found.text or "").strip()

        resourcetype = props.get(f"{{{DAV_NS}}}resourcetype")
        is_dir = (
            resourcetype is not None and resourcetype.find(f"{{{DAV_NS}}}collection") is not None
        )
        size = text(DAV_NS, "getcontentlength") or text(OC_NS, "size") or "0"
        etag = normalize_etag(text(DAV_NS, "getetag") or "")
        if has_control(etag):
            # It goes back in If-Match: a CR/LF (&#13;&#10; in the XML) would make every
            # upload of that file fail as if the share were unreachable.
            raise _Refusal(nfc(href_path), _("its ETag holds a control character"))
        return Props(
            href_path=href_path,
            is_dir=is_dir,
            etag=etag,
            size=self._integer(size),
            mtime=http_date(text(DAV_NS, "getlastmodified")),
            checksum=_sha256_first(props.get(f"{{{OC_NS}}}checksums")),
            fileid=text(OC_NS, "fileid") or None,
            data_fingerprint=text(OC_NS, "data-fingerprint"),
        )

    def _relative(self, href: str) -> RelPath:
        """An href made relative to the remote root, keeping the server's spelling; every
        segment below the root passes the path gate, else _Refusal."""
        raw = _raw_segments(href)
        depth = len(self.root_path)
        names = [_decoded(segment) or segment for segment in raw]  # undecodable: as sent
        claimed = "/".join(nfc(n).replace("/", "%2F") for n in names[depth:])
        if tuple(nfc(n) for n in names[:depth]) != self.root_path:
            raise _Refusal(
                "/" + "/".join(nfc(n) for n in names), _("it is outside the records folder")
            )
        for segment, name in zip(raw[depth:], names[depth:], strict=True):
            reason = _refusal_reason(segment, name)
            if reason:
                raise _Refusal(claimed, reason)
        return "/".join(names[depth:])

    def _integer(self, value: str) -> int:
        try:
            return int(value)
        except ValueError:
            raise self._error(_("it gave a size that is not a number")) from None

    def _error(self, detail: str) -> ProtocolError:
        return protocol_error(self.host, detail)


# --- small pure helpers --------------------------------------------------------------------


def normalize_etag(raw: str) -> str:
    """An ETag without the weak ``W/`` prefix and without quotes."""
    value = raw.strip()
    if value[:2] in ("W/", "w/"):
        value = value[2:]
    return value.strip().strip('"')


def http_date(value: str | None) -> int:
    """An HTTP date (``getlastmodified``, ``Last-Modified``, ``Date``) as a Unix time; 0 if none."""
    if not value:
        return 0
    try:
        return int(email.utils.parsedate_to_datetime(value).timestamp())
    except (TypeError, ValueError):
        return 0


def _raw_segments(href: str) -> list[str]:
    """The still-encoded segments of the path of an href or URL, without the empty ones that
    its leading and trailing slash make (an empty one in the middle is kept: refused later)."""
    path = href if href.startswith("/") else urlsplit(href).path
    segments = path.split("/")
    if segments and segments[0] == "":
        segments = segments[1:]
    if segments and segments[-1] == "":
        segments = segments[:-1]
    return segments


@functools.lru_cache(maxsize=4096)
def _decoded(segment: str) -> str | None:
    """One segment percent-decoded exactly once, as UTF-8; None when it is not UTF-8.
    Cached: folder names recur in every href below them."""
    try:
        return unquote_to_bytes(segment).decode("utf-8")
    except UnicodeDecodeError:
        return None


def _refusal_reason(segment: str, name: str) -> str | None:
    """Why a listed segment cannot be a name in the records folder, or None when it can."""
    if _decoded(segment) is None:
        return _("its name is not UTF-8 text")
    return name_refusal(name)


def name_refusal(name: str) -> str | None:
    """Why a (decoded) name cannot be a name in the records folder, or None when it can: the
    path gate's rule, also applied to local names before they are sent to the share."""
    for spelling in (name, nfc(name)):
        if spelling in ("", ".", ".."):
            return _("its name is empty, . or ..")
        if "/" in spelling or "\\" in spelling:
            return _("its name holds a / or \\ (a path, not a name)")
        if has_control(spelling):
            return _("its name holds a control character")
    return None


def _status_code(status_line: str) -> int:
    parts = status_line.split()
    return int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else 0


def _sha256_first(element: Element | None) -> str | None:
    """Nextcloud's checksums ("SHA1:… MD5:… SHA256:…"): the SHA256 one if any, else the first."""
    if element is None:
        return None
    tokens = " ".join(element.itertext()).split()
    for token in tokens:
        if token.upper().startswith("SHA256:"):
            return token
    return tokens[0] if tokens else None
