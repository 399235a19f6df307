"""Logging for the agent: where records go, and that no secret goes with them.

Every hoso module logs under the ``hoso`` logger (``get_logger(__name__)``);
:func:`setup_logging` gives it a stderr handler (journald-friendly) and a rotating file
``<state_dir>/logs/hoso.log`` (1 MB × 5).

Invariants:
- Every record passes :class:`RedactingFilter` before any of our handlers formats it: its
  message, its arguments, its exception text and stack text are rendered and scrubbed of
  registered secrets, ``Authorization`` header values and ``password=``-style pairs.
- ``hoso`` records do not propagate to the root logger, whose handlers do not redact.
- The log folder is 0700 and every log file, rotated ones included, is 0600.
- Calling :func:`setup_logging` again replaces the handlers it installed; it never stacks them.
"""

from __future__ import annotations

import io
import logging
import os
import re
import sys
import threading
from logging.handlers import RotatingFileHandler
from pathlib import Path
from urllib.parse import quote

from .display import printable, printable_name

ROOT_LOGGER = "hoso"
LOG_FILE_BYTES = 1_000_000
LOG_FILE_COUNT = 5
MASK = "***"

_FILE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_TERMINAL_FORMAT = "%(asctime)s %(levelname)s %(message)s"
# journald stamps each line itself and reads the "<N>" prefix as the syslog priority.
_JOURNAL_FORMAT = "<%(priority)d>%(levelname)s %(name)s: %(message)s"
_PRIORITIES = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}

# Header values, quoted (a dict's repr) or to the end of the line; the scheme stays readable.
_AUTH_HEADER = re.compile(
    r"(?i)(?<![a-z0-9])((?:proxy-)?authorization['\"]?\s*[:=]\s*)(?:(['\"])(.*?)\2|([^\r\n]+))"
)
_AUTH_SCHEME = re.compile(r"(?i)(?:basic|bearer|digest|negotiate|token)\s+")
# Not \b: "app_password" and "HOSO_BACKUP_PASSPHRASE" must match too.
_SECRET_PAIR = re.compile(
    r"(?i)((?<![a-z0-9])(?:password|passwd|passphrase|secret|token|api[_-]?key)"
    r"['\"]?\s*[=:]\s*['\"]?)[^\s'\",;&}\]]+"
)

_secrets: set[str] = set()
_secrets_lock = threading.Lock()
_secret_pattern: re.Pattern[str] | None = None


def get_logger(module: str) -> logging.Logger:
    """The logger for a module: ``get_logger(__name__)`` in ``agent.sync`` → ``hoso.sync``."""
    return logging.getLogger(f"{ROOT_LOGGER}.{module.removeprefix('agent.')}")


def register_secret(value: str) -> None:
    """Have every later log record show ``***`` instead of ``value`` (and its URL-quoted form)."""
    global _secret_pattern
    if not value:
        return  # an empty pattern would match everywhere
    with _secrets_lock:
        _secrets.update({value, quote(value, safe="")})
        ordered = sorted(_secrets, key=len, reverse=True)  # longest first: no partial leftovers
        _secret_pattern = re.compile("|".join(re.escape(s) for s in ordered))


def redact(text: str) -> str:
    """``text`` with registered secrets, Authorization values and password pairs masked."""
    pattern = _secret_pattern
    if pattern is not None:
        text = pattern.sub(MASK, text)
    text = _AUTH_HEADER.sub(_mask_header, text)
    return _SECRET_PAIR.sub(lambda m: m.group(1) + MASK, text)


def _mask_header(match: re.Match[str]) -> str:
    quote_char = match.group(2) or ""
    value = match.group(3) if quote_char else match.group(4)
    scheme = _AUTH_SCHEME.match(value)
    return match.group(1) + quote_char + (scheme.group(0) if scheme else "") + MASK + quote_char


class RedactingFilter(logging.Filter):
    """Renders a record's text once, scrubbed (secrets masked, control characters escaped),
    so no handler can format the raw parts."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            # A text argument is most often a name from the share: its newline would start
            # a log line of the share's own.
            record.args = tuple(printable_name(a) if isinstance(a, str) else a for a in record.args)
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            # Bad %-arguments: logging would print msg and args raw in its error report.
            message = f"{record.msg} {record.args!r}"
        # Names from the share may hold terminal control characters: shown escaped.
        record.msg = printable(redact(message))
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class _PriorityFilter(logging.Filter):
    """Adds ``priority`` (syslog level) for the journal format."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.priority = _PRIORITIES.get(record.levelno, 6)
        return True


class _PrivateRotatingFileHandler(RotatingFileHandler):
    """A RotatingFileHandler whose files, new or rotated, are created 0600."""

    def _open(self) -> io.TextIOWrapper:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.fchmod(fd, 0o600)  # an older file may carry the umask's looser mode
        return open(fd, "a", encoding=self.encoding, errors=self.errors)


def setup_logging(state_dir: Path, *, verbose: bool, to_stderr: bool) -> None:
    """Configure the ``hoso`` logger: INFO (DEBUG when ``verbose``) to the log file and,
    when ``to_stderr``, to standard error as well."""
    logger = logging.getLogger(ROOT_LOGGER)
    reset_logging()
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False
    logger.addHandler(_file_handler(state_dir / "logs"))
    if to_stderr:
        logger.addHandler(_stderr_handler())


def reset_logging() -> None:
    """Remove and close the handlers :func:`setup_logging` installed (tests, re-setup)."""
    logger = logging.getLogger(ROOT_LOGGER)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()


def _file_handler(folder: Path) -> logging.Handler:
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    handler = _PrivateRotatingFileHandler(
        folder / "hoso.log",
        maxBytes=LOG_FILE_BYTES,
        backupCount=LOG_FILE_COUNT,
        encoding="utf-8",
    )
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter(_FILE_FORMAT))
    return handler


def _stderr_handler() -> logging.Handler:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    if stderr_is_journal():
        handler.addFilter(_PriorityFilter())
        handler.setFormatter(logging.Formatter(_JOURNAL_FORMAT))
    else:
        handler.setFormatter(logging.Formatter(_TERMINAL_FORMAT, datefmt="%H:%M:%S"))
    return handler


def stderr_is_journal() -> bool:
    """True when stderr is journald's stream, per ``$JOURNAL_STREAM`` (device:inode)."""
    expected = os.environ.get("JOURNAL_STREAM", "")
    try:
        st = os.fstat(sys.stderr.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    # A child whose stderr was redirected still inherits the variable: compare identities.
    return expected == f"{st.st_dev}:{st.st_ino}"
