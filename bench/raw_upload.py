"""The fastest possible WebDAV client: the floor every sync tool is measured against.

``upload`` creates every folder first (MKCOL, parents before children, one depth level at a
time in parallel), then sends plain keep-alive PUTs on ``transfers`` threads, one connection per
thread: no conditional headers, no temporary names, no listing. ``walk`` is the matching floor
for noticing changes: one PROPFIND Depth: 1 per folder. ``apply`` is the floor for a known change
set: PUT the changed files, DELETE the removed ones.

Invariants: a request is counted each time it is sent (a retry on a keep-alive connection the
server closed counts twice); any answer other than success raises a RemoteError subclass; the
password is only ever put in the Authorization header.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import os
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

if __package__ in (None, ""):  # run as a script: make `agent` importable from the checkout
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.config import PASSWORD_ENV, Secret  # noqa: E402
from agent.errors import AuthError, RemoteError, UnreachableError  # noqa: E402
from agent.i18n import _  # noqa: E402
from bench.corpus import folders_of  # noqa: E402

DAV = "{DAV:}"
PROPFIND_BODY = (
    b'<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop>'
    b"<D:resourcetype/><D:getcontentlength/><D:getetag/><D:getlastmodified/>"
    b"</D:prop></D:propfind>"
)


@dataclass(frozen=True)
class Target:
    """A collection on a WebDAV server; ``url`` ends with ``/``."""

    url: str
    user: str = ""
    password: Secret = Secret("")


@dataclass(frozen=True)
class Outcome:
    """What one operation did: files and folders touched, bytes sent, requests, wall time."""

    files: int
    folders: int
    bytes: int
    requests: int
    seconds: float


@dataclass(frozen=True)
class Listing:
    """The remote tree as ``walk`` saw it: file path → size, and folder paths (relative)."""

    files: dict[str, int]
    folders: frozenset[str]
    requests: int
    seconds: float


class _Connection:
    """One keep-alive HTTP connection, owned by one thread."""

    def __init__(self, target: Target, counter: _Counter) -> None:
        parts = urlsplit(target.url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port
        self._counter = counter
        self._headers = {"Connection": "keep-alive"}
        if target.user:
            token = f"{target.user}:{target.password.reveal()}".encode()
            self._headers["Authorization"] = "Basic " + base64.b64encode(token).decode()
        self._conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        # A keep-alive connection the server has closed fails on first use; one fresh retry.
        for attempt in (1, 2):
            conn = self._open()
            self._counter.add()
            try:
                conn.request(method, path, body=body, headers={**self._headers, **(headers or {})})
                response = conn.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if attempt == 2:
                    raise _unreachable(self._host) from None
                continue
            except OSError:
                self.close()
                raise _unreachable(self._host) from None
            if response.will_close:
                self.close()
            return response.status, data
        raise AssertionError("unreachable")

    def _open(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._conn = cls(self._host, self._port, timeout=60)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class _Counter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.value = 0

    def add(self) -> None:
        with self._lock:
            self.value += 1


class _Pool:
    """``transfers`` threads, each with its own connection, counting every request sent."""

    def __init__(self, target: Target, transfers: int) -> None:
        self.target = target
        self.base = urlsplit(target.url).path.rstrip("/") + "/"
        self.counter = _Counter()
        self._local = threading.local()
        self._connections: list[_Connection] = []
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=transfers)

    def __enter__(self) -> _Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        self._executor.shutdown(wait=True)
        for conn in self._connections:
            conn.close()

    def map(self, fn: Callable[[_Connection, str], object], items: Iterable[str]) -> list[object]:
        return list(self._executor.map(lambda item: fn(self._connection(), item), items))

    def href(self, rel: str, folder: bool = False) -> str:
        path = self.base + quote(rel) if rel else self.base
        return path + "/" if folder and rel else path

    def _connection(self) -> _Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = _Connection(self.target, self.counter)
            with self._lock:
                self._connections.append(conn)
        return conn


def upload(root: Path, target: Target, transfers: int = 4) -> Outcome:
    """Copy the tree under ``root`` into ``target`` (created if missing) as fast as possible."""
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    started = time.perf_counter()
    with _Pool(target, transfers) as pool:
        folders = _make_folders(pool, [""] + folders_of(files))
        sent = _put_all(pool, root, files)
    return Outcome(len(files), folders, sent, pool.counter.value, time.perf_counter() - started)


def apply(root: Path, target: Target, changed: Iterable[str], deleted: Iterable[str],
          existing: frozenset[str] = frozenset(), transfers: int = 4) -> Outcome:
    """Send a known change set: MKCOL the folders not in ``existing``, PUT, DELETE."""
    changed, deleted = sorted(changed), sorted(deleted)
    started = time.perf_counter()
    with _Pool(target, transfers) as pool:
        folders = _make_folders(pool, [f for f in folders_of(changed) if f not in existing])
        sent = _put_all(pool, root, changed)
        pool.map(lambda conn, rel: _expect(conn, "DELETE", pool.href(rel), (200, 204)), deleted)
    return Outcome(len(changed) + len(deleted), folders, sent, pool.counter.value,
                   time.perf_counter() - started)


def walk(target: Target, transfers: int = 4) -> Listing:
    """List the whole tree under ``target``: PROPFIND Depth: 1 per folder, a level at a time."""
    started = time.perf_counter()
    files: dict[str, int] = {}
    folders: set[str] = set()
    with _Pool(target, transfers) as pool:
        level = [""]
        while level:
            answers = pool.map(lambda conn, rel: _propfind(conn, pool, rel), level)
            level = []
            for sub_files, sub_folders in answers:  # type: ignore[misc]
                files.update(sub_files)
                level += sub_folders
                folders.update(sub_folders)
    return Listing(files, frozenset(folders), pool.counter.value, time.perf_counter() - started)


def _make_folders(pool: _Pool, folders: list[str]) -> int:
    """MKCOL each folder, all of one depth in parallel before the next depth; 405 = exists."""
    by_depth: dict[int, list[str]] = {}
    for folder in folders:
        by_depth.setdefault(folder.count("/") + bool(folder), []).append(folder)
    for depth in sorted(by_depth):
        pool.map(lambda conn, rel: _expect(conn, "MKCOL", pool.href(rel, folder=True), (201, 405)),
                 by_depth[depth])
    return len(folders)


def _put_all(pool: _Pool, root: Path, files: list[str]) -> int:
    # Largest first, so that no big file starts last and leaves three threads idle.
    ordered = sorted(files, key=lambda rel: -(root / rel).stat().st_size)

    def put(conn: _Connection, rel: str) -> object:
        data = (root / rel).read_bytes()
        _expect(conn, "PUT", pool.href(rel), (200, 201, 204), data)
        return len(data)

    return sum(pool.map(put, ordered))  # type: ignore[arg-type]


def _propfind(conn: _Connection, pool: _Pool, rel: str) -> tuple[dict[str, int], list[str]]:
    here = pool.href(rel, folder=True)
    body = _expect(conn, "PROPFIND", here, (207,), PROPFIND_BODY,
                   {"Depth": "1", "Content-Type": "application/xml; charset=utf-8"})
    files: dict[str, int] = {}
    folders: list[str] = []
    # Servers escape hrefs their own way (Apache: lower-case hex): compare unescaped paths.
    base, own = unquote(pool.base), unquote(here).rstrip("/")
    for response in ET.fromstring(body).iter(DAV + "response"):
        href = unquote(urlsplit(response.findtext(DAV + "href") or "").path).rstrip("/")
        if href == own or not href.startswith(base):
            continue
        name = href[len(base):]
        if response.find(f".//{DAV}resourcetype/{DAV}collection") is not None:
            folders.append(name)
        else:
            files[name] = int(response.findtext(f".//{DAV}getcontentlength") or 0)
    return files, folders


def _expect(conn: _Connection, method: str, path: str, ok: tuple[int, ...],
            body: bytes | None = None, headers: dict[str, str] | None = None) -> bytes:
    status, data = conn.request(method, path, body, headers)
    if status in ok:
        return data
    if status in (401, 403) and method != "MKCOL":
        raise AuthError(_("The server refused the login ({method} answered HTTP {status}).")
                        .format(method=method, status=status))
    raise RemoteError(_("{method} {path} answered HTTP {status}.")
                      .format(method=method, path=unquote(path), status=status))


def _unreachable(host: str) -> UnreachableError:
    return UnreachableError(_("Cannot reach the WebDAV server at {host}.").format(host=host))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=f"Upload a folder with plain PUTs (password from ${PASSWORD_ENV}).")
    parser.add_argument("root", type=Path)
    parser.add_argument("url", help="collection to upload into, e.g. http://127.0.0.1:8080/raw/")
    parser.add_argument("--user", default="")
    parser.add_argument("--transfers", type=int, default=4)
    args = parser.parse_args(argv)
    target = Target(args.url.rstrip("/") + "/", args.user, Secret(os.environ.get(PASSWORD_ENV, "")))
    try:
        result = upload(args.root, target, args.transfers)
    except RemoteError as exc:
        print(exc, file=sys.stderr)
        return int(exc.exit_code)
    print(f"{result.files} files, {result.folders} folders, {result.bytes / 2**20:.1f} MB: "
          f"{result.seconds:.2f} s, {result.requests} requests")
    return 0


if __name__ == "__main__":
    sys.exit(main())
