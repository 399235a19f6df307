"""`hoso init`: write a new agent's config and password file, after checking the login.

Nothing is written when anything is wrong: an existing config (without force), a bad URL,
an http:// address to another computer without ``allow_insecure_http``, a refused login or an
unreachable share all stop before the first file is touched.

What goes wrong here is said in the terms of what the person just typed (the address, the
user, the password: there is no config file yet) and where they typed it (:class:`Typed`: at
the terminal, in an environment variable, or in the teacher's page's first-run wizard, which
calls :func:`initialise` exactly as `hoso init` does), with the exit codes of the CLI contract:
2 for an address that is wrong (not found, a file, not WebDAV, https:// to a plain-http
server, a redirect elsewhere), 3 for a share that cannot be reached or refuses the login.
"""

from __future__ import annotations

import contextlib
import enum
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import SplitResult, urljoin, urlsplit

from . import config as configmod
from . import davstatus, durable
from .config import Config, Secret, is_loopback
from .errors import (
    AuthError,
    ConfigError,
    NotAFolder,
    NotFound,
    NotHttps,
    NotWebDav,
    ProtocolError,
    Redirected,
    UnreachableError,
    Untrusted,
)
from .i18n import _
from .model import has_control
from .remote import Remote
from .roles import key_fingerprint
from .vault import WEBDAV, Vault, vault_path

EXAMPLE_URL = "https://cloud.truong.edu.vn/remote.php/dav/files/lan/"
# Nextcloud's per-user WebDAV folder: …/dav/files/LOGIN/
_DAV_FILES = re.compile(r"(/dav/files/)([^/]+)")


class Typed(enum.Enum):
    """Where the person gave the address and password: what a message tells them to retype."""

    TERMINAL = "terminal"  # `hoso init`, the password at its prompt
    ENVIRONMENT = "environment"  # `hoso init`, the password in HOSO_WEBDAV_PASSWORD
    PAGE = "page"  # the teacher's page's first-run wizard (agent/web/pages/setup.py)


@dataclass(frozen=True)
class InitResult:
    config: Config
    checked: bool


def initialise(
    path: Path,
    *,
    root: Path,
    url: str,
    remote_dir: str,
    user: str,
    password: Secret,
    force: bool,
    check: bool,
    state_dir: str = "",
    allow_insecure_http: bool = False,
    typed: Typed = Typed.TERMINAL,
    ca_file: Path | None = None,
    school_key: str = "",
    school_url: str = "",
    language: str = "",
) -> InitResult:
    """Check what was given (the login on the share too, with ``check``), then write the
    config (0600), the vault's ``webdav`` entry and the records folder; nothing at all when
    anything is wrong. ``language`` ("vi" or "en") is pinned only when the person chose it:
    otherwise messages follow the session of whoever runs hoso (agent.i18n)."""
    if not all(_typable(text) for text in (str(root), url, remote_dir, user)):
        raise ConfigError(
            _(
                "The records folder, the share's address and the user name cannot hold a "
                "control character (a line break, a tab, …): type them again. Nothing was "
                "written."
            )
        )
    preflight(path, url, force=force, typed=typed)
    fingerprint = key_fingerprint(school_key) if school_key else ""
    if fingerprint is None:
        raise ConfigError(
            _(
                "--school-key {key}: not a key fingerprint as `hoso school sign` prints it, "
                'e.g. "ABCD-EFGH-IJKL-MNOP".'
            ).format(key=school_key)
        )
    if ca_file is not None:
        ca_file = ca_file.expanduser().absolute()
        if not ca_file.is_file():
            raise ConfigError(_("--ca-file {path}: there is no such file.").format(path=ca_file))
    root = root.expanduser().absolute()
    if root.exists() and not root.is_dir():
        raise ConfigError(_("{root} exists and is not a folder.").format(root=root))
    text = configmod.render(
        root,
        url,
        remote_dir,
        user,
        state_dir,
        language,
        allow_insecure_http=allow_insecure_http,
        ca_file=str(ca_file or ""),
        school_key=fingerprint,
        school_url=school_url,
    )
    cfg = configmod.from_dict(tomllib.loads(text), path)  # same validation as every later load
    refuse_records_folder(cfg)
    if cfg.remote.insecure_http() and not allow_insecure_http:
        if typed is Typed.PAGE:
            raise ConfigError(
                _(
                    "{url} is a plain http:// address of another computer: the share's "
                    "password would cross the network in clear on every request. Nothing was "
                    "written. Type the share's https:// address; if the school's share has "
                    "none, the school's IT admin can accept the risk with `hoso init "
                    "--allow-insecure-http` in a terminal."
                ).format(url=url)
            )
        raise ConfigError(
            _(
                "{url} is a plain http:// address of another computer: the share's password "
                "would cross the network in clear on every request. Use the share's https:// "
                "address; if the school's share has none, pass --allow-insecure-http to accept "
                "the risk (hoso status will keep warning about it)."
            ).format(url=url)
        )
    if check:
        _check_folder(
            cfg,
            cfg.remote.url,
            cfg.remote.remote_dir,
            password,
            create=True,
            shown=url,
            typed=typed,
            ca_file=ca_file,
        )
        if cfg.school_folder is not None:
            folder = cfg.school_folder
            # The school's folder is the school's: listed to check the login, never created.
            _check_folder(
                cfg,
                folder.url,
                folder.remote_dir,
                password,
                create=False,
                shown=_shown_url(folder.url, folder.remote_dir),
                typed=typed,
                ca_file=ca_file,
            )
    # Opened before anything is written: a vault an earlier setup left (the config deleted
    # to start again) may be locked by a passphrase, and a config without its password would
    # say hoso is set up.
    vault = Vault.open(cfg) if vault_path(cfg).exists() else None
    made_root = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    if force:
        configmod.write_private(path, text)
    else:
        # Checking the login takes a while: a config written meanwhile (`hoso init` in a
        # terminal, the wizard in another tab) is never replaced, nor its password.
        try:
            durable.create_new(path, text.encode("utf-8"))
        except FileExistsError:
            if made_root:
                with contextlib.suppress(OSError):  # something was put in it meanwhile
                    root.rmdir()
            preflight(path, url, force=False, typed=typed)
            raise
    fields = {"user": cfg.remote.user} if cfg.remote.user else {}
    (vault or Vault.open(cfg, create=True)).set(WEBDAV, password.reveal(), fields)
    cfg.password_file.unlink(missing_ok=True)  # an older hoso's file would win over the vault
    return InitResult(cfg, check)


def _typable(text: str) -> bool:
    """No control character and no lone surrogate: what the config file (TOML, UTF-8) can
    hold as typed; anything else made the writing fail with a fault instead of a message."""
    return not has_control(text) and not any(0xD800 <= ord(c) < 0xE000 for c in text)


def refuse_records_folder(cfg: Config) -> None:
    """ConfigError when the records folder would take in far more than records: it is synced
    both ways, deletions too, so the whole disk, the home folder, or a folder holding hoso's
    own state (journal, trash, vault) or its config never is one."""
    root = cfg.root.resolve()  # ~/HoSo may be a link to /
    state = cfg.state_dir.expanduser().resolve()
    if root == Path(root.anchor):
        what = _("it is the whole disk")
    elif root == Path.home().resolve():
        what = _("it is your whole home folder")
    elif root.is_relative_to(state) or state.is_relative_to(root):
        what = _("hoso keeps its journal, trash and passwords in {state}").format(state=state)
    elif cfg.path.resolve().is_relative_to(root):
        what = _("it holds hoso's config {path}").format(path=cfg.path)
    else:
        return
    raise ConfigError(
        _(
            "{root} cannot be the records folder: {what}. Nothing was written. Choose a "
            "folder of its own for the records, for example {example}."
        ).format(root=cfg.root, what=what, example=Path.home() / "HoSo")
    )


def change_password(config: Config, password: Secret, *, typed: Typed = Typed.PAGE) -> None:
    """Store a new password for the share (it was changed there) as the vault's ``webdav``
    entry, once the share has taken it: the records folder is listed with it first, and a
    refused or unchecked password is never stored. The agent reads it again after its next
    refused login (agent.sync)."""
    remote = config.remote
    _check_folder(
        config,
        remote.url,
        remote.remote_dir,
        password,
        create=False,
        shown=_shown_url(remote.url, remote.remote_dir),
        typed=typed,
        ca_file=Path(remote.ca_file) if remote.ca_file else None,
    )
    fields = {"user": remote.user} if remote.user else {}
    Vault.open(config, create=True).set(WEBDAV, password.reveal(), fields)


def _check_folder(
    cfg: Config,
    url: str,
    remote_dir: str,
    password: Secret,
    *,
    create: bool,
    shown: str,
    typed: Typed,
    ca_file: Path | None,
) -> None:
    """Log in to a folder of the share and list it (creating it with ``create``); a problem
    is raised in the terms of what was typed (``shown``: the address as the person gave it)."""
    remote = Remote(
        url,
        remote_dir,
        cfg.remote.user,
        password,
        ca_file=cfg.remote.ca_file,
        verify_tls=cfg.remote.verify_tls,
        timeout=cfg.remote.timeout,
        retries=1,
        trash_dir=cfg.remote.trash_dir,
    )
    try:
        remote.probe(create=create)
        if not create:
            remote.list_folder("")
    except (AuthError, NotFound, ProtocolError, Redirected, UnreachableError) as exc:
        raise _in_init_terms(exc, shown, cfg.remote.user, typed, ca_file) from None
    finally:
        remote.close()


def _shown_url(url: str, remote_dir: str) -> str:
    return url.rstrip("/") + "/" + remote_dir.strip("/") + "/"


def preflight(path: Path, url: str, *, force: bool, typed: Typed = Typed.TERMINAL) -> None:
    """What `hoso init` can refuse before it asks for the password: nobody should type a
    password only to learn that the address is mistyped or a config exists already."""
    check_address(url, typed)
    if path.exists() and not force:
        if typed is Typed.PAGE:
            raise ConfigError(
                _("hoso is set up already on this computer: its config is {path}.").format(
                    path=path
                )
            )
        raise ConfigError(
            _("A config already exists at {path}. Use --force to replace it.").format(path=path)
        )


def check_address(url: str, typed: Typed = Typed.TERMINAL) -> None:
    """ConfigError unless ``url`` is an http(s) address without credentials in it; the
    message names the option (or the wizard's box), since no config file exists yet."""
    full = _with_scheme(url)
    if holds_credentials(url):
        raise _credentials_in_address(typed)
    try:
        parts = urlsplit(full)
    except ValueError:  # an unclosed "[" of an IPv6 address
        raise _not_a_web_address(url) from None
    if not parts.hostname or not _port_is_number(parts) or any(c.isspace() for c in url):
        raise _not_a_web_address(url)
    if "://" not in url:
        if typed is Typed.PAGE:
            raise ConfigError(
                _(
                    "The share's address must begin with https:// (or http://): {url} does "
                    "not. Did you mean {suggested}?"
                ).format(url=url, suggested=full)
            )
        raise ConfigError(
            _(
                "The share's address must begin with https:// (or http://): {url} does not. "
                "Run `hoso init` again with --url {suggested}"
            ).format(url=url, suggested=full)
        )
    if parts.scheme not in ("http", "https"):
        raise ConfigError(
            _(
                "{url} is not the address of a share: it must begin with https:// (or "
                "http://), for example {example}"
            ).format(url=url, example=EXAMPLE_URL)
        )


def holds_credentials(url: str) -> bool:
    """Whether the address ``url``, as typed, may hold a user name or password: then it is
    never quoted, nor shown again (the wizard empties its box)."""
    full = _with_scheme(url)
    # Looked for before parsing: a password holding "#", "?" or "/" (or an unclosed "[")
    # makes urlsplit see no user at all, and every later message quotes the address.
    if _holds_credentials(full):
        return True
    try:
        parts = urlsplit(full)
    except ValueError:
        return False
    return parts.username is not None or parts.password is not None


def _with_scheme(url: str) -> str:
    return url if "://" in url else "https://" + url.lstrip("/")


def _holds_credentials(full: str) -> bool:
    """Whether ``full`` (an address with "://") may hold a user name or password, judged on
    the raw text. Past this check the address holds none, so messages may quote it.

    An "@" before the first "/" is a login; so is an "@" further on when the part before
    that "/" has a ":" not followed by a port number ("lan:pa/ss@host": a password with a
    "/"). An "@" in the path of a plain address ("…/dav/files/lan@school.vn/", a Nextcloud
    e-mail login) is not one."""
    rest = full.split("://", 1)[1]
    if "@" not in rest:
        return False
    authority = rest.split("/", 1)[0]
    if "@" in authority:
        return True
    host_port = authority.rpartition("]")[2] if authority.startswith("[") else authority
    _host, colon, port = host_port.rpartition(":")
    return bool(colon) and not port.isdigit()


def _credentials_in_address(typed: Typed) -> ConfigError:
    # The address itself is never quoted: it holds a password.
    if typed is Typed.PAGE:
        return ConfigError(
            _(
                "The share's address holds a user name or password. Type the address alone, "
                "your login in the “User” box and the password in the “Password” box."
            )
        )
    return ConfigError(
        _(
            "The address given with --url holds a user name or password. Give the address "
            "alone, the user name with --user; hoso asks for the password (or reads "
            "{var})."
        ).format(var=configmod.PASSWORD_ENV)
    )


def _not_a_web_address(url: str) -> ConfigError:
    return ConfigError(
        _(
            "{url} is not a web address: the share's address begins with https://, for "
            "example {example}"
        ).format(url=url, example=EXAMPLE_URL)
    )


def _port_is_number(parts: SplitResult) -> bool:
    try:
        return parts.port is None or parts.port >= 0
    except ValueError:  # "host:abc", or a port past 65535
        return False


def _in_init_terms(
    exc: Exception, url: str, user: str, typed: Typed, ca_file: Path | None
) -> Exception:
    """``exc`` from checking the share, said as what is wrong with what was just typed."""
    host = urlsplit(url).hostname or url
    if isinstance(exc, AuthError):
        return _refused(exc.status, host, url, user, typed)
    if isinstance(exc, NotAFolder):
        return ConfigError(
            _(
                "{url} is a file on the share, not a folder. Nothing was written. Give the "
                "address of the folder that holds your records (on Nextcloud it ends in "
                "/dav/files/YOUR_LOGIN/)."
            ).format(url=url)
        )
    if isinstance(exc, NotFound):
        return ConfigError(_not_found(url, host, user))
    if isinstance(exc, NotHttps):
        return ConfigError(_not_https(url, host))
    if isinstance(exc, NotWebDav | Redirected):
        return ConfigError(_not_the_share(exc, url, typed))
    if isinstance(exc, ProtocolError):
        return ConfigError(
            _(
                "The server at {url} answered in a way hoso cannot trust: {detail}. Nothing was "
                "written. Check that this is the share's WebDAV address; if it is, show this "
                "message to the school's IT admin."
            ).format(url=url, detail=exc.detail or exc)
        )
    if isinstance(exc, Untrusted):
        return _untrusted(host, ca_file, typed)
    assert isinstance(exc, UnreachableError)
    if typed is Typed.PAGE:
        return UnreachableError(
            _("{problem} Nothing was written; try again once it is solved.").format(
                problem=exc.problem
            )
        )
    return UnreachableError(
        _("{problem} Nothing was written; run `hoso init` again once it is solved.").format(
            problem=exc.problem
        )
    )


def _untrusted(host: str, ca_file: Path | None, typed: Typed) -> Untrusted:
    if typed is Typed.PAGE:
        text = _(
            "The share at {host} sent a certificate that hoso cannot verify. Nothing was "
            "written. If the school's share uses its own certificate authority, the school's "
            "IT admin sets hoso up in a terminal with `hoso init --ca-file FILE`."
        )
    elif ca_file is not None:
        text = _(
            "The share at {host} sent a certificate that the authority in {path} did not "
            "sign (or that file is not a readable PEM certificate). Nothing was written. Ask "
            "the school's IT admin for the right certificate file."
        )
    else:
        text = _(
            "The share at {host} sent a certificate that hoso cannot verify. Nothing was "
            "written. If the school's share uses its own certificate authority, ask the "
            "school's IT admin for its certificate file and run `hoso init` again with "
            "--ca-file FILE."
        )
    return Untrusted(text.format(host=host, path=ca_file))


def _refused(status: int, host: str, url: str, user: str, typed: Typed) -> AuthError:
    if not user and typed is Typed.PAGE:
        text = _(
            "The share at {host} asks for a login, and no user name was given. Nothing was "
            "written. Type your login in the “User” box (on Nextcloud, the part after "
            "/dav/files/ in the address)."
        )
    elif not user:
        text = _(
            "The share at {host} asks for a login, and no user name was given. Nothing was "
            "written. Run `hoso init` again with --user YOUR_LOGIN (on Nextcloud, the part "
            "after /dav/files/ in the address)."
        )
    elif status == 403:
        text = _(
            "The share at {host} refused user {user} access to {url} (HTTP 403). Nothing was "
            "written. Check the address (the part after /dav/files/ is usually your login), "
            "or ask the school's share administrator to give this account access."
        )
    elif typed is Typed.PAGE:
        text = _(
            "The share at {host} refused user {user} with this password. Nothing was written. "
            "Type the password again (check Caps Lock, and switch Vietnamese typing off while "
            "you type it); if it is right, ask the school's share administrator to check the "
            "account {user}."
        )
    elif typed is Typed.ENVIRONMENT:
        text = _(
            "The share at {host} refused user {user} with the password in {var} (HTTP 401). "
            "Nothing was written. Correct that variable, or unset it and run `hoso init` "
            "again to type the password; if it is right, ask the school's share administrator "
            "to check the account {user}."
        )
    else:
        text = _(
            "The share at {host} refused user {user} with this password (HTTP 401). Nothing "
            "was written. Run `hoso init` again and retype the password (check Caps Lock, and "
            "switch Vietnamese typing off while you type it); if it is right, ask the "
            "school's share administrator to check the account {user}."
        )
    return AuthError(
        text.format(host=host, user=user, url=url, var=configmod.PASSWORD_ENV), status=status
    )


def _not_found(url: str, host: str, user: str) -> str:
    text = _(
        "The address {url} was not found on the server {host}. Nothing was written. Check the "
        "address: the part after /dav/files/ is usually your login, spelled exactly."
    ).format(url=url, host=host)
    match = _DAV_FILES.search(url)
    if user and match and match.group(2) != user:
        suggested = url[: match.start(2)] + user + url[match.end(2) :]
        text += " " + _("For user {user} it is probably {suggested}").format(
            user=user, suggested=suggested
        )
    return text


def _not_https(url: str, host: str) -> str:
    http_url = davstatus.http_variant(url)
    text = _(
        "The server {host} does not speak https:// at {url}: it answers in plain http. "
        "Nothing was written."
    ).format(host=host, url=url)
    if is_loopback(host):
        return text + " " + _("Its address is probably {http_url}").format(http_url=http_url)
    return (
        text
        + " "
        + _(
            "Ask the school's IT admin for the share's https:// address. If the share has "
            "none, its address is probably {http_url}, where the password would cross the "
            "network in clear: hoso accepts that only with --allow-insecure-http."
        ).format(http_url=http_url)
    )


def _not_the_share(exc: NotWebDav | Redirected, url: str, typed: Typed) -> str:
    if isinstance(exc, Redirected):
        location = urljoin(url, exc.location)
        to_https = location.rstrip("/") == "https://" + url.removeprefix("http://").rstrip("/")
        if to_https and typed is Typed.PAGE:
            return _(
                "The server sends {url} on to its https:// address. Nothing was written. Use "
                "{location} as the share's address."
            ).format(url=url, location=location)
        if to_https:
            return _(
                "The server sends {url} on to its https:// address. Nothing was written. Run "
                "`hoso init` again with --url {location}"
            ).format(url=url, location=location)
        return _(
            "{url} is not the share's address: the server sends it on to {location} (a login "
            "page or another address), and hoso never sends the password there. Nothing was "
            "written. Ask the school's IT admin for the share's WebDAV address (on Nextcloud: "
            "https://SERVER/remote.php/dav/files/YOUR_LOGIN/)."
        ).format(url=url, location=location)
    return _("{problem} Nothing was written.").format(problem=exc)
