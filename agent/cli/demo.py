"""`hoso demo`: an embedded WebDAV share, sample records and the agent, live."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option("--seconds", type=float, default=0, help="Stop after this long (0: until Ctrl-C).")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=None)
def demo(seconds: float, workdir: Path | None) -> None:
    """A live demo: an embedded WebDAV share, sample records and the agent."""
    from datetime import date

    from ..demo import run_demo

    run_demo(seconds=seconds, workdir=workdir, echo=click.echo, today=date.today())
