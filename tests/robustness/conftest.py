"""Fixtures for the fuzz tests: the store's databases, re-exported."""

from __future__ import annotations

from tests.store.conftest import db_url, demo_world, engine

__all__ = ["db_url", "demo_world", "engine"]
