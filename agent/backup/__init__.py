"""Encrypted, deduplicated, versioned backups of the records folder (docs/backup-format.md)."""
