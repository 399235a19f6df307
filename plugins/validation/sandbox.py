"""Transitional: the document sandbox moved to :mod:`agent.documents.sandbox` (issue 12).

Only plugins/validation/commands.py, being split into wiring and service.py on another
branch, still imports from here; once it imports :mod:`agent.api`, this file goes."""

from agent.api import Limits

__all__ = ["Limits"]
