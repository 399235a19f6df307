"""`python -m agent`: the `hoso` command line, for when the console script is not on PATH."""

from agent.cli import main

main()
