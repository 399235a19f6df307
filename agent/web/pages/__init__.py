"""The core's pages of the teacher's page, each a :class:`agent.webpage.WebPage` like a
plugin's. Their templates are in agent/web/templates, named after the page (``home.html``,
``home_live.html``…)."""

from __future__ import annotations

from ...webpage import WebPage


def core_pages() -> list[WebPage]:
    from . import conflicts, home, problems, restore, setup

    return [home.PAGE, problems.PAGE, conflicts.PAGE, restore.PAGE, setup.PAGE]
