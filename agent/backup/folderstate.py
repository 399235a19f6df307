"""Whether a folder holds a backup repository, none, or a damaged one: from its files alone.

Apart from repository.py (keys, packs, crypto), so that `hoso status` and the scheduler's
check read a folder without loading the cryptography stack.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from ..errors import BackupDamaged
from ..i18n import _
from .files import TEMP_PREFIX


def repository_state(path: Path) -> Literal["absent", "repository", "damaged"]:
    """Whether ``path`` holds a repository, none, or one whose config is missing: key slots,
    data or snapshots without a config are a damaged repository, never "no repository"."""
    if (path / "config").is_file():
        return "repository"
    for folder in ("keys", "snapshots", "index", "data"):
        try:
            with os.scandir(path / folder) as entries:
                if any(not entry.name.startswith(TEMP_PREFIX) for entry in entries):
                    return "damaged"
        except OSError:
            continue
    return "absent"


def config_missing(path: Path) -> BackupDamaged:
    return BackupDamaged(
        _(
            "The backup repository at {path} is damaged: its file `config` is missing, though "
            "its key slots and data are there. Copy `config` back from another copy of the "
            "repository (the share's `.hoso-backup/config`, or a USB copy) into {path}; do not "
            "run `hoso backup init` there."
        ).format(path=path)
    )
