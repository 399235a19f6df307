"""The school folder's lane: the school-wide folder of the share, kept by the same sync engine
as the records folder, with a state of its own.

``[school] folder_url`` names it (agent/config.py parses it into ``Config.school_folder``);
without it there is no lane and nothing here runs. The lane's Config is the agent's with:
- ``root``: the local copy (``school_folder.root``), which the first pass creates and marks
  with its own ``.hoso-root``, as the records folder's; every guard of sync.py holds for it
  (a missing or unmounted copy is never "everything deleted");
- the share address and folder of ``school_folder``, and the school folder's login
  (vault.school_folder_login: its own vault entry, else the share's);
- ``state_dir``: ``<state_dir>/school/``, so its journal, trash, markers and held set are
  its own;
- ``host_name`` with the login added: the name its temp uploads and probe go by, unique
  among the accounts that write there;
- the same config ``path``, so the same vault is read;
- no backups and no plugins: the school's files are not the teacher's records, and the
  validation rules must not judge them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .config import BackupConfig, Config, PluginsConfig, Secret

# The sync engine and the vault load only to sync: `hoso status` reads lane_config alone.
if TYPE_CHECKING:
    from .sync import Syncer

STATE_SUBDIR = "school"  # below the agent's state folder


def _machine_tag(host_name: str, login: str) -> str:
    """The name this PC's temp uploads and probe go by in the school folder: the host name
    and the login. Every account writes there, and PCs cloned from one image share a host
    name: by host name alone, one PC would take another's upload in flight for its own
    leftover and delete it."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in login)
    return f"{host_name}-{safe}" if safe else host_name


def lane_config(config: Config, *, user: str | None = None) -> Config | None:
    """The Config the school folder is synced with; None without a school folder. ``user``:
    the school folder's login name (default: the share's)."""
    folder = config.school_folder
    if folder is None:
        return None
    login = config.remote.user if user is None else user
    remote = dataclasses.replace(
        config.remote, url=folder.url, remote_dir=folder.remote_dir, user=login
    )
    return dataclasses.replace(
        config,
        host_name=_machine_tag(config.host_name, login),
        root=folder.root,
        state_dir=config.state_dir / STATE_SUBDIR,
        remote=remote,
        backup=BackupConfig(schedule="off", after_changes_minutes=0.0),
        plugins=PluginsConfig(tables={}),
        school_folder=None,  # the lane is no agent of its own: it has no school folder
    )


def open_syncer(config: Config, **options: Any) -> Syncer | None:
    """A Syncer for the school folder of ``config`` (None without one), logged in with the
    school folder's login; ``options`` as for Syncer, never its plugins."""
    from .sync import SCHOOL, Syncer
    from .vault import school_folder_login

    user, _password = school_folder_login(config)
    lane = lane_config(config, user=user)
    if lane is None:
        return None
    return Syncer(lane, plugins=False, password=_password_of(config), folder=SCHOOL, **options)


def _password_of(config: Config) -> Callable[[Config], Secret]:
    """Read again on each new connection (after a refused login), as the share's is."""
    from .vault import school_folder_login

    return lambda lane: school_folder_login(config)[1]
