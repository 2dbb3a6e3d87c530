"""Databases for the store and ingestion tests: SQLite always, PostgreSQL when configured.

``NATSCHED_TEST_DATABASE_URL`` (set by .ci/run) adds PostgreSQL. Without it
the PostgreSQL cases are skipped with one reason; with it but no server they
fail under CI=true rather than skip.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import Engine, MetaData, inspect, select, text

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


def _reset_pg(url: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            md = MetaData()
            md.reflect(conn)
            md.drop_all(conn)
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    except Exception as exc:  # the server is the problem here, not the test
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL at {url} is not usable in CI: {exc}")
        pytest.skip(f"PostgreSQL at {url} not reachable: {exc}")
    finally:
        engine.dispose()


@pytest.fixture(params=_backends())
def db_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'test.sqlite'}"
    else:
        assert PG_URL
        url = PG_URL
        _reset_pg(url)
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
