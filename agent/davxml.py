"""Turn a WebDAV multistatus answer into typed entries, strictly.

This module's one job is reading what a PROPFIND brings back: it holds the request body
(:data:`PROPFIND_BODY`) and turns the ``DAV:multistatus`` answer into :class:`Props`, one per
``DAV:response``, with hrefs made relative to the remote root. It speaks no HTTP (no
``requests`` here) and is the only module that imports an XML parser (``lxml``).

Invariants:

* No DTD, entity or external reference is ever resolved: the XML is parsed by lxml with entity
  substitution, DTD loading and network access off, and a document with a DOCTYPE is refused.
* Anything malformed raises :class:`~agent.errors.ProtocolError` with a translated message,
  never an empty list: XML that does not parse, a root other than ``DAV:multistatus``, a
  response without href or without any property answered 200, a size that is not a number,
  an href outside the remote root, or no (or several) responses for the folder asked for.
* Hrefs come back as the server spells them (percent-decoded, possibly NFD), relative to the
  remote root; the root is matched after NFC, so an NFD spelling of the root is accepted.
"""

from __future__ import annotations

import email.utils
import functools
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from . import safexml
from .errors import ProtocolError
from .i18n import _
from .model import RelPath, nfc
from .safexml import Element, UnsafeXml

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


def protocol_error(host: str, detail: str) -> ProtocolError:
    """The error for an answer from ``host`` that cannot be trusted; ``detail`` says why."""
    return ProtocolError(
        _(
            "The share at {host} gave an answer hoso cannot trust: {detail}. Nothing was changed; "
            "the next pass will try again."
        ).format(host=host, detail=detail)
    )


@dataclass(frozen=True)
class MultistatusParser:
    """Parses the answers of one share; ``root_path`` is the remote root's URL path, NFC."""

    host: str  # named in error messages
    root_path: tuple[str, ...]  # percent-decoded, NFC path segments of the remote root URL

    @classmethod
    def for_root(cls, root_url: str, host: str) -> MultistatusParser:
        return cls(host=host, root_path=tuple(nfc(s) for s in _url_path_segments(root_url)))

    def parse(self, content: bytes, folder: RelPath) -> list[Props]:
        """Responses of a multistatus, the one for ``folder`` itself first."""
        root = self._xml(content)
        if root.tag != f"{{{DAV_NS}}}multistatus":
            raise self._error(_("its answer is not a WebDAV multistatus"))
        items = [self._response(r) for r in root.findall(f"{{{DAV_NS}}}response")]
        own = [p for p in items if nfc(p.href_path) == nfc(folder)]
        if len(own) != 1:
            raise self._error(_("its answer does not describe the folder asked for"))
        return own + [p for p in items if p is not own[0]]

    def is_collection(self, content: bytes) -> bool:
        """Whether a Depth: 0 multistatus says its resource is a collection (folder)."""
        answer = self._xml(content)
        return answer.find(f".//{{{DAV_NS}}}resourcetype/{{{DAV_NS}}}collection") is not None

    def _xml(self, content: bytes) -> Element:
        try:
            return safexml.parse(content)
        except UnsafeXml as exc:
            raise self._error(
                _("its answer is not valid XML ({detail})").format(detail=exc.reason)
            ) from None

    def _response(self, element: Element) -> Props:
        href = element.findtext(f"{{{DAV_NS}}}href")
        if not href:
            raise self._error(_("an entry of its answer has no address"))
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
        return Props(
            href_path=self._relative(href),
            is_dir=is_dir,
            etag=normalize_etag(text(DAV_NS, "getetag") or ""),
            size=self._integer(size),
            mtime=http_date(text(DAV_NS, "getlastmodified")),
            checksum=_sha256_first(props.get(f"{{{OC_NS}}}checksums")),
            fileid=text(OC_NS, "fileid") or None,
            data_fingerprint=text(OC_NS, "data-fingerprint"),
        )

    def _relative(self, href: str) -> RelPath:
        """An href made relative to the remote root, keeping the server's spelling."""
        segments = _url_path_segments(href)
        depth = len(self.root_path)
        if tuple(nfc(s) for s in segments[:depth]) != self.root_path:
            raise self._error(_("it lists {href} outside the records folder").format(href=href))
        return "/".join(segments[depth:])

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


def _url_path_segments(href: str) -> list[str]:
    """The percent-decoded, non-empty segments of the path of an href or URL."""
    path = href if href.startswith("/") else urlsplit(href).path
    return [_decoded(s) for s in path.split("/") if s]


@functools.lru_cache(maxsize=4096)
def _decoded(segment: str) -> str:
    # Folder names recur in every href below them: decode each spelling once.
    return unquote(segment)


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
