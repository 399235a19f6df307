"""Transitional: the school-week helpers moved to :mod:`agent.weeks` (issue 12).

Only plugins/validation/commands.py, being split into wiring and service.py on another
branch, still imports from here; once it imports :mod:`agent.api`, this file goes."""

from agent.api import school_week

__all__ = ["school_week"]
