"""The control channel's wire: a Unix socket in the state folder, served by the running agent.

A command of the same user asks the agent for something (docs/control.md): it connects to
``<state_dir>/agent.sock``, sends one request line, and reads event lines until one answer
line; then the connection ends. This module moves those lines and checks who is talking; what
a request does is agent/control.py's.

Invariants:
- Only the agent's own user gets an answer: the state folder is 0700, the socket 0600, and the
  peer's uid (SO_PEERCRED) is checked on both ends.
- The socket is bound under a temporary name, made 0600, then renamed into place: it is never
  reachable with a looser mode, and a socket file left by a killed agent is replaced. A stale
  file is harmless to commands too: they ask only while the instance lock is held, and a
  socket nobody listens on refuses the connection.
- Every line has a size limit and every read a timeout, and the request line a deadline in
  all: a silent, flooding or trickling peer costs one thread for a bounded time, never the
  agent's loop.
- A path longer than a socket address allows (108 bytes) is reached through the state folder's
  descriptor (/proc/self/fd/N/agent.sock), so the socket always lives in the state folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import select
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import AgentGone, ControlError
from .i18n import _
from .log import get_logger
from .safepath import private_dir

log = get_logger(__name__)

SOCKET_NAME = "agent.sock"
PROTOCOL = 1
MAX_REQUEST = 64 * 1024  # bytes of one request line
MAX_ANSWER = 64 * 1024 * 1024  # bytes of one answer line (a big pass's report)
READ_REQUEST_TIMEOUT = 5.0  # seconds for a connected peer to send its whole request line
HEARTBEAT = 10.0  # seconds between "still working" lines while a request waits or runs
RELAY_TICK = 0.5  # seconds between looks at whether the agent has stopped
SILENCE_LIMIT = 60.0  # seconds without a line after which the asker gives up
MAX_CONNECTIONS = 8
_SUN_PATH = 108  # bytes of sockaddr_un.sun_path, with its final NUL
_UCRED = struct.Struct("3i")  # pid, uid, gid


def socket_path(state_dir: Path) -> Path:
    return state_dir / SOCKET_NAME


def peer_allowed(peer_uid: int, own_uid: int) -> bool:
    """Only the agent's own user may ask it anything (root included only when it is us)."""
    return peer_uid == own_uid


def peer_credentials(sock: socket.socket) -> tuple[int, int, int]:
    """(pid, uid, gid) of the process at the other end, as the kernel saw it connect."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    pid, uid, gid = _UCRED.unpack(raw)
    return pid, uid, gid


@contextlib.contextmanager
def _address(path: Path) -> Iterator[str]:
    """An address for ``path`` that fits in sun_path (see the module docstring)."""
    if len(os.fsencode(path)) < _SUN_PATH:
        yield str(path)
        return
    fd = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)


# --- the asker's side ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    """An error the agent answered with: its message (in the agent's language), exit code,
    and a code for the cases the asker words itself (``unknown_request``)."""

    message: str
    exit_code: int
    code: str = ""


def ask(
    state_dir: Path,
    name: str,
    args: dict[str, Any],
    *,
    on_event: Callable[[dict[str, Any]], None],
    deadline: float,
    clock: Callable[[], float],
) -> dict[str, Any] | Failure:
    """Send one request to the agent serving ``state_dir`` and wait for its answer.

    Events (``{"event": …}``) go to ``on_event`` as they come. Raises :class:`AgentGone`
    when nobody listens (no agent, an agent of an older hoso, one still starting or already
    gone), :class:`ControlError` when the agent stops answering or ``deadline`` (on
    ``clock``) passes."""
    path = socket_path(state_dir)
    sock = _connect(path)
    try:
        _pid, uid, _gid = peer_credentials(sock)
        if not peer_allowed(uid, os.getuid()):
            raise ControlError(
                _("{path} is served by another user's program; nothing was asked.").format(
                    path=path
                )
            )
        line = json.dumps({"v": PROTOCOL, "request": name, "args": args}, ensure_ascii=False)
        try:
            sock.sendall(line.encode("utf-8") + b"\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered without reading the request (a refusal): the answer is read below
        return _read_answer(sock, on_event, deadline=deadline, clock=clock)
    finally:
        sock.close()


def agent_listening(state_dir: Path) -> bool:
    """Whether an agent takes requests for ``state_dir``: a command holding the instance lock
    (`hoso sync` at work) does not listen, nor does an agent of an older hoso."""
    try:
        sock = _connect(socket_path(state_dir))
    except AgentGone:
        return False
    with sock:
        _pid, uid, _gid = peer_credentials(sock)
        return peer_allowed(uid, os.getuid())


def _connect(path: Path) -> socket.socket:
    """A connection to the agent's socket at ``path``; AgentGone when nobody listens."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(READ_REQUEST_TIMEOUT)
        with _address(path) as address:
            sock.connect(address)
    except (FileNotFoundError, ConnectionRefusedError, NotADirectoryError):
        sock.close()
        raise AgentGone(_("No hoso agent answers at {path}.").format(path=path)) from None
    except OSError as exc:
        sock.close()
        raise ControlError(
            _("Cannot reach the running agent at {path}: {detail}").format(
                path=path, detail=exc.strerror or exc
            )
        ) from None
    return sock


def _read_answer(
    sock: socket.socket,
    on_event: Callable[[dict[str, Any]], None],
    *,
    deadline: float,
    clock: Callable[[], float],
) -> dict[str, Any] | Failure:
    reader = _LineReader(sock, MAX_ANSWER)
    while True:
        left = deadline - clock()
        if left <= 0:
            raise ControlError(
                _(
                    "The running agent did not answer in time (a very long sync pass?). If it had "
                    "started on this request, it finishes it by itself; if not, the request is "
                    "dropped. See `hoso status`, then run the command again if needed."
                )
            )
        sock.settimeout(min(SILENCE_LIMIT, left))
        try:
            message = reader.next()
        except TimeoutError:
            if deadline - clock() <= 0:
                continue  # the deadline's message
            raise ControlError(
                _(
                    "The running agent stopped answering. Look at its log (`journalctl --user "
                    "-u hoso-agent`) and restart it (`systemctl --user restart hoso-agent`)."
                )
            ) from None
        if message is None:
            raise ControlError(
                _("The running agent ended the request without an answer; run the command again.")
            )
        if "event" in message:
            on_event(message)
            continue
        if message.get("ok") is True and isinstance(message.get("result"), dict):
            return dict(message["result"])
        error = message.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            code = error.get("exit_code")
            return Failure(
                error["message"], code if isinstance(code, int) else 1, str(error.get("code", ""))
            )
        raise ControlError(_("The running agent answered something unexpected."))


class _LineReader:
    """JSON objects, one per line, each at most ``limit`` bytes; None at the end."""

    def __init__(self, sock: socket.socket, limit: int) -> None:
        self.sock = sock
        self.limit = limit
        self.buffer = b""

    def next(self, deadline: float | None = None) -> dict[str, Any] | None:
        """The next line; with ``deadline`` (time.monotonic), TimeoutError once it passes,
        however the bytes trickle in (the socket's own timeout is per recv)."""
        while b"\n" not in self.buffer:
            if len(self.buffer) > self.limit:
                raise ControlError(_("The other end of the control channel sent too much."))
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        if len(line) > self.limit:
            raise ControlError(_("The other end of the control channel sent too much."))
        try:
            value = json.loads(line)
        except ValueError:
            raise ControlError(_("The control channel carried a line that is not JSON.")) from None
        if not isinstance(value, dict):
            raise ControlError(_("The control channel carried a line that is not JSON."))
        return value


# --- the agent's side ----------------------------------------------------------------------------


@dataclass
class Call:
    """One request being served: its name and arguments, and the way back to the asker.

    ``emit`` and ``answer`` never block the caller (the agent's loop): lines are queued and
    written by the connection's own thread."""

    name: str
    args: dict[str, Any]
    _out: queue.SimpleQueue[dict[str, Any]] = field(default_factory=queue.SimpleQueue)
    _conn: socket.socket | None = None
    done: threading.Event = field(default_factory=threading.Event)

    def emit(self, event: dict[str, Any]) -> None:
        if not self.done.is_set():
            self._out.put(event)

    def answer(self, result: dict[str, Any]) -> None:
        self._finish({"ok": True, "result": result})

    def fail(self, message: str, exit_code: int, code: str = "") -> None:
        self._finish(
            {"ok": False, "error": {"message": message, "exit_code": exit_code, "code": code}}
        )

    def _finish(self, line: dict[str, Any]) -> None:
        if not self.done.is_set():
            self.done.set()
            self._out.put(line)

    def asker_waiting(self) -> bool:
        """False once the asker has hung up (gave up, interrupted): its request is dropped."""
        if self._conn is None:
            return True
        try:
            # select first: the connection's thread may be writing with a timeout set, and
            # a recv on a socket with a timeout would wait for data.
            readable, _w, _x = select.select([self._conn], [], [], 0)
            return not readable or self._conn.recv(1, socket.MSG_PEEK) != b""
        except (OSError, ValueError):  # ValueError: its thread has closed it (fd -1) meanwhile
            return False


class Listener:
    """Accepts connections on the state folder's socket and hands each well-formed request
    from our own user to ``on_call`` (on the connection's thread; it must not block)."""

    def __init__(
        self,
        state_dir: Path,
        on_call: Callable[[Call], None],
        *,
        own_uid: int | None = None,
    ) -> None:
        self.path = socket_path(state_dir)
        self.on_call = on_call
        self.own_uid = os.getuid() if own_uid is None else own_uid
        self._sock: socket.socket | None = None
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self._closed = threading.Event()
        self._threads: set[threading.Thread] = set()
        self._threads_lock = threading.Lock()

    def start(self) -> None:
        """Bind and listen (replacing a socket file a killed agent left), then accept on a
        thread. The caller holds the instance lock: no live agent uses this file."""
        private_dir(self.path.parent)
        temp = self.path.with_name(f".{SOCKET_NAME}.{os.getpid()}")
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with _address(temp) as address:
                sock.bind(address)
            os.chmod(temp, 0o600)
            os.replace(temp, self.path)
            sock.listen(MAX_CONNECTIONS)
        except OSError:
            sock.close()
            with contextlib.suppress(OSError):
                temp.unlink()
            raise
        self._sock = sock
        threading.Thread(target=self._accept, name="hoso-control", daemon=True).start()

    def close(self, wait: float = 5.0) -> None:
        """Stop accepting, remove the socket file (called before the instance lock is
        released, so the file is still ours), then give the connections up to ``wait``
        seconds to send their last line: a request not carried out is answered "stopping",
        and the command then does the work itself once the lock is free."""
        self._closed.set()
        if self._sock is None:
            return
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        deadline = time.monotonic() + wait
        with self._threads_lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _accept(self) -> None:
        assert self._sock is not None
        while not self._closed.is_set():
            try:
                conn, _addr = self._sock.accept()
            except OSError:
                return  # closed
            if not self._slots.acquire(blocking=False):
                _send_line(conn, _error_line(_("The agent is busy with other requests."), 1))
                conn.close()
                continue
            thread = threading.Thread(
                target=self._serve, args=(conn,), name="hoso-control-conn", daemon=True
            )
            with self._threads_lock:
                self._threads.add(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            self._serve_one(conn)
        except OSError as exc:
            log.info("control connection ended: %s", exc)
        finally:
            conn.close()
            self._slots.release()
            with self._threads_lock:
                self._threads.discard(threading.current_thread())

    def _serve_one(self, conn: socket.socket) -> None:
        pid, uid, _gid = peer_credentials(conn)
        if not peer_allowed(uid, self.own_uid):
            log.warning("control request from uid %d (process %d) refused", uid, pid)
            _send_line(conn, _error_line(_("Only the agent's own user may ask it."), 2, "refused"))
            return
        try:
            message = _LineReader(conn, MAX_REQUEST).next(time.monotonic() + READ_REQUEST_TIMEOUT)
        except TimeoutError:
            _send_line(conn, _error_line(_("No request came in time."), 2))
            return
        except ControlError as exc:
            _send_line(conn, _error_line(str(exc), 2))
            return
        call = _parse_call(message)
        if isinstance(call, str):
            _send_line(conn, _error_line(call, 2))
            return
        call._conn = conn
        if self._closed.is_set():
            call.fail(_("The agent is stopping; run the command again."), 1, "stopping")
        else:
            self.on_call(call)
        self._relay(conn, call)

    def _relay(self, conn: socket.socket, call: Call) -> None:
        """Write the call's events and its answer as they come, with a heartbeat meanwhile.
        Once the listener is closed the agent's loop has ended: a call still unanswered
        never will be, and is answered "stopping"."""
        conn.settimeout(SILENCE_LIMIT)
        last_sent = time.monotonic()
        while True:
            try:
                line = call._out.get(timeout=RELAY_TICK)
            except queue.Empty:
                if self._closed.is_set() and not call.done.is_set():
                    call.fail(_("The agent is stopping; run the command again."), 1, "stopping")
                    continue
                if time.monotonic() - last_sent < HEARTBEAT:
                    continue
                line = {"event": "alive"}
            _send_line(conn, line)
            last_sent = time.monotonic()
            if "ok" in line:
                return


def _parse_call(message: dict[str, Any] | None) -> Call | str:
    """The request in ``message``, or why it is refused."""
    if message is None:
        return _("No request came.")
    if message.get("v") != PROTOCOL:
        return _("This agent speaks another version of the control channel; restart it.")
    name, args = message.get("request"), message.get("args", {})
    if not isinstance(name, str) or not isinstance(args, dict):
        return _("A request needs a name and its arguments.")
    return Call(name, args)


def _error_line(message: str, exit_code: int, code: str = "") -> dict[str, Any]:
    return {"ok": False, "error": {"message": message, "exit_code": exit_code, "code": code}}


def _send_line(conn: socket.socket, line: dict[str, Any]) -> None:
    conn.sendall(json.dumps(line, ensure_ascii=False).encode("utf-8") + b"\n")
