"""The store: migrations, seed and export describe the same world as the SPEC files."""

from __future__ import annotations

from sqlalchemy import func, select

from scheduler.spec_io import load_instance
from scheduler.store import models as m
from scheduler.store.db import alembic_config, transaction
from scheduler.store.world import export_instance, seed, snapshot
from tests.support.db import SEED_TIME


def by_id(items, key):
    return sorted(items, key=lambda x: getattr(x, key))


def test_seed_then_export_round_trips(engine, tmp_path):
    problem = load_instance("fixtures/county")
    with transaction(engine) as s:
        seed(s, problem, now=SEED_TIME)
    with transaction(engine) as s:
        export_instance(s, tmp_path / "out")
    back = load_instance(tmp_path / "out")
    assert back.config == problem.config
    assert by_id(back.labs, "lab_id") == by_id(problem.labs, "lab_id")
    assert by_id(back.sites, "site_id") == by_id(problem.sites, "site_id")
    assert by_id(back.batches, "batch_id") == by_id(problem.batches, "batch_id")
    assert set(back.outages) == set(problem.outages)
    assert set(back.travel_overrides) == set(problem.travel_overrides)


def test_seed_is_audited_and_replaces(engine):
    problem = load_instance("fixtures/county")
    for _ in range(2):
        with transaction(engine) as s:
            seed(s, problem, now=SEED_TIME, user="ops")
    with transaction(engine) as s:
        assert s.scalar(select(func.count()).select_from(m.Lab)) == len(problem.labs)
        assert s.scalar(select(func.count()).select_from(m.AuditLog)) == 2


def test_snapshot_without_settings_says_what_to_do(engine):
    import pytest

    with transaction(engine) as s, pytest.raises(LookupError, match="db seed"):
        snapshot(s)


def test_models_match_migrations(db_url):
    # autogenerate against the migrated database finds nothing to change
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from scheduler.store.db import make_engine

    eng = make_engine(db_url)
    with eng.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, m.Base.metadata)
    eng.dispose()
    assert diff == [], diff
    assert alembic_config(db_url).get_main_option("script_location")


def test_migrations_upgrade_a_database_holding_data(tmp_path):
    # 0001 with a seeded world, then the newest schema: nothing is lost
    from scheduler.store.db import make_engine, upgrade

    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    upgrade(url, "0001")
    eng = make_engine(url)
    with eng.begin() as conn:
        conn.exec_driver_sql("INSERT INTO cities (code, name) VALUES ('410100', 'x')")
        conn.exec_driver_sql(
            "INSERT INTO counties (code, city_code, name) VALUES ('410102', '410100', '')"
        )
        conn.exec_driver_sql(
            "INSERT INTO sites (site_id, county_code, name, lat, lon) "
            "VALUES ('S1', '410102', 'a', 34.7, 113.6)"
        )
    upgrade(url)
    with transaction(eng) as s:
        site = s.get(m.Site, "S1")
        assert site is not None and site.category_rules == {}
    eng.dispose()
