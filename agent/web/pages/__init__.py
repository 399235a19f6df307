"""The core's pages of the teacher's page, each a :class:`agent.webpage.WebPage` like a
plugin's. Their templates are in agent/web/templates, named after the page (``home.html``,
``home_live.html``…)."""

from __future__ import annotations

from ...webpage import WebPage


def core_pages() -> list[WebPage]:
    from . import home, setup

    return [home.PAGE, setup.PAGE]
