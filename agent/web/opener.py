"""Opening an address or a file on the teacher's desktop: agent/desktopopen.py, which the
plugins reach as ``agent.api.open_on_desktop``."""

from __future__ import annotations

from ..desktopopen import desktop_session, open_target

__all__ = ["desktop_session", "open_target"]
