"""The one exception hierarchy of hoso.

Every error the agent raises on purpose derives from :class:`HosoError`. Each class knows
its exit code (the CLI contract in docs/cli.md), its scope (one file, one pass, the whole
agent) and whether retrying later may help. Messages are already translated and never
contain secrets; the CLI prints ``str(error)`` and exits with ``error.exit_code``.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    OK = 0
    PARTIAL = 1  # done, but some items failed (each named on stderr)
    USAGE = 2  # usage or config error; nothing changed
    UNREACHABLE = 3  # server unreachable or login refused; nothing changed
    SAFETY_STOP = 4  # a safety guard stopped the pass; nothing deleted


class Scope(enum.Enum):
    FILE = "file"  # one path failed; the pass goes on and the path is retried later
    PASS = "pass"  # this pass stops; the next one may succeed
    AGENT = "agent"  # the agent cannot work until a person acts


class HosoError(Exception):
    """Base of every error hoso raises deliberately."""

    exit_code: ExitCode = ExitCode.PARTIAL
    scope: Scope = Scope.PASS
    retryable: bool = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(HosoError):
    """The config file or a command-line argument is wrong."""

    exit_code = ExitCode.USAGE
    scope = Scope.AGENT


class UsageError(HosoError):
    """A command was called in a way that cannot work (missing folder, already running...)."""

    exit_code = ExitCode.USAGE
    scope = Scope.AGENT


class RemoteError(HosoError):
    """Something went wrong talking to the WebDAV server."""

    exit_code = ExitCode.PARTIAL
    scope = Scope.FILE


class UnreachableError(RemoteError):
    """The server cannot be reached (DNS, refused connection, timeouts after retries, TLS)."""

    exit_code = ExitCode.UNREACHABLE
    scope = Scope.PASS
    retryable = True

    def __init__(self, message: str, *, problem: str = "") -> None:
        super().__init__(message)
        self.problem = problem or message  # what happened, without what to do about it


class Untrusted(UnreachableError):
    """The share's certificate cannot be verified (or the configured CA file cannot be read)."""


class NotHttps(UnreachableError):
    """An https:// address whose server answers in plain http (TLS "wrong version number")."""


class AuthError(RemoteError):
    """The server refused our login (401/403 on the records root)."""

    exit_code = ExitCode.UNREACHABLE
    scope = Scope.AGENT

    def __init__(self, message: str, *, status: int = 401) -> None:
        super().__init__(message)
        self.status = status  # 401: user or password wrong; 403: that user may not go there


class Forbidden(RemoteError):
    """403 on one path below the synced folder's root: the server does not let this account
    write (or read) it. The path fails alone and is not tried again until its version changes
    (agent/refusals.py); a 403 on the root itself is an :class:`AuthError`."""

    scope = Scope.FILE

    def __init__(self, message: str, *, method: str, path: str) -> None:
        super().__init__(message)
        self.method = method  # what was refused: PUT, MKCOL, DELETE, MOVE, GET, PROPFIND…
        self.path = path  # NFC, relative to the synced folder's root


class UnexpectedAnswer(RemoteError):
    """An HTTP status with no meaning of its own for hoso (named in the message)."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class Redirected(RemoteError):
    """The share sent a request elsewhere (a login page, https, another server): not followed,
    so that the login is never sent anywhere but the share's own address."""

    def __init__(self, message: str, *, location: str) -> None:
        super().__init__(message)
        self.location = location


class ProtocolError(RemoteError):
    """The server answered something we cannot trust (malformed or truncated XML...)."""

    exit_code = ExitCode.PARTIAL
    scope = Scope.PASS
    retryable = True

    def __init__(self, message: str, *, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail  # what was wrong with the answer, without what happens next


class NotWebDav(ProtocolError):
    """The address answers, but not as a WebDAV folder (a web page, a plain web server)."""


class BadDownload(ProtocolError):
    """A download's body was cut short or is not the size the listing gave: that file fails,
    nothing is saved under its name, and the pass goes on."""

    scope = Scope.FILE


class PreconditionFailed(RemoteError):
    """412: the remote file changed since we looked; the path is planned again."""

    scope = Scope.FILE
    retryable = True


class RemoteLocked(RemoteError):
    """423 after retries: someone holds a lock on the file."""

    scope = Scope.FILE
    retryable = True


class QuotaExceeded(RemoteError):
    """507: the share is full; uploads stop for this pass."""

    scope = Scope.PASS
    retryable = True


class NotFound(RemoteError):
    """404 on a path we expected to exist."""

    scope = Scope.FILE
    retryable = True


class NotAFolder(NotFound):
    """The records folder's address names a file: for the agent, its folder is not there."""

    scope = Scope.PASS
    retryable = False


class LocalError(HosoError):
    """A local file operation failed (permissions, disk full, file vanished)."""

    scope = Scope.FILE
    retryable = True


class SafetyStop(HosoError):
    """A guard refused to go on (mass delete, missing records folder, restored server)."""

    exit_code = ExitCode.SAFETY_STOP
    scope = Scope.PASS


class AlreadyRunning(UsageError):
    """Another agent holds the lock of this config's state folder."""

    def __init__(self, message: str, pid: int | None = None) -> None:
        super().__init__(message)
        self.pid = pid  # the holder, when its lock file names it


class ControlError(HosoError):
    """The running agent could not be asked, or stopped answering (the control channel)."""

    exit_code = ExitCode.PARTIAL
    scope = Scope.AGENT


class AgentGone(ControlError):
    """Nobody listens on the control channel (no agent, or one that takes no requests)."""


class UnknownRequest(UsageError):
    """A request (or an argument of one) the agent does not know: an agent of an older hoso."""


class AgentAnswered(HosoError):
    """An error the running agent answered a request with: its message and exit code, as the
    same command run here would have given them."""

    def __init__(self, message: str, exit_code: ExitCode) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class CannotOpen(HosoError):
    """Sealed data that does not open: not an envelope, of another kind or header, truncated,
    altered, or sealed with another key (agent/envelope.py). The format that holds it turns
    this into its own error (a damaged backup file, a damaged vault, a refused bundle)."""

    exit_code = ExitCode.PARTIAL
    scope = Scope.AGENT

    def __init__(self, message: str, *, problem: str) -> None:
        super().__init__(message)
        self.problem = problem  # what is wrong, for the holder's sentence ("… is damaged: …")


class EnvelopeNewer(CannotOpen):
    """A framed envelope of a version above ours: a newer hoso wrote it; update to open it."""

    exit_code = ExitCode.USAGE

    def __init__(self, message: str, *, problem: str, found: int) -> None:
        super().__init__(message, problem=problem)
        self.found = found


class BackupDamaged(HosoError):
    """A backup repository file is missing, truncated or altered (named in the message)."""

    exit_code = ExitCode.PARTIAL
    scope = Scope.AGENT


class WrongPassphrase(HosoError):
    """No key slot of the backup repository opens with the passphrase given."""

    exit_code = ExitCode.USAGE
    scope = Scope.AGENT


class RepositoryNewer(ConfigError):
    """The backup repository was written by a newer hoso (format version above ours)."""


class RepositoryInUse(UsageError):
    """Another hoso process holds the backup repository's lock."""
