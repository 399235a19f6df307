"""`hoso init`: write a new agent's config and password file, after checking the login.

Nothing is written when anything is wrong: an existing config (without force), a bad URL,
an http:// address to another computer without ``allow_insecure_http``, a refused login or an
unreachable share all stop before the first file is touched.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from . import config as configmod
from . import i18n
from .config import Config, Secret
from .errors import ConfigError
from .i18n import _
from .remote import Remote
from .vault import WEBDAV, Vault


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
) -> InitResult:
    if path.exists() and not force:
        raise ConfigError(
            _("A config already exists at {path}. Use --force to replace it.").format(path=path)
        )
    root = root.expanduser().absolute()
    if root.exists() and not root.is_dir():
        raise ConfigError(_("{root} exists and is not a folder.").format(root=root))
    text = configmod.render(
        root,
        url,
        remote_dir,
        user,
        state_dir,
        i18n.detect_language(),
        allow_insecure_http=allow_insecure_http,
    )
    cfg = configmod.from_dict(tomllib.loads(text), path)  # same validation as every later load
    if cfg.remote.insecure_http() and not allow_insecure_http:
        raise ConfigError(
            _(
                "{url} is a plain http:// address of another computer: the share's password "
                "would cross the network in clear on every request. Use the share's https:// "
                "address; if the school's share has none, pass --allow-insecure-http to accept "
                "the risk (hoso status will keep warning about it)."
            ).format(url=url)
        )
    if check:
        remote = Remote(
            cfg.remote.url,
            cfg.remote.remote_dir,
            cfg.remote.user,
            password,
            ca_file=cfg.remote.ca_file,
            verify_tls=cfg.remote.verify_tls,
            timeout=cfg.remote.timeout,
            retries=1,
            trash_dir=cfg.remote.trash_dir,
        )
        try:
            remote.probe(create=True)
        finally:
            remote.close()
    root.mkdir(parents=True, exist_ok=True)
    configmod.write_private(path, text)
    fields = {"user": cfg.remote.user} if cfg.remote.user else {}
    Vault.open(cfg, create=True).set(WEBDAV, password.reveal(), fields)
    cfg.password_file.unlink(missing_ok=True)  # an older hoso's file would win over the vault
    return InitResult(cfg, check)
