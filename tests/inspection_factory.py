"""A teacher's records folder and config for the inspection tests (shared by their modules)."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

from docs_factory import lesson_plan, make_docx

from agent import config as configmod
from agent.config import Config

YEAR_START = "2026-09-07"  # week 1; week 10 = 9–15/11/2026, week 13 = 30/11–6/12
TEACHER = {"name": "Nguyễn Thị Lan", "email": "lan.nt@truong.test", "group": "Tổ 1"}
SCHOOL_MAILBOX = "c1binhchanh@truong.test"
MANAGER = "cuong.lv@truong.test"


def raw_config(root: Path, state: Path, **tables: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "root": str(root),
        "state_dir": str(state),
        "language": "en",
        "remote": {"url": "http://127.0.0.1:9/"},
        "plugins": {"validation": {"year_start": YEAR_START}, "desktop": {"enabled": False}},
        "school": {
            "name": "Trường Tiểu học Bình Chánh",
            "mailbox": SCHOOL_MAILBOX,
            "reviewers": [
                {
                    "name": "Lê Văn Cường",
                    "position": "Phó hiệu trưởng",
                    "email": MANAGER,
                    "groups": ["Tổ 1"],
                },
            ],
        },
        "teacher": dict(TEACHER),
    }
    raw.update(tables)
    return raw


def make_config(root: Path, state: Path, **tables: Any) -> Config:
    return configmod.from_dict(raw_config(root, state, **tables), state / "agent.toml")


def lesson(path: Path, *, taught: str | None = None, reflection: str | None = None) -> Path:
    """A real lesson plan .docx; ``taught`` replaces the "Thời gian thực hiện" line."""
    items = lesson_plan(**({"reflection": reflection} if reflection is not None else {}))
    if taught is not None:
        items[3] = f"Thời gian thực hiện: {taught}"
    path.parent.mkdir(parents=True, exist_ok=True)
    return make_docx(path, items)


def blob(path: Path, size: int, *, seed: int = 0, mtime: datetime | None = None) -> Path:
    """A file of ``size`` bytes that does not compress (base64 size is then exact)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = bytearray()
    counter = seed
    while len(data) < size:
        data += counter.to_bytes(8, "big") * 4 + os.urandom(32)
        counter += 1
    path.write_bytes(bytes(data[:size]))
    if mtime is not None:
        os.utime(path, (mtime.timestamp(), mtime.timestamp()))
    return path
