"""hoso: keeps a primary-school teacher's electronic records in sync with the school share."""

__version__ = "0.1.0"
