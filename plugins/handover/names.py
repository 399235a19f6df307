"""Where the handover log's files are named and found: no crypto, so that `hoso status` can
tell there is no log at all without opening the vault (keyring, cryptography)."""

from __future__ import annotations

from pathlib import Path

FOLDER = "Bàn giao tài khoản"
STEM = "nhat-ky-ban-giao"
FILE = f"{STEM}.jsonl"  # the single shared file of earlier versions: read, never written


def log_files(root: Path) -> list[Path]:
    """The log files under ``root`` (a school or records folder), by name."""
    return sorted((root / FOLDER).glob(f"{STEM}*.jsonl"))
