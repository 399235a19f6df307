"""Transitional: the legacy-font reader moved to :mod:`agent.documents.legacy` (issue 12).

Only plugins/validation/commands.py, being split into wiring and service.py on another
branch, still imports from here; once it imports :mod:`agent.api`, this file goes."""

from agent.api import convert_docx

__all__ = ["convert_docx"]
