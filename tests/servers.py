"""Real HTTP servers for the test suite: four WebDAV servers and two fault injectors.

Every server listens on 127.0.0.1 on a free port, is ready when ``start()`` returns (it is
polled until it answers, with a deadline), and serves a folder of its own on disk. The WebDAV
servers share one interface (:class:`DavServer`) so that a scenario written once runs against
wsgidav, Apache mod_dav, ``rclone serve webdav`` and nginx's dav + dav-ext modules (with and
without a login). :class:`FaultServer` answers whatever a test scripts (401, 423 then 201,
broken XML...) and records what it received;
:class:`CutProxy` forwards TCP to a real server but drops each connection after a number of
request bytes, like a network failure in the middle of an upload.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

READY_SECONDS = 20.0
USER = "giaovien"
PASSWORD = "Sup3r-s3cret-pw-0921"  # distinctive, so leak tests can search for it
COUNT_MARKER = ".count-marker-"  # settled_request_count's requests, never counted


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(condition, timeout: float, what: str) -> None:
    """Poll ``condition`` until it is true; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.02)


class DavServer:
    """A WebDAV server in a subprocess, serving ``data_dir`` with Basic auth for one user."""

    kind = ""
    auth = True  # False: the server takes any login, or none

    def __init__(self) -> None:
        self.user = USER
        self.password = PASSWORD
        # Not under pytest's 0700 tmp tree: Apache's workers (www-data) must traverse it.
        self.base_dir = Path(tempfile.mkdtemp(prefix=f"hoso-{self.kind}-"))
        self.base_dir.chmod(0o755)
        self.data_dir = self.base_dir / "data"
        self.data_dir.mkdir()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self._proc: subprocess.Popen[bytes] | None = None

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        self._prepare()
        log = (self.base_dir / "server.out").open("ab")
        self._proc = subprocess.Popen(
            self._command(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        try:
            wait_until(self._answers, READY_SECONDS, f"{self.kind} on port {self.port}")
        except TimeoutError:
            self.stop()
            output = (self.base_dir / "server.out").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{self.kind} did not start:\n{output}") from None

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        wait_until(lambda: not self._answers(), 10, f"{self.kind} to stop")

    def restart(self) -> None:
        self.stop()
        self.start()

    def remove(self) -> None:
        """Stop and delete everything the server had on disk."""
        self.stop()
        shutil.rmtree(self.base_dir, ignore_errors=True)

    @property
    def pid(self) -> int:
        """The server's main process, which leads a process session of its own (its workers
        included): what a benchmark watches in /proc."""
        if self._proc is None:
            raise RuntimeError(f"{self.kind} is not running")
        return self._proc.pid

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # --- helpers for tests ----------------------------------------------------------------

    def logged_requests(self) -> list[str]:
        """The access-log lines of the HTTP requests the server answered since it was first
        started, without the markers of `settled_request_count`."""
        try:
            text = self._access_log().read_text(errors="replace")
        except FileNotFoundError:
            return []
        lines = (
            text[text.rfind("\n", 0, m.start()) + 1 : _line_end(text, m.end())]
            for m in self._request_line.finditer(text)
        )
        return [line for line in lines if COUNT_MARKER not in line]

    def request_count(self) -> int:
        return len(self.logged_requests())

    def settled_request_count(self) -> int:
        """``request_count()`` once every request sent before this call has been logged.

        Servers log a request after answering it, so a marker request is sent and awaited;
        markers are not counted.
        """
        marker = f"{COUNT_MARKER}{secrets.token_hex(6)}"
        self.request("MKCOL", marker + "/")  # nginx wants a folder's slash
        wait_until(lambda: marker in self._access_log().read_text(errors="replace"), 10,
                   f"{self.kind}'s access log to catch up")
        return self.request_count()

    def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        *,
        login: tuple[str, str] | None = None,
    ) -> tuple[int, bytes]:
        """One raw authenticated request; ``path`` is unquoted, relative to the server root;
        ``login``: (user, password) to send instead of the server's own user's."""
        user, password = login or (self.user, self.password)
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        all_headers = {"Authorization": f"Basic {token}", **(headers or {})}
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, "/" + quote(path.lstrip("/")), body=body, headers=all_headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def own(self, path: Path) -> None:
        """Make something a test wrote straight into ``data_dir`` writable by the server."""

    # --- per kind -------------------------------------------------------------------------

    _request_line = re.compile(r"^$")

    def _prepare(self) -> None:
        raise NotImplementedError

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _access_log(self) -> Path:
        raise NotImplementedError

    def _answers(self) -> bool:
        if self._proc is not None and self._proc.poll() is not None:
            raise RuntimeError(f"{self.kind} exited with code {self._proc.returncode}")
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
        try:
            conn.request("OPTIONS", "/")
            conn.getresponse().read()
            return True
        except OSError:
            return False
        finally:
            conn.close()


class WsgiDavServer(DavServer):
    kind = "wsgidav"
    # wsgidav's verbose-3 request summary: '... - [time] "PUT /a.txt" length=3, ... -> 201 Created'
    _request_line = re.compile(r'\] "[A-Z]+ [^"]*" .*-> \d{3}', re.MULTILINE)

    def _prepare(self) -> None:
        config = {
            "host": "127.0.0.1",
            "port": self.port,
            "provider_mapping": self._provider_mapping(),
            "http_authenticator": {
                "domain_controller": None,
                "accept_basic": True,
                "accept_digest": False,
                "default_to_digest": False,
            },
            "simple_dc": {"user_mapping": self._user_mapping()},
            "verbose": 3,
            "dir_browser": {"enable": False},
            "property_manager": True,
            "lock_storage": True,
        }
        (self.base_dir / "wsgidav.json").write_text(json.dumps(config))

    def _provider_mapping(self) -> dict[str, str]:
        return {"/": str(self.data_dir)}

    def _user_mapping(self) -> dict[str, dict[str, dict[str, str]]]:
        return {"*": {self.user: {"password": self.password}}}

    def _command(self) -> list[str]:
        script = Path(sys.executable).with_name("wsgidav")
        return [str(script), "--config", str(self.base_dir / "wsgidav.json")]

    def _access_log(self) -> Path:
        return self.base_dir / "server.out"


class ApacheServer(DavServer):
    """Apache as Debian ships it: the modules of a stock install (mods-enabled: mod_dir with
    ``DirectorySlash On``, which answers a folder asked without its slash with 301, deflate,
    negotiation, autoindex...) plus mod_dav/mod_dav_fs, as a school's administrator enables them."""

    kind = "apache"
    _request_line = re.compile(r'^\S+ \S+ \S+ \[[^]]+\] "[A-Z]+ ', re.MULTILINE)
    _debian_modules = Path("/etc/apache2/mods-enabled")
    # What a share needs, loaded unless the stock set has it already (dir: the 301 case).
    _modules = (
        "mpm_event", "authz_core", "authn_core", "authn_file", "auth_basic", "authz_user",
        "dir", "dav", "dav_fs",
    )

    def _prepare(self) -> None:
        base = self.base_dir
        for number, (user, password) in enumerate(self._logins().items()):
            create = ["-c"] if number == 0 else []
            subprocess.run(
                ["htpasswd", "-b", *create, str(base / "htpasswd"), user, password],
                check=True, capture_output=True,
            )
        lines = []
        if self._debian_modules.is_dir():
            lines += [
                f"IncludeOptional {self._debian_modules}/*.load",
                f"IncludeOptional {self._debian_modules}/*.conf",
            ]
        for module in self._modules:
            if module.startswith("mpm_") and lines:
                continue  # the stock set brings its own MPM; a second one is an error
            lines += [
                f"<IfModule !{module}_module>",
                f"  LoadModule {module}_module /usr/lib/apache2/modules/mod_{module}.so",
                "</IfModule>",
            ]
        lines += [
            "ServerName 127.0.0.1",
            f"Listen 127.0.0.1:{self.port}",
            f"PidFile {base}/httpd.pid",
            f"DefaultRuntimeDir {base}",
            f"Mutex file:{base} default",
            f"ErrorLog {base}/error.log",
            'LogFormat "%h %l %u %t \\"%r\\" %>s %b" common',
            f"CustomLog {base}/access.log common",
            f"DavLockDB {base}/davlock",
            f"DocumentRoot {self.data_dir}",
            f'<Directory "{self.data_dir}">',
            "  Dav On",
            "  Options None",
            "  AllowOverride None",
            "  AuthType Basic",
            "  AuthName hoso",
            f"  AuthUserFile {base}/htpasswd",
            "  Require valid-user",
            "</Directory>",
            *self._access(),
        ]
        if os.geteuid() == 0:
            lines += ["User www-data", "Group www-data"]
        (base / "httpd.conf").write_text("\n".join(lines) + "\n")
        self.own(base)
        self.own(self.data_dir)

    def _logins(self) -> dict[str, str]:
        return {self.user: self.password}

    def _access(self) -> list[str]:
        """Config lines after the share's own <Directory>: who may do what below it."""
        return []

    def _command(self) -> list[str]:
        return ["apache2", "-f", str(self.base_dir / "httpd.conf"), "-DFOREGROUND"]

    def _access_log(self) -> Path:
        return self.base_dir / "access.log"

    def own(self, path: Path) -> None:
        if os.geteuid() != 0:
            return
        entry = pwd.getpwnam("www-data")
        for item in [path, *(path.rglob("*") if path.is_dir() else [])]:
            os.chown(item, entry.pw_uid, entry.pw_gid, follow_symlinks=False)


class RcloneServer(DavServer):
    kind = "rclone"
    # With -v rclone logs one INFO line per served request: "INFO  : /a.txt: PUT from 127.0.0.1:…"
    _request_line = re.compile(r"INFO  : .*: [A-Z]+ from 127\.0\.0\.1:\d+$", re.MULTILINE)

    def _prepare(self) -> None:
        (self.base_dir / "rclone.conf").touch()

    def _command(self) -> list[str]:
        return [
            "rclone", "serve", "webdav", str(self.data_dir),
            "--addr", f"127.0.0.1:{self.port}",
            "--user", self.user, "--pass", self.password,
            "--config", str(self.base_dir / "rclone.conf"),
            # Tests also change data_dir directly; rclone must not serve a stale listing.
            "--dir-cache-time", "0s", "--poll-interval", "0",
            "-v", "--log-file", str(self._access_log()),
        ]

    def _access_log(self) -> Path:
        return self.base_dir / "rclone.log"


class NginxServer(DavServer):
    """nginx as Debian ships it (``nginx`` + ``libnginx-mod-http-dav-ext``), configured the way
    a school's NAS or admin does: ``dav_methods`` + ``dav_ext_methods``, Basic auth from an
    htpasswd file. One process (``master_process off``), every path in ``base_dir``.

    nginx hides dot-names from listings, lists no ETags and ignores If-Match on writes; see
    /docs/sync.md for what hoso does about each."""

    kind = "nginx"
    _request_line = re.compile(r'^\S+ \S+ \S+ \[[^]]+\] "[A-Z]+ ', re.MULTILINE)
    _module = Path("/usr/lib/nginx/modules/ngx_http_dav_ext_module.so")
    auth = True

    def _prepare(self) -> None:
        base = self.base_dir
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (base / sub).mkdir(exist_ok=True)
        # nginx reads "{PLAIN}" entries of an htpasswd file as they are: no htpasswd needed.
        (base / "htpasswd").write_text(f"{self.user}:{{PLAIN}}{self.password}\n")
        auth = (
            ['auth_basic "hoso";', f"auth_basic_user_file {base}/htpasswd;"] if self.auth else []
        )
        lines = [
            f"load_module {self._module};",
            "daemon off;",
            "master_process off;",
            "worker_processes 1;",
            f"pid {base}/nginx.pid;",
            f"error_log {base}/error.log info;",
            "events { worker_connections 256; }",
            "http {",
            f"  access_log {base}/access.log;",
            f"  client_body_temp_path {base}/body;",
            f"  proxy_temp_path {base}/proxy;",
            f"  fastcgi_temp_path {base}/fastcgi;",
            f"  uwsgi_temp_path {base}/uwsgi;",
            f"  scgi_temp_path {base}/scgi;",
            "  client_max_body_size 0;",
            "  server {",
            f"    listen 127.0.0.1:{self.port};",
            f"    root {self.data_dir};",
            "    location / {",
            "      dav_methods PUT DELETE MKCOL COPY MOVE;",
            "      dav_ext_methods PROPFIND OPTIONS;",
            "      create_full_put_path on;",
            "      dav_access user:rw group:r all:r;",
            *(f"      {line}" for line in auth),
            "    }",
            "  }",
            "}",
        ]
        (base / "nginx.conf").write_text("\n".join(lines) + "\n")

    def _command(self) -> list[str]:
        # -e: nginx opens its compiled-in error log before reading the config.
        return ["nginx", "-c", str(self.base_dir / "nginx.conf"), "-p", str(self.base_dir),
                "-e", str(self.base_dir / "error.log")]

    def _access_log(self) -> Path:
        return self.base_dir / "access.log"


class AnonymousNginxServer(NginxServer):
    """The same nginx without any login: a share opened to the school's network. The client
    still sends its credentials (nginx ignores them), as an agent configured with a login does."""

    kind = "nginx-anon"
    auth = False


# --- a school's share: several accounts, a folder each and one for all ----------------------

PRINCIPAL = "hieutruong"  # the principal's account: may write everywhere
TEACHERS = ("lan", "minh")
SHARED = "truong"  # the school folder, /truong/ on the server
SCHOOL_PASSWORDS = {
    "lan": "Lan-school-pw-4471",
    "minh": "Minh-school-pw-9082",
    PRINCIPAL: "Hieu-truong-pw-3306",
}


class _SchoolLayout:
    """What the school servers share: every teacher has ``/<login>/``, which only they can
    read and write; ``/truong/`` is for all of them, and the teachers named in ``read_only``
    may only read it there (their writes answer 403, as a Nextcloud group folder's ACL does).
    The principal's account is the server's own user (``user``/``password``)."""

    data_dir: Path
    read_only: tuple[str, ...] = ()

    def _school_init(self, read_only: tuple[str, ...]) -> None:
        self.read_only = read_only
        self.user, self.password = PRINCIPAL, SCHOOL_PASSWORDS[PRINCIPAL]
        for folder in (*TEACHERS, SHARED):
            (self.data_dir / folder).mkdir()

    def writers(self) -> tuple[str, ...]:
        return tuple(u for u in (*TEACHERS, PRINCIPAL) if u not in self.read_only)


class SchoolApacheServer(_SchoolLayout, ApacheServer):
    """Apache (Debian's modules, as :class:`ApacheServer`) with the school's accounts.

    ``AuthzSendForbiddenOnFailure On``: a logged-in teacher refused a write gets 403, as from
    Nextcloud; Apache's default answers 401 (which a client takes for a wrong password)."""

    kind = "apache"

    def __init__(self, read_only: tuple[str, ...] = ()) -> None:
        super().__init__()
        self._school_init(read_only)

    def _logins(self) -> dict[str, str]:
        return dict(SCHOOL_PASSWORDS)

    def _access(self) -> list[str]:
        readers = " ".join((*TEACHERS, PRINCIPAL))
        lines = [
            f'<Directory "{self.data_dir}">', "  AuthzSendForbiddenOnFailure On", "</Directory>",
        ]
        for teacher in TEACHERS:
            lines += [f'<Directory "{self.data_dir / teacher}">', f"  Require user {teacher}",
                      "</Directory>"]
        lines.append(f'<Directory "{self.data_dir / SHARED}">')
        if self.read_only:
            lines += [
                "  <Limit GET HEAD OPTIONS PROPFIND>",
                f"    Require user {readers}",
                "  </Limit>",
                "  <LimitExcept GET HEAD OPTIONS PROPFIND>",
                f"    Require user {' '.join(self.writers())}",
                "  </LimitExcept>",
            ]
        else:
            lines.append(f"  Require user {readers}")
        return [*lines, "</Directory>"]


class SchoolWsgiDavServer(_SchoolLayout, WsgiDavServer):
    """wsgidav with a share per teacher (``/lan``, ``/minh``: only that login) and a shared
    mapping ``/truong`` every account may use; ``/`` is the principal's. (wsgidav cannot make
    one share read-only for one user: its read-only shares answer 405 to everybody.)"""

    def __init__(self) -> None:
        super().__init__()
        self._school_init(())

    def _provider_mapping(self) -> dict[str, str]:
        folders = {f"/{name}": str(self.data_dir / name) for name in (*TEACHERS, SHARED)}
        return {"/": str(self.data_dir), **folders}

    def _user_mapping(self) -> dict[str, dict[str, dict[str, str]]]:
        def logins(*users: str) -> dict[str, dict[str, str]]:
            return {u: {"password": SCHOOL_PASSWORDS[u]} for u in users}

        return {
            "/": logins(PRINCIPAL),
            **{f"/{teacher}": logins(teacher) for teacher in TEACHERS},
            f"/{SHARED}": logins(*TEACHERS, PRINCIPAL),
        }


@dataclass(frozen=True)
class SchoolAccount:
    """One teacher's login on a school share: their own folder is ``url`` + ``home``."""

    user: str
    password: str
    url: str  # the server's base address
    home: str  # their own folder under it ("lan")


@dataclass
class SchoolShare:
    """A started school server, for end-to-end tests (start one with :func:`school_share`).

    - ``account(login)``: a teacher's login, address and own folder (``"lan"``, ``"minh"``);
    - ``folder_url``: the school folder's whole address (``[school] folder_url``); the same
      folder is also ``"/truong"`` as a path on the server;
    - ``put(rel, data, as_user=PRINCIPAL)``: a file put into the school folder over WebDAV
      (the principal by default), the HTTP status back;
    - ``path(rel)``: a file of the school folder on the server's disk, to inspect;
    - ``server``: the DavServer (its access log: ``logged_requests()``).
    """

    server: DavServer

    @property
    def folder_url(self) -> str:
        return f"{self.server.url}{SHARED}/"

    def account(self, user: str) -> SchoolAccount:
        return SchoolAccount(user, SCHOOL_PASSWORDS[user], self.server.url, user)

    def records(self, user: str) -> Share:
        """A teacher's own folder as the records share of their agent (tests/agents.py)."""
        return Share(
            self.server, self.server.url, user, user, SCHOOL_PASSWORDS[user],
            self.server.data_dir / user,
        )

    def path(self, rel: str = "") -> Path:
        return self.server.data_dir / SHARED / rel

    def put(self, rel: str, data: bytes, *, as_user: str = PRINCIPAL) -> int:
        login = (as_user, SCHOOL_PASSWORDS[as_user])
        parts = rel.split("/")
        for depth in range(1, len(parts)):
            self.server.request("MKCOL", f"{SHARED}/{'/'.join(parts[:depth])}/", login=login)
        status, _body = self.server.request("PUT", f"{SHARED}/{rel}", data, login=login)
        return status

    def requests(self, method: str, rel: str, status: int | None = None) -> list[str]:
        """The access-log lines of ``method`` on ``rel`` in the school folder (with that
        status when given). Apache logs the quoted path from the server's root; wsgidav the
        path within the share the request went to (so ``rel`` in any share matches)."""
        if self.server.kind == "apache":
            target = f'"{method} /{SHARED}/{quote(rel)}'
        else:
            target = f'"{method} /{rel}'
        self.server.settled_request_count()  # every request sent so far is in the log
        return [
            line
            for line in self.server.logged_requests()
            if target in line
            and (status is None or f" {status} " in line or f"-> {status}" in line)
        ]


SCHOOL_KINDS = ("apache", "wsgidav")


def school_share(kind: str, *, read_only: tuple[str, ...] = ()) -> SchoolShare:
    """Start a school share of ``kind`` ("apache" or "wsgidav"); the caller stops it with
    ``share.server.remove()``. ``read_only``: teachers who may only read the school folder
    (Apache only)."""
    if kind == "apache":
        server: DavServer = SchoolApacheServer(read_only)
    elif read_only:
        raise ValueError("wsgidav cannot make the school folder read-only for one user")
    else:
        server = SchoolWsgiDavServer()
    server.start()
    return SchoolShare(server)


SERVERS: dict[str, type[DavServer]] = {
    "wsgidav": WsgiDavServer,
    "apache": ApacheServer,
    "rclone": RcloneServer,
    "nginx": NginxServer,
    "nginx-anon": AnonymousNginxServer,
}
BINARIES = {
    "wsgidav": None, "apache": "apache2", "rclone": "rclone", "nginx": "nginx",
    "nginx-anon": "nginx",
}


def missing_binary(kind: str) -> str | None:
    """The name of the program (or module) a server kind needs when it is not installed,
    else None."""
    binary = BINARIES[kind]
    if binary and shutil.which(binary) is None:
        return binary
    if binary == "nginx" and not NginxServer._module.is_file():
        return "libnginx-mod-http-dav-ext"
    return None


# --- fault injection -----------------------------------------------------------------------


@dataclass(frozen=True)
class Share:
    """A fresh, empty folder on a WebDAV server: ``url`` + ``remote_dir`` is the records root."""

    server: DavServer
    url: str
    remote_dir: str
    user: str
    password: str
    path: Path  # the same folder on the server's disk


@dataclass(frozen=True)
class Answer:
    """One scripted reply. ``declared_length`` > len(body) sends a truncated body, then closes.

    ``stream`` makes the body: its chunks are sent as they are made (never held whole), with
    ``declared_length`` as Content-Length if given, else none (the end is the connection's
    close); ``sent`` then counts the bytes that went out before the client hung up."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    declared_length: int | None = None
    stream: Callable[[], Iterator[bytes]] | None = None
    sent: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Received:
    method: str
    path: str  # unquoted
    headers: dict[str, str]
    body: bytes
    at: float


class FaultServer:
    """A tiny HTTP server that answers what the test scripted, per method and path.

    ``script(method, path, *answers)`` sets the answers for that request: each request takes
    the next one, and the last repeats. A ``path`` ending in "/" is answered only to requests
    that end in "/" (a folder asked with its slash); other paths match with or without one.
    Unscripted requests get ``default`` (404). ``received`` lists every request in order.
    """

    def __init__(self) -> None:
        self.default = Answer(404)
        self.received: list[Received] = []
        self._answers: dict[tuple[str, str], deque[Answer]] = {}
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(self._respond))
        self._httpd.daemon_threads = True
        self.port = int(self._httpd.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}/"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> FaultServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def script(self, method: str, path: str, *answers: Answer) -> None:
        with self._lock:
            self._answers[(method, _key(path))] = deque(answers)

    def requests_for(self, method: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.method == method]

    def _next_answer(self, method: str, path: str) -> Answer:
        with self._lock:
            queue = self._answers.get((method, _key(path))) if path.endswith("/") else None
            queue = queue or self._answers.get((method, "/" + path.strip("/")))
            if not queue:
                return self.default
            return queue.popleft() if len(queue) > 1 else queue[0]

    def _respond(
        self, method: str, path: str, raw_path: str, headers: dict[str, str], body: bytes
    ) -> Answer:
        with self._lock:
            self.received.append(Received(method, path, headers, body, time.monotonic()))
        return self._next_answer(method, path)


def _key(path: str) -> str:
    """A script key: the path with one leading slash; a trailing slash is kept only when the
    path is a folder's with its slash (``path`` ends in "/" and is not the server root)."""
    stripped = "/" + path.strip("/")
    return stripped + "/" if path.endswith("/") and stripped != "/" else stripped


Responder = Callable[[str, str, str, dict[str, str], bytes], Answer]


class ScriptedHandler(BaseHTTPRequestHandler):
    """Reads one request, asks ``respond(method, path, raw_path, headers, body)`` for the
    Answer and sends it; a ``declared_length`` longer than the body cuts the answer short."""

    protocol_version = "HTTP/1.1"
    respond: Responder

    def log_message(self, format: str, *args: object) -> None:
        return

    def handle_one_request(self) -> None:
        self.raw_requestline = self.rfile.readline(65537)
        if not self.raw_requestline or not self.parse_request():
            self.close_connection = True
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = unquote(urlsplit(self.path).path)
        answer = type(self).respond(self.command, path, self.path, dict(self.headers), body)
        if answer.stream is not None:
            self._send_stream(answer)
            return
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        declared = answer.declared_length
        self.send_header("Content-Length", str(len(answer.body) if declared is None else declared))
        self.end_headers()
        self.wfile.write(answer.body)
        self.wfile.flush()
        if declared is not None and declared > len(answer.body):
            self.close_connection = True

    def _send_stream(self, answer: Answer) -> None:
        self.close_connection = True
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        if answer.declared_length is not None:
            self.send_header("Content-Length", str(answer.declared_length))
        self.send_header("Connection", "close")
        self.end_headers()
        sent = 0
        try:
            for chunk in answer.stream():
                self.wfile.write(chunk)
                sent += len(chunk)
        except OSError:
            pass  # the client hung up: what we want to see
        answer.sent.append(sent)


def handler_for(respond: Responder) -> type[ScriptedHandler]:
    return type("Handler", (ScriptedHandler,), {"respond": staticmethod(respond)})


# --- crafted WebDAV answers -------------------------------------------------------------------

ROOT = "dav"  # the remote folder a FaultServer's scripted answers describe


def multistatus(*responses: str, fileid: bool = False) -> bytes:
    """A ``DAV:multistatus`` document of the given ``dav_response`` parts."""
    return (
        '<?xml version="1.0"?><d:multistatus xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns">'
        + "".join(responses)
        + "</d:multistatus>"
    ).encode()


def dav_response(href: str, etag: str = "e", *, folder: bool = False, extra: str = "") -> str:
    """One ``DAV:response``: a folder, or a file of 3 bytes; ``extra`` adds properties."""
    kind = "<d:collection/>" if folder else ""
    length = "" if folder else "<d:getcontentlength>3</d:getcontentlength>"
    return (
        f"<d:response><d:href>{href}</d:href><d:propstat><d:prop>"
        f"<d:resourcetype>{kind}</d:resourcetype><d:getetag>\"{etag}\"</d:getetag>{length}"
        f"<d:getlastmodified>Sun, 29 Nov 2026 02:59:06 GMT</d:getlastmodified>{extra}"
        "</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat>"
        "<d:propstat><d:prop><oc:fileid/></d:prop><d:status>HTTP/1.1 404 Not Found</d:status>"
        "</d:propstat></d:response>"
    )


# Every spelling of a name that must never become a path in the records folder, as a server
# might list it in the root folder: encoded or not, upper or lower case hex, NFD, Windows
# separators, control characters (C0, DEL, C1), bytes that are not UTF-8, hrefs elsewhere.
HOSTILE_ROOT_HREFS = {
    f"/{ROOT}/%2E%2E/": "..",
    f"/{ROOT}/%2e%2e/": "..",
    f"/{ROOT}/../": "..",
    f"/{ROOT}/%2E/": ".",
    f"/{ROOT}/./": ".",
    f"/{ROOT}//evil.txt": "/evil.txt",
    f"/{ROOT}/..%2F..%2Fevil.txt": "..%2F..%2Fevil.txt",
    f"/{ROOT}/a%2Fb.txt": "a%2Fb.txt",
    f"/{ROOT}/..%5C..%5Cevil.txt": "..\\..\\evil.txt",
    f"/{ROOT}/..\\..\\evil2.txt": "..\\..\\evil2.txt",
    f"/{ROOT}/nul%00.txt": "nul\x00.txt",
    f"/{ROOT}/esc%1B%5B2J.txt": "esc\x1b[2J.txt",
    f"/{ROOT}/bel%07.txt": "bel\x07.txt",
    f"/{ROOT}/del%7F.txt": "del\x7f.txt",
    f"/{ROOT}/csi%C2%9B31m.txt": "csi\x9b31m.txt",
    f"/{ROOT}/Tua%CC%82%CC%80n%0A.txt": "Tuần\n.txt",  # NFD with a newline
    f"/{ROOT}/latin1%FF.txt": "latin1%FF.txt",
    f"/{ROOT}/Tu%E1%BA%A7n%201/deep.txt": "Tuần 1/deep.txt",  # not directly in the root
    "/other/evil.txt": "/other/evil.txt",  # outside the records folder
}


HOSTILE_DEEPER = {"Tuần 1/../../evil.pth", "Tuần 1/..%2Fevil.pth", "Tuần 1/a\\b.txt"}


def hostile_listing(fault: FaultServer) -> None:
    """A root folder listing every hostile href beside a sound folder, a sound file in it, and
    a double-encoded "%252E%252E" folder, which decodes once to the harmless name "%2E%2E"."""
    files = [dav_response(href, folder=href.endswith("/")) for href in HOSTILE_ROOT_HREFS]
    fault.script("PROPFIND", ROOT, Answer(207, body=multistatus(
        dav_response(f"/{ROOT}/", "r", folder=True),
        dav_response(f"/{ROOT}/Tu%E1%BA%A7n%201/", "t", folder=True),
        dav_response(f"/{ROOT}/%252E%252E/", "d", folder=True),
        *files,
    )))
    fault.script("PROPFIND", f"{ROOT}/Tuần 1", Answer(207, body=multistatus(
        dav_response(f"/{ROOT}/Tu%E1%BA%A7n%201/", "t", folder=True),
        dav_response(f"/{ROOT}/Tu%E1%BA%A7n%201/ok.txt", "ok"),
        dav_response(f"/{ROOT}/Tu%E1%BA%A7n%201/%2E%2E/%2E%2E/evil.pth"),
        dav_response(f"/{ROOT}/Tu%E1%BA%A7n%201/..%2Fevil.pth"),
        # A name an older hoso accepted (a local file may have it): refused, never deleted.
        dav_response(f"/{ROOT}/Tu%E1%BA%A7n%201/a%5Cb.txt"),
    )))
    fault.script("PROPFIND", f"{ROOT}/%2E%2E", Answer(207, body=multistatus(
        dav_response(f"/{ROOT}/%252E%252E/", "d", folder=True),
        dav_response(f"/{ROOT}/%252E%252E/x.txt", "x"),
    )))


class CutProxy:
    """Forwards TCP to ``target_port``, but closes any connection whose client has sent more
    than ``cut_after`` bytes: a network failure in the middle of a large request body."""

    def __init__(self, target_port: int, cut_after: int) -> None:
        self.target_port = target_port
        self.cut_after = cut_after
        self.cuts = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}/"
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self) -> None:
        self._stopped = True
        self._listener.close()

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, counted: bool) -> None:
        sent = 0
        try:
            while chunk := source.recv(65536):
                if counted and sent + len(chunk) > self.cut_after:
                    sink.sendall(chunk[: self.cut_after - sent])
                    self.cuts += 1
                    break
                sink.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


def _line_end(text: str, at: int) -> int:
    end = text.find("\n", at)
    return len(text) if end < 0 else end
