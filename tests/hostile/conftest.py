"""The store's database fixtures (SQLite, and PostgreSQL when configured)."""

from tests.store.conftest import db_url, engine  # noqa: F401
