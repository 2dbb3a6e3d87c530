"""A request costs what its own data costs: the same queries on the demo and on a province.

The province world (864 labs, about 25,000 batches) gets a greedy plan
published through the real re-planner, which stores the pages' views beside
it. A lab's schedule, a county's page and the dashboard must then issue the
same number of SQL statements there as on the demo, and read no table whole.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, func, select

from scheduler.fixturegen import generate
from scheduler.replan.core import ReplanSettings, replan_once
from scheduler.replan.executors import SolveRequest
from scheduler.result import Result
from scheduler.solve import solve
from scheduler.store import models as m
from scheduler.store.db import make_engine, transaction, upgrade
from scheduler.store.world import seed
from tests.support.web import PASSWORD, login
from webui import create_app
from webui.accounts import create_user

pytestmark = pytest.mark.slow


class GreedyExecutor:
    """The baseline plan in seconds: what is measured here is the pages, not the plan."""

    def solve(self, request: SolveRequest) -> Result:
        return solve(request.problem, solver="greedy", compute_bound=False)


@dataclass(frozen=True)
class World:
    path: Path
    now: datetime
    lab: str  # the lab with the most boxes on the plan's first day
    county: str  # the county with the most open boxes


def _world(folder: Path, preset: str) -> World:
    path = folder / f"{preset}.sqlite"
    url = f"sqlite:///{path}"
    upgrade(url)
    engine = make_engine(url)
    problem = generate(preset).problem
    now = problem.config.plan_start
    with transaction(engine) as s:
        seed(s, problem, now=now, user="test")
    with transaction(engine) as s:
        assert replan_once(s, now, settings=ReplanSettings(), executor=GreedyExecutor()).published
    with transaction(engine) as s:
        lab = s.execute(
            select(m.PlanOutcome.lab_id, func.count())
            .where(m.PlanOutcome.lab_id.is_not(None))
            .group_by(m.PlanOutcome.lab_id)
            .order_by(func.count().desc())
        ).first()
        county = s.execute(
            select(m.Site.county_code, func.count())
            .join(m.Batch, m.Batch.site_id == m.Site.site_id)
            .group_by(m.Site.county_code)
            .order_by(func.count().desc())
        ).first()
        assert lab is not None and county is not None
        create_user(s, "ops", PASSWORD, "ops")
        create_user(s, "lab", PASSWORD, "lab", lab_id=lab[0])
        create_user(s, "county", PASSWORD, "county", county_code=county[0])
    engine.dispose()
    return World(path, now, str(lab[0]), str(county[0]))


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, World]:
    folder = tmp_path_factory.mktemp("query-cost")
    return {p: _world(folder, p) for p in ("demo", "province")}


@pytest.fixture
def apps(worlds: dict[str, World], tmp_path: Path) -> Iterator[dict[str, Flask]]:
    out = {}
    for name, w in worlds.items():
        db = tmp_path / f"{name}.sqlite"
        shutil.copy(w.path, db)
        out[name] = create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "test-secret",
                "DATABASE_URL": f"sqlite:///{db}",
                "CLOCK": f"fixed:{w.now.isoformat()}",
            }
        )
    yield out
    for app in out.values():
        app.extensions["natsched.jobs"].shutdown()
        app.extensions["natsched.engine"].dispose()


class Statements:
    """The SQL statements an engine runs while counting."""

    def __init__(self, app: Flask) -> None:
        self.seen: list[str] = []
        self.engine = app.extensions["natsched.engine"]
        event.listen(self.engine, "before_cursor_execute", self._on)

    def _on(self, _conn: Any, _cur: Any, statement: str, *_: Any) -> None:
        self.seen.append(statement)

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._on)


def _cost(app: Flask, user: str, path: str) -> tuple[list[str], str]:
    client = login(app.test_client(), user)
    first = client.get(path)  # a first view may parse the stored summary once
    assert first.status_code == 200, (path, first.status_code)
    counter = Statements(app)
    try:
        r = client.get(path)
    finally:
        counter.close()
    assert r.status_code == 200
    return counter.seen, r.text


@pytest.mark.parametrize(
    ("user", "path"),
    [
        ("lab", "/lab/{lab}/"),
        ("lab", "/lab/{lab}/?day=tomorrow"),
        ("county", "/county/{county}/"),
        ("county", "/county/{county}/labels"),
        ("ops", "/ops/"),
        ("ops", "/ops/late/urgent"),
        ("ops", "/ops/late/routine?sort=least&page=2"),
    ],
)
def test_a_page_makes_the_same_queries_on_demo_and_province(
    apps: dict[str, Flask], worlds: dict[str, World], user: str, path: str
) -> None:
    seen = {}
    for name, app in apps.items():
        w = worlds[name]
        statements, _ = _cost(app, user, path.format(lab=w.lab, county=w.county))
        seen[name] = statements
    assert len(seen["demo"]) == len(seen["province"]), (seen["demo"], seen["province"])
    for sql in seen["province"]:
        assert _keyed(sql), f"a page read a table whole: {sql}"


#: tables as long as the province; a page reads them only by a key of its own
BIG = ("labs", "sites", "batches", "plan_rows", "plan_outcomes", "plan_lab_loads", "outages")
#: the keys a page may read them by (its lab, its county, its boxes, the published version)
KEYS = (
    "labs.lab_id =",
    "sites.county_code =",
    "batches.batch_id IN",
    "batches.batch_id =",
    "batches.pinned_lab =",
    "plan_id =",
    "outages.lab_id =",
)


def _keyed(sql: str) -> bool:
    flat = " ".join(sql.split())
    tables = re.findall(r"\b(?:FROM|JOIN) (\w+)", flat)
    if not any(t in BIG for t in tables):
        return True
    if " GROUP BY " in flat and "WHERE" in flat:
        return True  # the dashboard's province aggregate: one row per state
    where = flat.partition(" WHERE ")[2].split(" ORDER BY ")[0]
    return any(k in where for k in KEYS)


def test_the_province_lab_page_shows_its_boxes(
    apps: dict[str, Flask], worlds: dict[str, World]
) -> None:
    # the cost above is that of a real page: the busiest lab's first-day boxes are all on it
    w = worlds["province"]
    _, html = _cost(apps["province"], "lab", f"/lab/{w.lab}/")
    day = w.now.replace(hour=0, minute=0, second=0, microsecond=0)
    with apps["province"].app_context():
        from webui import db

        planned = set(
            db.session().scalars(
                select(m.PlanOutcome.batch_id).where(
                    m.PlanOutcome.lab_id == w.lab,
                    m.PlanOutcome.first_slot >= day,
                    m.PlanOutcome.first_slot < day + timedelta(days=1),
                )
            )
        )
    shown = set(re.findall(r'<tr data-batch="([^"]+)"', html))
    assert planned and shown == planned
