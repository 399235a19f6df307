"""Untrusted XML (a server's answers, the parts of an Office document) parsed safely.

One hardened lxml parser per thread (lxml parsers are not shared across threads): no entity
substitution, no network, no DTD loading, comments and processing instructions dropped, no
huge trees. A DOCTYPE is refused after parsing: neither WebDAV answers nor Office parts ever
carry one, and it is how entity attacks start.
"""

from __future__ import annotations

import threading

from lxml import etree

Element = etree._Element  # for type hints elsewhere, without importing lxml there

_local = threading.local()


class UnsafeXml(ValueError):
    """The bytes are not well-formed XML, or carry a DOCTYPE; ``reason`` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _parser() -> etree.XMLParser:
    parser: etree.XMLParser | None = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
        )
        _local.parser = parser
    return parser


def parse(data: bytes) -> Element:
    """The root element; UnsafeXml when the bytes do not parse or declare a DOCTYPE."""
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise UnsafeXml(type(exc).__name__) from exc
    if root.getroottree().docinfo.doctype:
        raise UnsafeXml("DTD forbidden")
    return root
