"""Transitional: the document model moved to :mod:`agent.documents.model` (issue 12).

Only plugins/validation/commands.py, being split into wiring and service.py on another
branch, still imports from here; once it imports :mod:`agent.api`, this file goes."""

from agent.api import TooComplex, Unreadable

__all__ = ["TooComplex", "Unreadable"]
