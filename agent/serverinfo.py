"""What hoso has learnt about the share's server, remembered in the journal between passes.

The probe (:meth:`agent.remote.Remote.probe` with ``learn``) writes a few requests to the
share, so it runs once per server (the records folder's URL) and again after a day, or as soon
as a listing contradicts what was learnt (a server upgraded or replaced behind the same URL).
Nothing here speaks HTTP or SQL: the journal's meta table holds one JSON value.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .behaviour import Behaviour
from .journal import Journal
from .model import Kind, RelPath, RemoteEntry

if TYPE_CHECKING:  # annotations only: `hoso status` loads no HTTP stack
    from .remote import Capabilities

BEHAVIOUR_META = "server_behaviour"
REPROBE_SECONDS = 24 * 3600


def _stored(journal: Journal) -> dict[str, Any] | None:
    raw = journal.meta_get(BEHAVIOUR_META)
    try:
        data = json.loads(raw) if raw else None
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def remembered(journal: Journal, identity: str, *, now: float) -> Behaviour | None:
    """The behaviour learnt for the server at ``identity`` less than a day before ``now``
    (a clock that went back also asks for a new probe), else None."""
    data = _stored(journal)
    if data is None or data.get("server") != identity:
        return None
    probed = data.get("probed_at")
    if not isinstance(probed, (int, float)) or not 0 <= now - probed < REPROBE_SECONDS:
        return None
    return Behaviour.from_json(data)


def remember(journal: Journal, identity: str, caps: Capabilities, *, now: float) -> None:
    """Keep what a probe just observed (``caps.probed``), with when and for which server."""
    if not caps.probed:
        return
    value = {
        "server": identity,
        "probed_at": now,
        **caps.behaviour.to_json(),
        "atomic_put": caps.atomic_put,
    }
    journal.meta_set(BEHAVIOUR_META, json.dumps(value, sort_keys=True))


def forget(journal: Journal) -> None:
    """The next pass probes again."""
    journal.meta_set(BEHAVIOUR_META, None)


def contradicted(caps: Capabilities, listing: Mapping[RelPath, RemoteEntry]) -> bool:
    """True when a listing shows what the remembered behaviour says the server never does:
    an ETag on a file, or a name starting with "." (only a probe may say "it does")."""
    files = [e for e in listing.values() if e.kind is Kind.FILE]
    if not caps.etags_in_listings and any(e.etag for e in files):
        return True
    return not caps.lists_dot_names and any(is_dot_path(p) for p in listing)


def seen_in(listing: Mapping[RelPath, RemoteEntry]) -> Behaviour:
    """What a listing alone shows of a share this account may not write to (it refused the
    probe): whether its files carry ETags and whether names starting with "." are listed.
    Writes are taken as unconditional, as CAUTIOUS has them. A later listing that shows more
    contradicts this, and the next pass learns again."""
    files = [e for e in listing.values() if e.kind is Kind.FILE]
    return Behaviour(
        etags_in_listings=bool(files) and all(e.etag for e in files),
        conditional_writes=False,
        lists_dot_names=any(is_dot_path(p) for p in listing),
        depth_infinity=False,
    )


def is_dot_path(path: RelPath) -> bool:
    """A path with a name starting with "." at any level (what nginx leaves out of listings)."""
    return any(part.startswith(".") for part in path.split("/"))


def unlisted_names(paths: Iterable[RelPath], caps: Capabilities) -> list[RelPath]:
    """The paths a listing of this server can never show: their absence from it means
    nothing, so they are left alone on both sides."""
    if caps.lists_dot_names:
        return []
    return sorted({p for p in paths if is_dot_path(p)})


def shown(journal: Journal) -> dict[str, Any] | None:
    """What ``hoso status`` shows of the server: the last probe's findings, or None."""
    data = _stored(journal)
    behaviour = Behaviour.from_json(data) if data else None
    if data is None or behaviour is None:
        return None
    return {
        "url": data.get("server"),
        "probed_at": data.get("probed_at"),
        **behaviour.to_json(),
        "atomic_put": bool(data.get("atomic_put")),
    }
