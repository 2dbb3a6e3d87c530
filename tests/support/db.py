"""Databases for the tests of the services: SQLite always, PostgreSQL when configured.

The fixtures (``db_url``, ``engine``, ``demo_world``) are registered for every folder
by ``pytest_plugins`` in tests/conftest.py; ``fingerprint`` and ``pg_schema`` are
imported.

``NATSCHED_TEST_DATABASE_URL`` (set by .ci/run) adds PostgreSQL. Without it
the PostgreSQL cases are not generated (the run's header says so, and a CI
run refuses to start); with it but no server they skip, which under CI is a
failure (tests/conftest.py).
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import pytest
from sqlalchemy import Engine, inspect, select, text

# the web side's tables share the metadata: fingerprints and schema checks cover them too
import webui.models  # noqa: F401
from scheduler.store.db import make_engine, transaction, upgrade
from scheduler.store.models import Base
from scheduler.store.world import seed

PG_URL = os.environ.get("NATSCHED_TEST_DATABASE_URL")
SEED_TIME = datetime(2022, 1, 9, 7, 0)


def _backends() -> list:
    # without a PostgreSQL URL those cases are not generated; the run's header
    # says so in one line (tests/conftest.py)
    params = [pytest.param("sqlite", id="sqlite")]
    if PG_URL:
        params.append(pytest.param("postgresql", id="postgresql"))
    return params


def _pg_schema_url(base: str, schema: str) -> str:
    """``base`` with every connection's search_path set to ``schema`` only."""
    from sqlalchemy.engine import make_url

    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


def _pg_admin(url: str, sql: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(sql))
    finally:
        engine.dispose()


@contextmanager
def pg_schema(prefix: str) -> Iterator[str]:
    """A URL whose connections see only a fresh schema of the test server, dropped after.

    Without a usable server: a skip (a failure under CI).
    """
    assert PG_URL
    schema = f"{prefix}_{uuid.uuid4().hex[:16]}"
    try:
        _pg_admin(PG_URL, f'CREATE SCHEMA "{schema}"')
    except Exception as exc:  # the server is the problem here, not the test
        # under CI the skip is a failure (tests/conftest.py)
        pytest.skip(f"PostgreSQL at {PG_URL} not reachable: {exc}")
    try:
        yield _pg_schema_url(PG_URL, schema)
    finally:
        _pg_admin(PG_URL, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=_backends())
def db_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A migrated, empty database of its own for each test.

    PostgreSQL: a fresh schema in the shared database, dropped afterwards, so
    that test runs on one server (developers, CI jobs) never see each other's
    tables. Tables are made by the Alembic migrations, not by create_all.
    """
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'test.sqlite'}"
        upgrade(url)
        yield url
        return
    with pg_schema("natsched_t") as url:
        upgrade(url)
        yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def demo_world(engine: Engine):
    """The demo fixture's labs and sites, batches to come from its uploads."""
    from scheduler.spec_io import load_instance

    problem = load_instance("fixtures/demo")
    with transaction(engine) as s:
        seed(s, problem, now=SEED_TIME, with_batches=False)
    return problem


def fingerprint(engine: Engine) -> dict[str, tuple[int, str]]:
    """Row count and a checksum of the contents of every table."""
    out: dict[str, tuple[int, str]] = {}
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            if table.name not in inspect(conn).get_table_names():
                continue
            pk = list(table.primary_key.columns)
            rows = conn.execute(select(table).order_by(*pk)).all()
            digest = hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest()
            out[table.name] = (len(rows), digest)
    return out
