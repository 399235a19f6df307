"""What a WebDAV server was seen to do when probed (remote.py probes, serverinfo.py remembers).

Plain data, apart from remote.py, so that `hoso status` shows the last probe's findings
without loading the HTTP stack.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class Behaviour:
    """What a server was seen to do when probed: never taken from its name or Allow header.

    ``CAUTIOUS`` is taken when a probe fails: it never leads to a wrong deletion or an
    unguarded write, only to more requests and to dot-names being left alone."""

    etags_in_listings: bool  # PROPFIND lists a getetag for files
    conditional_writes: bool  # a PUT with a wrong If-Match gets 412
    lists_dot_names: bool  # names starting with "." appear in Depth: 1 listings
    depth_infinity: bool  # PROPFIND Depth: infinity is answered with a listing

    def to_json(self) -> dict[str, bool]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: object) -> Behaviour | None:
        """The behaviour stored by :meth:`to_json`, or None when ``data`` is not one."""
        names = [f.name for f in dataclasses.fields(cls)]
        if not isinstance(data, dict) or any(not isinstance(data.get(n), bool) for n in names):
            return None
        return cls(**{n: data[n] for n in names})


CAUTIOUS = Behaviour(
    etags_in_listings=False, conditional_writes=False, lists_dot_names=False, depth_infinity=False
)
# What a Remote that was never asked to learn assumes: a server that follows RFC 4918 and 7232
# (a pass always learns first, and falls back to CAUTIOUS when the share refuses the probe).
ASSUMED = Behaviour(
    etags_in_listings=True, conditional_writes=True, lists_dot_names=True, depth_infinity=False
)
