"""`hoso ui`: open the teacher's page, the running agent's or one served here for the while."""

from __future__ import annotations

import signal
import threading
import time

import click

from ..config import default_state_dir
from ..context import Ctx, pass_ctx
from ..i18n import _


@click.command()
@click.option("--no-browser", is_flag=True, help="Do not open a browser; print the address.")
@click.option(
    "--print-url", is_flag=True, help="Print only the address (for scripts), nothing else."
)
@click.option(
    "--page",
    default="/",
    metavar="PATH",
    help="The part of the page to show, e.g. /problems/ (what a notification opens).",
)
@pass_ctx
def ui(ctx: Ctx, no_browser: bool, print_url: bool, page: str) -> None:
    """Open the teacher's page (http://127.0.0.1…) in the browser."""
    from ..web import server
    from ..desktopopen import open_target

    cfg = ctx.load_if_present()  # none yet: the page opens on its setup wizard
    state_dir = cfg.state_dir if cfg is not None else default_state_dir()
    port = server.running_port(state_dir)
    if port is not None:
        url = server.login_url(state_dir, port, page, now=time.time())
        _show(url, print_url=print_url, opened=not no_browser and open_target(url), alone=False)
        return
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: stop.set())
    with server.serving(ctx.config_path, state_dir, cfg.ui.port if cfg is not None else 0) as served:
        url = server.login_url(state_dir, served.port, page, now=time.time())
        _show(url, print_url=print_url, opened=not no_browser and open_target(url), alone=True)
        server.wait_idle(served, stop)


def _show(url: str, *, print_url: bool, opened: bool, alone: bool) -> None:
    if print_url:
        click.echo(url)
        return
    if opened:
        click.echo(_("The teacher's page is open in your browser."))
    else:
        click.echo(_("Open this address in a browser on this computer (within two minutes):"))
    click.echo(f"  {url}")
    if alone:
        click.echo(
            _("hoso serves the page until you press Ctrl+C, or after an hour nobody uses it.")
        )
