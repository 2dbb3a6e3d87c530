"""The store's errors a user can fix, importable without SQLAlchemy (the CLI reports them)."""

from __future__ import annotations


class NoDatabase(LookupError):
    """There is no natsched database where the URL points: said, never created on the quiet."""
