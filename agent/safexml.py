"""Untrusted XML (a server's answers, the parts of an Office document) parsed safely.

One hardened lxml parser per thread (lxml parsers are not shared across threads): no entity
substitution, no network, no DTD loading, comments and processing instructions dropped, no
huge trees. A DOCTYPE is refused after parsing: neither WebDAV answers nor Office parts ever
carry one, and it is how entity attacks start. :func:`parse_stream` feeds a body chunk by chunk,
gives up once it passes a byte limit, and can hand over each finished element of one kind and
drop it, so a huge answer is never held in memory whole, as bytes or as a tree.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import TypeAlias

from lxml import etree

Element: TypeAlias = etree._Element  # for type hints elsewhere, without importing lxml there

_local = threading.local()


class UnsafeXml(ValueError):
    """The bytes are not well-formed XML, or carry a DOCTYPE; ``reason`` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TooLarge(UnsafeXml):
    """The document is longer than the limit it was parsed with; the rest was not read."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} bytes")
        self.limit = limit


_OPTIONS = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "huge_tree": False,
    "remove_comments": True,
    "remove_pis": True,
}


def _new_parser() -> etree.XMLParser:
    return etree.XMLParser(**_OPTIONS)


def _parser() -> etree.XMLParser:
    parser: etree.XMLParser | None = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = _new_parser()
    return parser


def parse(data: bytes) -> Element:
    """The root element; UnsafeXml when the bytes do not parse or declare a DOCTYPE."""
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise UnsafeXml(type(exc).__name__) from exc
    return _without_doctype(root)


def parse_stream(
    chunks: Iterable[bytes],
    limit: int,
    *,
    each: str = "",
    take: Callable[[Element], None] = lambda element: None,
) -> Element:
    """The root element of a document given in pieces; TooLarge as soon as more than ``limit``
    bytes arrived (the caller closes the source, nothing more is read), UnsafeXml as parse().

    With ``each`` (a Clark-notation tag), every finished element of that tag directly below the
    root is given to ``take`` and then removed from the tree, which stays small."""
    # A fresh parser per document: a feed parser left half-way by an error must not be reused.
    parser = etree.XMLPullParser(events=("end",), tag=each or None, **_OPTIONS)
    total = 0
    try:
        for chunk in chunks:
            total += len(chunk)
            if total > limit:
                raise TooLarge(limit)
            parser.feed(chunk)
            if each:
                _hand_over(parser, take)
        root = parser.close()
        if each:
            _hand_over(parser, take)
    except etree.XMLSyntaxError as exc:
        raise UnsafeXml(type(exc).__name__) from exc
    return _without_doctype(root)


def _hand_over(parser: etree.XMLPullParser, take: Callable[[Element], None]) -> None:
    for _event, element in parser.read_events():
        parent = element.getparent()
        if parent is None or parent.getparent() is not None:
            continue  # not directly below the root: left for the caller to judge
        take(element)
        element.clear()
        while element.getprevious() is not None:
            del parent[0]


def _without_doctype(root: Element) -> Element:
    if root.getroottree().docinfo.doctype:
        raise UnsafeXml("DTD forbidden")
    return root
