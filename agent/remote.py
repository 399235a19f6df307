"""Everything hoso says to the WebDAV share: listing, transfers, folders, capabilities, retries.

The only module that speaks HTTP. It owns webdavclient3 (used for its settings and its
``requests`` session; every request is built here). Reading PROPFIND answers is
:mod:`agent.davxml`'s job.

Invariants:

* Paths in and out are :data:`~agent.model.RelPath` (NFC, relative to the remote root). The
  server's own spelling of each name (possibly NFD) is remembered from listings and used,
  percent-quoted, in every later request, so an NFD name is never duplicated as NFC.
* A PROPFIND answer is trusted only if it parses strictly (no DTD, no entities) as a
  ``DAV:multistatus`` naming the folder asked for; anything else raises ProtocolError, never an
  empty listing. It is streamed into the parser and refused past ``max_listing_bytes``; a
  walk of the tree stops once it has met more than ``max_entries`` entries (a share that
  answers every folder with new sub-folders never ends otherwise). An
  entry whose name fails the path gate (:mod:`agent.davxml`) is left out and reported in
  :attr:`RemoteTree.refused`.
* A folder is always addressed with its trailing slash (as it was listed, or as created). A
  redirect is followed only when it stays on the same scheme, host and port and only adds
  that slash to the same path; any other redirect is an error, so the login is never sent
  anywhere else.
* A download is exactly as long as the listing said: a longer or shorter body fails that
  file (and what was received is never put under the real name by the caller's temp file).
* Uploads never overwrite what they did not expect: creates are conditional on "nothing there",
  updates on the expected ETag. On servers whose PUT is not atomic the body goes to a hidden
  temp name first and is renamed into place, so an interrupted upload never truncates a file.
* Every request has a (connect, read) timeout and bounded retries; every failure leaves as a
  :class:`~agent.errors.RemoteError` subclass with a translated message. The password is never
  part of a message, a log line or a repr.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import queue
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import quote, unquote, urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from webdav3.client import Client

from . import beacon, davstatus
from .behaviour import ASSUMED, CAUTIOUS, Behaviour  # re-exported: sync.py, the tests
from .config import Config, Secret
from .davxml import (
    PROPFIND_BODY,
    Listing,
    MultistatusParser,
    Props,
    Refused,
    http_date,
    normalize_etag,
    protocol_error,
)
from .errors import (
    AuthError,
    BadDownload,
    Forbidden,
    LocalError,
    NotAFolder,
    NotFound,
    PreconditionFailed,
    ProtocolError,
    Redirected,
    RemoteError,
    UnexpectedAnswer,
    UnreachableError,
)
from .i18n import _
from .log import get_logger
from .model import JournalEntry, Kind, RelPath, RemoteEntry, is_within, name_of, nfc, parent_of

log = get_logger(__name__)

TEMP_PREFIX = ".~hoso-"
TEMP_SUFFIX = ".part"
# Characters that end a URL's path for some servers even when percent-encoded.
URL_DELIMITERS = frozenset(";?#")
CHUNK = 256 * 1024
LISTING_CHUNK = 64 * 1024  # small: a compressed answer is inflated one chunk at a time
WEAK_ETAG_SECONDS = 2.5
REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Answers to PROPFIND from a server that does not know the method there: no WebDAV at that address.
NO_DAV_STATUSES = frozenset({405, 501})

# A body shorter than announced, or undecodable: the answer cannot be used, maybe a network cut.
_CUT_SHORT = (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)


class _CutShort(Exception):
    """The connection broke while an answer's body was being read (internal)."""


class Sink(Protocol):
    """Where a download goes: anything with a binary write()."""

    def write(self, data: bytes, /) -> int: ...


def is_temp_name(name: str) -> bool:
    return name.startswith(TEMP_PREFIX)


PROBE_PREFIX = ".hoso-probe-"
# Servers whose PUT writes a temp file of their own and renames it into place, so an
# interrupted upload leaves nothing under the real name. A probe cannot safely watch a PUT
# being cut, so this is the one thing taken from the ``Server`` header; anything else gets
# the agent's own temp name + MOVE.
ATOMIC_PUT_SERVERS = ("Apache", "nginx")


@dataclass(frozen=True)
class Capabilities:
    nextcloud: bool  # oc:fileid answered on the root PROPFIND → Nextcloud/ownCloud
    atomic_put: bool  # PUT never leaves a truncated file under the real name
    data_fingerprint: str | None  # Nextcloud oc:data-fingerprint of the root (changes on restore)
    root_fileid: str | None
    root_etag: str  # etag of the remote root folder (quotes and W/ stripped)
    # What the server was seen to do (see Behaviour); the defaults are ASSUMED's.
    etags_in_listings: bool = True  # PROPFIND answers carry getetag for files
    conditional_writes: bool = True  # If-Match / If-None-Match honoured on PUT
    lists_dot_names: bool = True  # names starting with "." appear in listings
    depth_infinity: bool = False  # PROPFIND Depth: infinity answered
    probed: bool = False  # the four above were observed by this probe (the caller remembers them)
    # The share refused the probe's writes (403): the caller learns from a listing instead.
    probe_refused: bool = False

    @property
    def behaviour(self) -> Behaviour:
        return Behaviour(
            etags_in_listings=self.etags_in_listings,
            conditional_writes=self.conditional_writes,
            lists_dot_names=self.lists_dot_names,
            depth_infinity=self.depth_infinity,
        )


class RemoteTree(dict[RelPath, RemoteEntry]):
    """What :meth:`Remote.list_tree` returns: NFC path → entry, plus ``twins``.

    ``twins`` holds one tuple per name the server lists under several spellings equal after
    NFC (an NFC and an NFD "Tuần 1" side by side): the sorted server spellings, the same shape
    as the local scan's twins. The mapping keeps the first spelling's entry so that nothing
    looks deleted; callers must leave twin paths alone (SkipReason.NORMALIZATION_TWIN) until a
    person renames one.

    ``refused`` holds the entries the path gate refused (``..``, a name with a slash or a
    control character, an href outside the folder listed...), each with its reason. They are
    not in the mapping; callers must treat those paths as unclear: never deleted on the other
    side because they are missing here, never downloaded.

    ``forbidden`` holds the folders the server would not list (403): what is below them is
    unknown, so callers leave them alone on both sides like the refused entries.
    """

    def __init__(self) -> None:
        super().__init__()
        self._spellings: dict[RelPath, set[RelPath]] = {}
        # Server spellings of temp uploads this agent left behind (a crash mid-upload).
        self.own_temp_files: list[RelPath] = []
        self.refused: list[Refused] = []
        self.forbidden: list[Forbidden] = []
        self.listed: set[RelPath] = set()  # the folders listed (the root is ""), not reused
        self.beacons: list[RelPath] = []  # folders holding a change beacon (agent/beacon.py)

    @property
    def twins(self) -> tuple[tuple[RelPath, ...], ...]:
        return tuple(tuple(sorted(self._spellings[p])) for p in sorted(self._spellings))

    def add(self, entry: RemoteEntry) -> None:
        existing = self.get(entry.path)
        if existing is None:
            self[entry.path] = entry
            return
        self._spellings.setdefault(entry.path, {existing.href_path}).add(entry.href_path)
        if entry.href_path < existing.href_path:
            self[entry.path] = entry


_Listed = tuple[RemoteEntry | None, list[RemoteEntry]]  # a folder's own entry, its children


def _children(known: Mapping[RelPath, JournalEntry]) -> dict[RelPath, list[JournalEntry]]:
    """The journal's entries by the folder that holds them."""
    index: dict[RelPath, list[JournalEntry]] = {}
    for path, entry in known.items():
        index.setdefault(parent_of(path), []).append(entry)
    return index


def _from_journal(journal: JournalEntry, href: RelPath) -> RemoteEntry:
    """The share's entry as the journal last recorded it (a folder not listed this time)."""
    return RemoteEntry(
        path=journal.path,
        kind=journal.kind,
        etag=journal.remote_etag,
        size=journal.remote_size,
        mtime=journal.remote_mtime,
        href_path=href,
        checksum=journal.remote_checksum,
        fileid=journal.remote_fileid,
    )


class _FileBody:
    """A file streamed as a request body of exactly ``size`` bytes.

    ``__len__`` lets requests send Content-Length instead of chunking. If the file turns out
    shorter or longer than ``size``, or was written to while it was read (its mtime is no longer
    ``mtime_ns``), the read raises LocalError before the last byte is sent, so the server never
    receives a complete body of torn or wrong content.
    """

    def __init__(self, source: Path, size: int, mtime_ns: int) -> None:
        self._file = source.open("rb")
        self._left = size
        self._mtime_ns = mtime_ns

    def __len__(self) -> int:
        return self._left

    def read(self, amount: int = -1) -> bytes:
        if self._left == 0:
            return b""
        amount = self._left if amount < 0 else min(amount, self._left)
        data = self._file.read(amount)
        self._left -= len(data)
        if len(data) < amount or (self._left == 0 and self._changed()):
            raise LocalError(
                _("The file changed while it was being uploaded; it will be sent again.")
            )
        return data

    def _changed(self) -> bool:
        st = os.fstat(self._file.fileno())
        return bool(self._file.read(1)) or st.st_mtime_ns != self._mtime_ns

    def close(self) -> None:
        self._file.close()


class Remote:
    """A connection to the records folder on the share (``url`` + ``remote_dir``)."""

    def __init__(
        self,
        url: str,
        remote_dir: str,
        user: str,
        password: Secret,
        *,
        ca_file: str = "",
        verify_tls: bool = True,
        timeout: float = 30.0,
        retries: int = 4,
        atomic_uploads: str = "auto",
        pool_size: int = 8,
        temp_tag: str = "",
        trash_dir: str = ".hoso-trash",
        backoff: float = 0.5,
        max_listing_bytes: int = 64 * 2**20,
        max_entries: int = 500_000,
    ) -> None:
        self._base_url = url.rstrip("/") + "/"
        root = remote_dir.strip("/")
        self._root_segments = [s for s in root.split("/") if s]
        self._root_url = self._base_url + (quote(root) + "/" if root else "")
        self._host = urlsplit(self._base_url).hostname or self._base_url
        self._port = _port_of(self._base_url)
        self._xml = MultistatusParser.for_root(self._root_url, self._host, max_listing_bytes)
        self._max_entries = max_entries
        self._user = user
        self._timeout = (min(timeout, 10.0), timeout)
        self._retries = retries
        self._backoff = backoff
        self._atomic_uploads = atomic_uploads
        self._pool_size = pool_size
        self._temp_tag = temp_tag
        self._trash_dir = nfc(trash_dir.strip("/"))
        self._caps: Capabilities | None = None
        self._behaviour: Behaviour | None = None  # learnt or observed; kept across probes
        self._probe_refused = False  # the last probe's writes were refused (403)
        # Told (server spelling, True) before a temp upload starts and (…, False) once it is
        # renamed or removed, so that a crash's leftover is deleted by name at the next pass:
        # a listing may never show it (nginx hides dot-names).
        self.on_temp_upload: Callable[[RelPath, bool], None] = lambda href, started: None
        self._caps_lock = threading.Lock()
        # NFC path → the server's spelling, learnt from listings; used to address requests.
        self._spelling: dict[RelPath, RelPath] = {}
        # NFC paths known to be folders (listed, created, moved or copied here): addressed
        # with a trailing slash, which Apache's mod_dir and nginx insist on.
        self._folders: set[RelPath] = set()
        self._client = Client(
            {
                "webdav_hostname": self._base_url,
                "webdav_login": user,
                "webdav_password": password.reveal(),
                "webdav_timeout": timeout,
            }
        )
        self._client.verify = ca_file or verify_tls
        self._session = self._client.session
        # UTF-8 bytes: requests would encode str as Latin-1 and fail on a Vietnamese
        # password; RFC 7617 servers (wsgidav, Apache, Nextcloud) read UTF-8.
        self._session.auth = (user.encode("utf-8"), password.reveal().encode("utf-8"))
        self._session.verify = self._client.verify
        # requests scans the whole environment for proxy settings on every request (a
        # third of the cost of a listing); read it once, honouring no_proxy, and keep the
        # CA bundle variables requests would have read.
        self._session.proxies.update(requests.utils.get_environ_proxies(self._base_url))
        if self._session.verify is True:
            bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
            if bundle:
                self._session.verify = bundle
        self._session.trust_env = False
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max(pool_size, 8) + 2, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)

    @classmethod
    def from_config(cls, config: Config, password: Secret) -> Remote:
        """The share of ``config``; the password comes from the vault (agent.vault)."""
        remote = config.remote
        return cls(
            remote.url,
            remote.remote_dir,
            remote.user,
            password,
            ca_file=str(Path(remote.ca_file).expanduser()) if remote.ca_file else "",
            verify_tls=remote.verify_tls,
            timeout=remote.timeout,
            retries=remote.retries,
            atomic_uploads=remote.atomic_uploads,
            pool_size=max(8, config.sync.transfers * 2),
            temp_tag=config.host_name,
            trash_dir=remote.trash_dir,
            max_listing_bytes=config.sync.max_listing_bytes,
            max_entries=config.sync.max_entries,
        )

    def __repr__(self) -> str:
        return f"Remote({self._root_url!r}, user={self._user!r})"

    def close(self) -> None:
        self._session.close()

    # --- capabilities ---------------------------------------------------------------------

    @property
    def identity(self) -> str:
        """The records folder's URL: what a remembered :class:`Behaviour` belongs to."""
        return self._root_url

    def probe(
        self, *, create: bool = False, learnt: Behaviour | None = None, learn: bool = False
    ) -> Capabilities:
        """Check the login and the root folder; learn what the server can do.

        The server's behaviour is ``learnt`` (remembered from an earlier probe) when given;
        else, with ``learn``, observed by a few requests in a folder of our own (see
        :meth:`_observe`) — :data:`CAUTIOUS` when the share refuses that; else what an earlier
        call knew, else :data:`ASSUMED`."""
        try:
            listing, server = self._root_listing()
        except NotAFolder:
            raise
        except NotFound:
            if not create or not self._root_segments:
                raise self._missing(self._root_url) from None
            try:
                self._create_root()
            except NotFound:  # 409: the folder that would hold it is not there either
                raise self._missing(self._base_url) from None
            listing, server = self._root_listing()
        root = listing.own
        if not root.is_dir:
            raise self._not_a_folder()
        nextcloud = root.fileid is not None
        if self._atomic_uploads == "auto":
            atomic = nextcloud or server.startswith(ATOMIC_PUT_SERVERS)
        else:
            atomic = self._atomic_uploads == "always"
        self._probe_refused = False
        observed = None if learnt else (self._observe() if learn else None)
        if learn and not learnt and observed is None:
            self._behaviour = CAUTIOUS  # the share refused the experiment: assume the worst
        else:
            self._behaviour = learnt or observed or self._behaviour
        caps = Capabilities(
            nextcloud=nextcloud,
            atomic_put=atomic,
            data_fingerprint=root.data_fingerprint,
            root_fileid=root.fileid,
            root_etag=root.etag,
            **(self._behaviour or ASSUMED).to_json(),
            probed=observed is not None,
            probe_refused=self._probe_refused,
        )
        self._caps = caps
        return caps

    def adopt(self, behaviour: Behaviour) -> Capabilities:
        """Take ``behaviour`` as observed (what a listing showed of a share that refused the
        probe); the capabilities with it, to be remembered like a probe's."""
        with self._caps_lock:
            self._behaviour = behaviour
            base = self._caps or self.probe()
            self._caps = dataclasses.replace(
                base, **behaviour.to_json(), probed=True, probe_refused=False
            )
            return self._caps

    def _root_listing(self) -> tuple[Listing, str]:
        """The records folder's own entry; an address that is no WebDAV folder is said so."""
        try:
            return self._propfind(self._root_url, "", depth=0)
        except UnexpectedAnswer as exc:
            if exc.status in NO_DAV_STATUSES:
                raise davstatus.not_webdav(self._root_url, exc.status) from None
            # Apache answers 400 to a file asked for as a folder ("Bài 1.docx/").
            if exc.status == 400 and self._names_a_file(self._root_url.rstrip("/")):
                raise self._not_a_folder() from None
            raise

    def _names_a_file(self, url: str) -> bool:
        with self._propfind_request(url, "", 0, frozenset(range(300, 600))) as response:
            if response.status_code != 207:
                return False
            try:
                return not self._xml.is_collection(self._listing_chunks(response))
            except _CutShort:
                raise self._protocol_error(_("its answer was cut short")) from None

    def _missing(self, url: str) -> NotFound:
        return NotFound(
            _(
                "The folder {url} is not on the share: the server answers that it does not "
                "exist. Check `url` and `remote_dir` in the [remote] section of the config, or "
                "ask the school's IT admin whether the folder was moved."
            ).format(url=url)
        )

    def _not_a_folder(self) -> NotAFolder:
        return NotAFolder(
            _(
                "{url} is a file on the share, not a folder. The address must name the folder "
                "that holds the records."
            ).format(url=self._root_url.rstrip("/"))
        )

    def _observe(self) -> Behaviour | None:
        """Watch the server in a folder of our own at the root, removed afterwards: does a
        listing carry ETags and dot-names, does a wrong If-Match stop a PUT, is Depth:
        infinity answered. None (and a log line) when the share refuses the experiment."""
        # One name per machine: a probe cut short (a crash, a server stop) leaves its folder
        # behind until the next probe reuses and removes it.
        name = f"{PROBE_PREFIX}{self._temp_tag or 'hoso'}"
        folder = self._root_url + quote(name) + "/"
        removed = False
        try:
            self._ensure_folder(folder, name)
            try:
                seen = self._experiment(folder, name)
            finally:
                removed = self._discard(folder, name)
        except Forbidden as exc:
            # This account may not write here (a read-only school folder): the pass learns
            # what a listing shows instead (Capabilities.probe_refused), once.
            log.info("the share's behaviour could not be probed: %s", exc)
            self._probe_refused = True
            return None
        except RemoteError as exc:
            log.info("the share's behaviour could not be probed: %s", exc)
            return None
        # A folder left behind: not remembered, so the next pass probes again and removes it.
        return seen if removed else None

    def _experiment(self, folder: str, name: RelPath) -> Behaviour:
        file_url, dot_url = folder + "f.txt", folder + ".d.txt"
        for url in (file_url, dot_url):
            self._request("PUT", url, name, headers={"Content-Length": "1"}, body=lambda: b"1")
        listing, _server = self._propfind(folder, name, depth=1)
        listed = {name_of(item.href_path): item for item in listing.children}
        wrong = self._request(
            "PUT", file_url, name, headers={"If-Match": '"hoso-probe-no-such-etag"'},
            body=lambda: b"2", accept=frozenset({412}),
        )
        wrong.close()
        with self._propfind_request(folder, name, -1, frozenset(range(400, 600))) as infinite:
            depth_infinity = infinite.status_code == 207
        return Behaviour(
            etags_in_listings=bool("f.txt" in listed and listed["f.txt"].etag),
            conditional_writes=wrong.status_code == 412,
            lists_dot_names=".d.txt" in listed,
            depth_infinity=depth_infinity,
        )

    def _capabilities(self) -> Capabilities:
        with self._caps_lock:
            # Without writing anything: the pass (sync.py) asks for the probe that learns.
            return self._caps or self.probe()

    def _known_behaviour(self) -> Behaviour:
        """What the server is known to do, without asking it anything."""
        return self._behaviour or ASSUMED

    def _create_root(self) -> None:
        url = self._base_url
        for segment in self._root_segments:
            url += quote(segment) + "/"
            try:
                self._ensure_folder(url, segment)
            except Forbidden:  # the folder hoso syncs cannot be made: the login's business
                raise self._status_error("MKCOL", "", 403) from None

    def server_time(self) -> int:
        """The share's clock: the HTTP ``Date`` of one OPTIONS answer (Unix seconds; 0 when
        it sends none). Any status will do: even a refusal is dated by the server."""
        response = self._request("OPTIONS", self._root_url, "", accept=frozenset(range(300, 600)))
        response.close()
        return http_date(response.headers.get("Date"))

    # --- the change beacon (agent/beacon.py) ------------------------------------------------

    def read_beacon(self, folder: RelPath) -> beacon.Seen:
        """The beacon of ``folder`` (one GET, at most beacon.MAX_BYTES read): its token, or
        no token when it is missing, garbage or too long. A beacon that cannot be read (a
        folder this account may not read, a refusal) counts as garbage: a walk, never more."""
        path = beacon.path_in(folder)
        try:
            response = self._request(
                "GET", self._url(path, folder=False), path,
                headers={"Accept-Encoding": "identity"}, stream=True,
            )
        except NotFound:
            return beacon.Seen(present=False)
        except (UnreachableError, AuthError):
            raise  # the share, not this file: the pass cannot go on
        except RemoteError as exc:
            # A refusal, a redirect elsewhere (never followed), an odd status: no token. As
            # garbage it means a walk; a failed pass here would stop every upload for good.
            log.info("the change beacon of /%s could not be read: %s", folder, exc)
            return beacon.Seen(present=True)
        with response:
            data = b""
            try:
                for chunk in response.iter_content(beacon.MAX_BYTES + 1):
                    data += chunk
                    if len(data) > beacon.MAX_BYTES:
                        break  # garbage: the rest is never read
            except requests.RequestException:
                data = b""
            etag = normalize_etag(response.headers.get("ETag") or "")
        return beacon.Seen(present=True, token=beacon.parse(data), etag=etag)

    def write_beacon(self, folder: RelPath, data: bytes, *, over: beacon.Seen) -> bool:
        """Write ``data`` as the beacon of ``folder``, only if it is still what ``over`` read
        where the server honours conditions (If-Match on its ETag, If-None-Match when it was
        missing); True when written. Someone else's write meanwhile (412) or a refusal (403)
        is False: the caller then remembers nothing, so its next poll walks."""
        path = beacon.path_in(folder)
        headers = {"Content-Length": str(len(data)), "Content-Type": "text/plain"}
        if self._known_behaviour().conditional_writes:
            if not over.present:
                headers["If-None-Match"] = "*"
            elif over.etag:
                headers["If-Match"] = f'"{over.etag}"'
        deadline = time.monotonic() + WEAK_ETAG_SECONDS
        while True:
            try:
                response = self._request(
                    "PUT", self._url(path, folder=False), path, headers=headers, body=lambda: data
                )
            except PreconditionFailed as exc:
                # Apache's ETag is weak for a second after a write, and If-Match never
                # matches a weak one: wait for it to turn strong while nobody else wrote.
                if time.monotonic() < deadline and self.read_beacon(folder).same(over):
                    time.sleep(0.2)
                    continue
                log.info("the change beacon of /%s was not written: %s", folder, exc)
                return False
            except (Forbidden, NotFound) as exc:
                log.info("the change beacon of /%s was not written: %s", folder, exc)
                return False
            response.close()
            return True

    # --- listing --------------------------------------------------------------------------

    def list_tree(
        self,
        *,
        exclude: Callable[[RelPath, bool], bool] = lambda p, d: False,
        unchanged_dirs: Mapping[RelPath, str] | None = None,
        known: Mapping[RelPath, JournalEntry] | None = None,
        due: Callable[[RelPath], bool] | None = None,
    ) -> RemoteTree:
        """Every file and folder below the root (not the root itself), by NFC path.

        Depth-1 PROPFINDs, folders fetched in parallel. Our trash folder, our temp uploads,
        change beacons (kept in ``tree.beacons``) and whatever ``exclude`` rejects are left
        out (and not descended into). Folders not listed this time take their entries from
        ``known`` (the journal) as they were:

        * on Nextcloud, whose folder ETags change when anything below changes, a folder whose
          ETag equals ``unchanged_dirs[path]``, with all below it;
        * with ``due`` (plain WebDAV), a known folder ``due`` does not name; its known
          sub-folders that ``due`` names are listed all the same. The root, and every folder
          ``known`` lacks (new on the share), are always listed.
        """
        unchanged = (unchanged_dirs or {}) if self._capabilities().nextcloud else {}
        known = known or {}
        children = _children(known) if due is not None else {}
        tree = RemoteTree()
        pool = ThreadPoolExecutor(self._pool_size, thread_name_prefix="hoso-list")
        # Finished listings arrive through a queue: waiting on the set of pending futures
        # costs time proportional to that set at every step.
        done: queue.SimpleQueue[Future[_Listed]] = queue.SimpleQueue()

        def submit(path: RelPath, href: RelPath, *, own: bool = False) -> int:
            job = pool.submit(self._list_allowed, path, href, tree, own)
            job.add_done_callback(done.put)
            return 1

        def reach(entry: RemoteEntry) -> int:
            """A folder just put in the tree: listed (1), or its entries from ``known``."""
            if entry.etag and unchanged.get(entry.path) == entry.etag:
                self._reuse_subtree(tree, entry, known, exclude)
                return 0
            if due is None or entry.path not in known or due(entry.path):
                # By its own spelling: NFC twins are two folders, both listed.
                return submit(entry.path, entry.href_path)
            return reuse(entry.path, entry.href_path)

        def reuse(folder: RelPath, href: RelPath) -> int:
            """The known entries directly in ``folder``; its due sub-folders are listed."""
            assert due is not None
            submitted = 0
            for journal in children.get(folder, ()):
                name = name_of(journal.path)
                child_href = f"{href}/{name}" if href else name
                if journal.kind is Kind.DIR and due(journal.path):
                    submitted += submit(journal.path, child_href, own=True)
                    continue
                entry = _from_journal(journal, child_href)
                if self._skip(entry, exclude):
                    continue
                tree.add(entry)
                if journal.kind is Kind.DIR:
                    submitted += reuse(journal.path, child_href)
            return submitted

        met = 0  # entries listed so far, refused ones aside
        try:
            outstanding = submit("", "")
            while outstanding:
                future = done.get()
                outstanding -= 1
                own, entries = future.result()
                met += len(entries)
                if met > self._max_entries:
                    raise self._protocol_error(
                        _(
                            "it lists more than {n} files and folders (max_entries in the [sync] "
                            "section of the config; raise it only for a share that really is "
                            "that large)"
                        ).format(n=self._max_entries)
                    )
                if own is not None and not self._skip(own, exclude):
                    tree.add(own)  # a due folder below one taken from the journal
                for entry in entries:
                    if self._is_own_temp(entry):
                        tree.own_temp_files.append(entry.href_path)
                    if entry.kind is Kind.FILE and beacon.is_beacon(entry.path):
                        tree.beacons.append(parent_of(entry.path))
                    if self._skip(entry, exclude):
                        continue
                    tree.add(entry)
                    if entry.kind is Kind.DIR:
                        outstanding += reach(entry)
        finally:
            # On an error, folders not yet listed are not listed at all.
            pool.shutdown(wait=True, cancel_futures=True)
        return tree

    def _is_own_temp(self, entry: RemoteEntry) -> bool:
        name = name_of(entry.path)
        return entry.kind is Kind.FILE and name.startswith(f"{TEMP_PREFIX}{self._temp_tag}-")

    def _skip(self, entry: RemoteEntry, exclude: Callable[[RelPath, bool], bool]) -> bool:
        if entry.path == self._trash_dir:
            return True
        if entry.kind is Kind.FILE and (
            is_temp_name(name_of(entry.path)) or beacon.is_beacon(entry.path)
        ):
            return True
        if entry.kind is Kind.DIR and name_of(entry.path).startswith(PROBE_PREFIX):
            return True  # another agent's probe, gone in a moment
        return exclude(entry.path, entry.kind is Kind.DIR)

    def _reuse_subtree(
        self,
        tree: RemoteTree,
        folder: RemoteEntry,
        known: Mapping[RelPath, JournalEntry],
        exclude: Callable[[RelPath, bool], bool],
    ) -> None:
        for path, journal in known.items():
            if path == folder.path or not is_within(path, folder.path):
                continue
            # Only the folder's own spelling is known here; names below it are taken as NFC.
            entry = _from_journal(journal, folder.href_path + path[len(folder.path) :])
            if not self._skip(entry, exclude):
                tree.add(entry)

    def list_folder(self, path: RelPath) -> list[RemoteEntry]:
        """The files and folders directly in ``path`` (one Depth: 1 PROPFIND); entries the
        path gate refuses are left out (and logged)."""
        refused: list[Refused] = []
        entries = self._list_folder(nfc(path), self._href(path), refused)
        for item in refused:
            log.warning("entry %r of the share refused: %s", item.path, item.reason)
        return entries

    def _list_allowed(
        self, path: RelPath, href: RelPath, tree: RemoteTree, own: bool = False
    ) -> _Listed:
        """A subfolder's entries (and with ``own`` its own entry, None when it is gone), or
        none when the server refuses to list it (kept in ``tree.forbidden``): one folder this
        account may not read does not stop the rest."""
        try:
            url = self._root_url + (quote(href) + "/" if href else "")
            listing, _server = self._propfind(url, path, depth=1)
        except NotFound:
            if not own:
                raise
            return None, []  # gone since the journal's pass: missing from the tree
        except Forbidden as exc:
            log.info("%s", exc)
            tree.forbidden.append(exc)  # list.append is atomic: the listing threads share it
            return None, []
        tree.refused.extend(listing.refused)  # list.extend is atomic too
        tree.listed.add(path)
        entries = [self._entry(item) for item in listing.children]
        return (self._entry(listing.own) if own else None), entries

    def _list_folder(
        self, path: RelPath, href: RelPath, refused: list[Refused]
    ) -> list[RemoteEntry]:
        """The entries of one folder; the gate's refusals are appended to ``refused``
        (list.extend is atomic, and the listing threads share one list)."""
        url = self._root_url + (quote(href) + "/" if href else "")
        listing, _server = self._propfind(url, path, depth=1)
        refused.extend(listing.refused)
        return [self._entry(item) for item in listing.children]

    def stat(self, path: RelPath, *, folder: bool | None = None) -> RemoteEntry | None:
        """The current state of one path, or None when nothing is there. ``folder`` says how
        to address it when the caller knows (default: as last seen)."""
        try:
            listing, _server = self._propfind(self._url(path, folder=folder), path, depth=0)
        except NotFound:
            self._spelling.pop(nfc(path), None)
            self._folders.discard(nfc(path))
            return None
        return self._entry(listing.own)

    def _entry(self, props: Props) -> RemoteEntry:
        path = nfc(props.href_path)
        self._spelling[path] = props.href_path
        if props.is_dir:
            self._folders.add(path)
        else:
            self._folders.discard(path)
        return RemoteEntry(
            path=path,
            kind=Kind.DIR if props.is_dir else Kind.FILE,
            etag=props.etag,
            size=props.size,
            mtime=props.mtime,
            href_path=props.href_path,
            checksum=props.checksum,
            fileid=props.fileid,
        )

    def _propfind(self, url: str, path: RelPath, *, depth: int) -> tuple[Listing, str]:
        """The parsed answer for ``path`` and the server's ``Server`` header."""
        for attempt in range(self._retries + 1):
            response = self._propfind_request(url, path, depth)
            with response:
                if response.status_code != 207:
                    # A 2xx other than a multistatus: the server ignored the method (a web
                    # page answering every request), or is no WebDAV server at all.
                    raise davstatus.not_webdav(url, response.status_code)
                try:
                    listing = self._xml.parse(self._listing_chunks(response), path)
                except _CutShort:
                    if attempt >= self._retries:
                        raise self._protocol_error(_("its answer was cut short")) from None
                    self._sleep(attempt, None)
                    continue
            return listing, response.headers.get("Server", "")
        raise AssertionError("unreachable")  # the loop returns or raises

    def _propfind_request(
        self, url: str, path: RelPath, depth: int, accept: frozenset[int] = frozenset()
    ) -> requests.Response:
        """A PROPFIND whose body is left unread (streamed into the parser by the caller);
        ``depth`` -1 is Depth: infinity."""
        return self._request(
            "PROPFIND",
            url,
            path,
            headers={
                "Depth": "infinity" if depth < 0 else str(depth),
                "Content-Type": "application/xml; charset=utf-8",
            },
            body=lambda: PROPFIND_BODY,
            stream=True,
            accept=accept,
        )

    def _listing_chunks(self, response: requests.Response) -> Iterator[bytes]:
        """The answer's body piece by piece; an announced length past the limit is refused
        before anything is read. A cut connection raises _CutShort."""
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self._xml.max_bytes:
            raise self._xml.too_large()
        try:
            yield from response.iter_content(LISTING_CHUNK)
        except requests.RequestException:
            raise _CutShort() from None

    def _protocol_error(self, detail: str) -> ProtocolError:
        return protocol_error(self._host, detail)

    # --- transfers ------------------------------------------------------------------------

    def upload(
        self,
        source: Path,
        path: RelPath,
        *,
        expected_etag: str | None,
        sha256: str,
        mtime_ns: int,
        size: int,
        learn_state: bool = True,
    ) -> RemoteEntry:
        """Send ``source`` to ``path``: a create when ``expected_etag`` is None, else an update
        that happens only if the share still has that ETag. Parent folders must exist. An
        empty ``expected_etag`` (the listing carries none) sends the update unconditionally:
        the caller has just looked at the share's entry.

        When the server's answer carries no ETag (Apache), the new state is asked for with
        one more request — unless ``learn_state`` is False: then the returned entry has an
        empty etag and the caller learns it later, e.g. one ``list_folder`` per folder.

        So the returned etag is never made up: it is the one the PUT answer carried (``ETag``
        or ``OC-ETag``; via a temp name, the temp upload's, which these servers keep across
        the rename, unless the name holds a URL delimiter), or the listed one, or empty when
        the share has confirmed nothing yet."""
        self._check_size(source, size)
        caps = self._capabilities()
        if caps.atomic_put:
            response = self._upload_direct(
                source, path, expected_etag, sha256, mtime_ns, size, caps
            )
        else:
            response = self._upload_via_temp(source, path, expected_etag, size, mtime_ns)
        checksum = f"SHA256:{sha256}" if caps.nextcloud else None
        return self._after_put(response, path, size, mtime_ns, checksum, learn_state)

    def _upload_direct(
        self,
        source: Path,
        path: RelPath,
        expected_etag: str | None,
        sha256: str,
        mtime_ns: int,
        size: int,
        caps: Capabilities,
    ) -> requests.Response:
        headers = {"Content-Length": str(size)}
        if expected_etag is None:
            headers["If-None-Match"] = "*"
        elif expected_etag:  # "": the listing gave no ETag; the caller looked just before
            headers["If-Match"] = f'"{expected_etag}"'
        if caps.nextcloud:
            headers["X-OC-Mtime"] = str(mtime_ns // 1_000_000_000)
            headers["OC-Checksum"] = f"SHA256:{sha256}"
        return self._put_conditional(source, path, headers, size, mtime_ns, expected_etag)

    def _upload_via_temp(
        self, source: Path, path: RelPath, expected_etag: str | None, size: int, mtime_ns: int
    ) -> requests.Response:
        temp_href = self._href(parent_of(path))
        temp_name = f"{TEMP_PREFIX}{self._temp_tag}-{secrets.token_hex(6)}{TEMP_SUFFIX}"
        temp_href = f"{temp_href}/{temp_name}" if temp_href else temp_name
        temp_url = self._root_url + quote(temp_href)
        self.on_temp_upload(temp_href, True)
        try:
            response = self._put(
                source, temp_url, path, {"Content-Length": str(size)}, size, mtime_ns
            )
            if expected_etag is not None:
                current = self.stat(path)
                if current is None or current.etag != expected_etag:
                    raise davstatus.precondition(path)
            self._move_url(temp_url, self._url(path), path, overwrite=expected_etag is not None)
        except BaseException:
            if self._discard(temp_url, path):
                self.on_temp_upload(temp_href, False)
            raise
        self.on_temp_upload(temp_href, False)
        # The temp name's ETag carries over the rename on these servers, but a name holding a
        # URL delimiter may land elsewhere (wsgidav 4.4 drops what follows ';' or '?' in a
        # Destination): such a name counts as confirmed only once a listing shows it.
        if any(c in path for c in URL_DELIMITERS):
            for header in ("ETag", "OC-ETag"):
                response.headers.pop(header, None)
        return response

    def _put_conditional(
        self,
        source: Path,
        path: RelPath,
        headers: dict[str, str],
        size: int,
        mtime_ns: int,
        expected: str | None,
    ) -> requests.Response:
        """PUT with If-Match/If-None-Match, riding out Apache's weak ETags.

        Apache compares If-Match strongly and sends a weak ETag for about a second after a
        write, so an update right after one gets 412 although nothing changed. When the
        listed ETag still equals the expected one, the PUT is repeated until it turns strong.
        """
        deadline = time.monotonic() + WEAK_ETAG_SECONDS
        while True:
            try:
                return self._put(source, self._url(path), path, headers, size, mtime_ns)
            except PreconditionFailed:
                if expected is None or time.monotonic() > deadline:
                    raise
                current = self.stat(path)
                if current is None or current.etag != expected:
                    raise
                time.sleep(0.2)

    def _put(
        self,
        source: Path,
        url: str,
        path: RelPath,
        headers: dict[str, str],
        size: int,
        mtime_ns: int,
    ) -> requests.Response:
        bodies: list[_FileBody] = []

        def body() -> _FileBody:
            bodies.append(_FileBody(source, size, mtime_ns))
            return bodies[-1]

        try:
            return self._request("PUT", url, path, headers=headers, body=body)
        finally:
            for opened in bodies:
                opened.close()

    def _after_put(
        self,
        response: requests.Response,
        path: RelPath,
        size: int,
        mtime_ns: int,
        checksum: str | None,
        learn_state: bool,
    ) -> RemoteEntry:
        etag = self._comparable_etag(response)
        if not etag and learn_state:
            entry = self.stat(path)
            if entry is None:
                raise NotFound(
                    _("{path} vanished from the share right after upload.").format(path=path)
                )
            return entry
        href = self._href(path)
        self._spelling[nfc(path)] = href
        return RemoteEntry(
            path=nfc(path),
            kind=Kind.FILE,
            etag=normalize_etag(etag or ""),
            size=size,
            mtime=http_date(response.headers.get("Date")) or mtime_ns // 1_000_000_000,
            href_path=href,
            checksum=checksum,
            fileid=response.headers.get("OC-FileId"),
        )

    def _comparable_etag(self, response: requests.Response) -> str:
        """The ETag of a PUT or GET answer, only when the server's listings carry ETags too:
        nginx gives one on GET but lists none, and a journal holding it would see every
        downloaded file as changed at the next listing. Else "" (the listing's state counts)."""
        if not self._known_behaviour().etags_in_listings:
            return ""
        return response.headers.get("OC-ETag") or response.headers.get("ETag") or ""

    def _check_size(self, source: Path, size: int) -> None:
        try:
            actual = source.stat().st_size
        except OSError as exc:
            raise LocalError(
                _("Cannot read {path}: {reason}").format(path=source, reason=exc.strerror)
            ) from None
        if actual != size:
            raise LocalError(
                _("{path} changed since it was scanned; it will be sent on the next pass.").format(
                    path=source
                )
            )

    def download(self, path: RelPath, dest: Sink, *, size: int) -> RemoteEntry:
        """Write the file's bytes into ``dest``; returns the state of what was read.

        ``size`` is the size the listing gave: a body that is longer (reading stops at once)
        or shorter, or a Content-Length that says otherwise, is a BadDownload of this file.
        ``dest`` then holds a part of the body; the caller's temp file is discarded."""
        response = self._request(
            "GET", self._url(path), path, headers={"Accept-Encoding": "identity"}, stream=True
        )
        with response:
            declared = response.headers.get("Content-Length", "").strip()
            if declared and (not declared.isdigit() or int(declared) != size):
                raise self._wrong_size(path, size, declared[:20])
            received = self._copy_body(response, dest, path, size)
            if received != size:
                raise self._wrong_size(path, size, str(received))
            etag = self._comparable_etag(response)
            if not etag and self._known_behaviour().etags_in_listings:
                entry = self.stat(path)
                if entry is None:
                    raise NotFound(
                        _("{path} vanished from the share during download.").format(path=path)
                    )
                return entry
            return RemoteEntry(
                path=nfc(path),
                kind=Kind.FILE,
                etag=normalize_etag(etag or ""),
                size=received,
                mtime=http_date(response.headers.get("Last-Modified")),
                href_path=self._href(path),
                fileid=response.headers.get("OC-FileId"),
            )

    def _copy_body(
        self, response: requests.Response, dest: Sink, path: RelPath, size: int
    ) -> int:
        received = 0
        try:
            for chunk in response.iter_content(CHUNK):
                if received + len(chunk) > size:
                    raise self._wrong_size(path, size, _("more"))
                dest.write(chunk)
                received += len(chunk)
        except requests.RequestException:
            raise self._short_read(path) from None
        return received

    def _short_read(self, path: RelPath) -> BadDownload:
        return BadDownload(
            _("The download of {path} from {host} was cut short; it will be fetched again.").format(
                path=path, host=self._host
            )
        )

    def _wrong_size(self, path: RelPath, listed: int, got: str) -> BadDownload:
        return BadDownload(
            _(
                "The share at {host} listed {path} with {listed} bytes but sent {got}; the file "
                "was not saved. It will be fetched again after the next listing."
            ).format(host=self._host, path=path, listed=listed, got=got)
        )

    # --- folders and names ----------------------------------------------------------------

    def mkdir(self, path: RelPath) -> RemoteEntry:
        """Create one folder; one that already exists is fine, a file in its place is not."""
        status = self._mkcol(self._url(path, folder=True), path)
        entry = self.stat(path, folder=True)
        if entry is None or entry.kind is not Kind.DIR:
            raise self._mkcol_refused(path, status)
        return entry

    def makedirs(self, path: RelPath) -> None:
        """Create every missing level of ``path``."""
        parts = path.split("/")
        for depth in range(1, len(parts)):
            level = "/".join(parts[:depth])
            self._ensure_folder(self._url(level, folder=True), level)
            self._folders.add(nfc(level))  # addressed with its slash from now on (nginx)
        self.mkdir(path)

    def _ensure_folder(self, url: str, path: RelPath) -> None:
        status = self._mkcol(url, path)
        if status >= 300 and not self._is_collection(url, path):
            raise self._mkcol_refused(path, status)

    def _mkcol(self, url: str, path: RelPath) -> int:
        # 405 = something exists there; Apache answers 403 "File exists" when two MKCOLs race.
        return self._request("MKCOL", url, path, accept=frozenset({403, 405})).status_code

    def _mkcol_refused(self, path: RelPath, status: int) -> RemoteError:
        if status == 403:
            return self._status_error("MKCOL", path, status)
        return RemoteError(
            _("Cannot create the folder {path} on the share: a file has that name.").format(
                path=path
            )
        )

    def _is_collection(self, url: str, path: RelPath) -> bool:
        with self._propfind_request(url, path, 0, frozenset({404})) as response:
            if response.status_code != 207:
                return False
            try:
                return self._xml.is_collection(self._listing_chunks(response))
            except _CutShort:
                raise self._protocol_error(_("its answer was cut short")) from None

    def move(self, src: RelPath, dst: RelPath, *, overwrite: bool = False) -> None:
        """Rename ``src`` to ``dst``; existing ``dst`` → PreconditionFailed unless ``overwrite``."""
        folder = nfc(src) in self._folders
        self._move_url(self._url(src), self._url(dst, folder=folder), src, overwrite=overwrite)
        self._copy_folders(src, dst)
        self._forget(src)

    def copy(self, src: RelPath, dst: RelPath, *, overwrite: bool = False) -> None:
        """Server-side COPY; an existing ``dst`` → PreconditionFailed unless ``overwrite``."""
        folder = nfc(src) in self._folders
        headers = {
            "Destination": self._url(dst, folder=folder),
            "Overwrite": "T" if overwrite else "F",
        }
        self._request("COPY", self._url(src), src, headers=headers)
        self._copy_folders(src, dst)

    def _copy_folders(self, src: RelPath, dst: RelPath) -> None:
        """Folders known below ``src`` are folders below ``dst`` now too."""
        src, dst = nfc(src), nfc(dst)
        self._folders |= {dst + p[len(src) :] for p in self._folders if is_within(p, src)}

    def _move_url(self, src_url: str, dst_url: str, path: RelPath, *, overwrite: bool) -> None:
        headers = {"Destination": dst_url, "Overwrite": "T" if overwrite else "F"}
        self._request("MOVE", src_url, path, headers=headers)

    def delete(self, path: RelPath) -> None:
        self._request("DELETE", self._url(path), path)
        self._forget(path)

    def _forget(self, path: RelPath) -> None:
        for known in [p for p in self._spelling if is_within(p, nfc(path))]:
            del self._spelling[known]
        self._folders -= {p for p in self._folders if is_within(p, nfc(path))}

    def cleanup_temp_files(self, names: Iterable[RelPath]) -> None:
        """Remove stale temp uploads (e.g. left by a crash); ones already gone are fine."""
        for name in names:
            if not is_temp_name(name_of(name)):
                raise ValueError(f"not a temp upload name: {name!r}")
            with contextlib.suppress(NotFound):
                self.delete(name)

    def _discard(self, url: str, path: RelPath) -> bool:
        """Delete something of our own; False (logged) when it may still be there."""
        try:
            self._request("DELETE", url, path)
        except NotFound:
            return True
        except RemoteError as exc:
            log.info("temp upload for %s not removed: %s", path, exc)
            return False
        return True

    def _url(self, path: RelPath, *, folder: bool | None = None) -> str:
        """The URL of ``path``; a folder's (``folder``, else as last seen) ends with "/"."""
        if folder is None:
            folder = nfc(path) in self._folders
        href = self._href(path)
        if not href:
            return self._root_url
        return self._root_url + quote(href) + ("/" if folder else "")

    def _href(self, path: RelPath) -> RelPath:
        """The server's spelling of ``path``.

        A path not in NFC is already a server spelling and is used as given; an NFC path is
        spelled as the server last listed it (names it has not shown us stay NFC).
        """
        if not path or path != nfc(path):
            return path
        known = self._spelling.get(path)
        if known is not None:
            return known
        parent = self._href(parent_of(path))
        return f"{parent}/{name_of(path)}" if parent else name_of(path)

    # --- requests, retries, errors ---------------------------------------------------------

    def _request(
        self,
        method: str,
        url: str,
        path: RelPath,
        *,
        headers: dict[str, str] | None = None,
        body: Callable[[], object] | None = None,
        stream: bool = False,
        accept: frozenset[int] = frozenset(),
    ) -> requests.Response:
        """One request with retries; returns a 2xx (or ``accept``ed) response, else raises.
        A redirect that only adds a folder's trailing slash is followed, once."""
        attempt = 0
        redirected = False
        while True:
            log.debug("%s %s", method, url)
            # Opened outside the try: a local file that vanished is the caller's OSError.
            data = body() if body else None
            try:
                response = self._session.request(
                    method,
                    url,
                    headers=headers,
                    data=data,
                    timeout=self._timeout,
                    stream=stream,
                    allow_redirects=False,
                )
            except requests.exceptions.SSLError as exc:
                # Retrying cannot make a certificate trustworthy, nor plain http speak TLS.
                if davstatus.answers_plain_http(exc):
                    raise davstatus.not_https(self._base_url) from None
                raise davstatus.untrusted(self._host) from None
            except (requests.ConnectionError, requests.Timeout, *_CUT_SHORT) as exc:
                if attempt >= self._retries:
                    if isinstance(exc, _CUT_SHORT):
                        raise self._protocol_error(_("its answer was cut short")) from None
                    raise davstatus.unreachable(
                        self._host, self._port, exc, timed_out=isinstance(exc, requests.Timeout)
                    ) from None
                self._sleep(attempt, None)
                attempt += 1
                continue
            except requests.RequestException as exc:
                raise davstatus.unreachable(self._host, self._port, exc, timed_out=False) from None
            except UnicodeDecodeError:
                # requests decodes a redirect's Location even when it follows none.
                raise self._protocol_error(
                    _("it redirected to an address that is not UTF-8 text")
                ) from None
            except OSError:
                # requests raises a bare OSError when the configured CA file is unreadable
                # (the only local file it opens; the request body was opened above).
                raise davstatus.untrusted(self._host) from None
            if response.status_code < 300 or response.status_code in accept:
                return response
            response.close()
            if response.status_code in REDIRECTS:
                location = response.headers.get("Location", "")
                target = None if redirected else _slash_added(url, location)
                if target is None:
                    raise self._redirect_refused(method, path, location)
                url, redirected = target, True
                continue
            if response.status_code in davstatus.RETRY_STATUSES and attempt < self._retries:
                self._sleep(attempt, response.headers.get("Retry-After"))
                attempt += 1
                continue
            raise self._status_error(method, path, response.status_code)

    def _sleep(self, attempt: int, retry_after: str | None) -> None:
        time.sleep(davstatus.retry_delay(attempt, retry_after, self._backoff))

    def _status_error(self, method: str, path: RelPath, status: int) -> RemoteError:
        return davstatus.status_error(self._host, self._user, method, path, status)

    def _redirect_refused(self, method: str, path: RelPath, location: str) -> Redirected:
        return Redirected(
            _(
                "The share at {host} redirected {method} {path} to {location}. hoso follows a "
                "redirect only when it adds a folder's trailing slash on the same server, so "
                "that the login is never sent anywhere else. Check the url in the config (for "
                "example https:// instead of http://, or the share's exact address)."
            ).format(
                host=self._host,
                method=method,
                path=path or "/",
                location=_shown_location(location),
            ),
            location=_shown_location(location),
        )


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _shown_location(location: str) -> str:
    """A redirect's target as it may be shown: ASCII, at most 200 characters, never empty."""
    return location[:200].encode("ascii", "backslashreplace").decode() or "-"


def _slash_added(url: str, location: str) -> str | None:
    """``url`` with a trailing slash when ``location`` points exactly there (same scheme,
    host and port, same path plus "/", no query), else None: the only redirect followed."""
    if not location:
        return None
    asked, target = urlsplit(url), urlsplit(urljoin(url, location))
    try:
        same_origin = (
            asked.scheme == target.scheme
            and asked.hostname == target.hostname
            and (asked.port or _DEFAULT_PORTS.get(asked.scheme))
            == (target.port or _DEFAULT_PORTS.get(target.scheme))
            and target.username is None
            and target.password is None
        )
    except ValueError:  # a port that is not a number
        return None
    if not same_origin or target.query or asked.path.endswith("/"):
        return None
    if unquote(target.path) != unquote(asked.path) + "/":
        return None
    return url + "/"


def _port_of(url: str) -> int:
    parts = urlsplit(url)
    try:
        return parts.port or _DEFAULT_PORTS.get(parts.scheme, 0)
    except ValueError:  # not a number: the request itself fails and says so
        return 0
