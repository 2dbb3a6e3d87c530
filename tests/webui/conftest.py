"""A web app over the demo world, as each audience meets it.

The demo preset is seeded once per session into a template SQLite file with
one user per role and a published plan (made by the real re-planner at the
fixed clock); each test gets its own copy, so tests never see each other's
writes.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from scheduler.replan.core import ReplanSettings, replan_once
from scheduler.spec_io import load_instance
from scheduler.store.db import make_engine, transaction, upgrade
from scheduler.store.world import seed
from tests.support.web import COUNTY, DEMO, NOW, OTHER_COUNTY, PASSWORD, MakeApp, login
from webui import create_app
from webui.accounts import create_user

USERS = {
    "ops": ("ops", None, None),
    "county": ("county", COUNTY, None),
    "county_other": ("county", OTHER_COUNTY, None),
}


def first_lab(problem_labs: list[str]) -> str:
    return sorted(problem_labs)[0]


@pytest.fixture(scope="session")
def demo_labs() -> list[str]:
    return sorted(lab.lab_id for lab in load_instance(DEMO).labs)


@pytest.fixture(scope="session")
def lab_ids(demo_labs: list[str]) -> tuple[str, str]:
    """The lab of the ``lab`` user and another lab it may not touch."""
    return demo_labs[0], demo_labs[1]


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory, lab_ids: tuple[str, str]) -> Path:
    path = tmp_path_factory.mktemp("webui") / "template.sqlite"
    url = f"sqlite:///{path}"
    upgrade(url)
    engine = make_engine(url)
    with transaction(engine) as s:
        seed(s, load_instance(DEMO), now=NOW, user="test")
        for name, (role, county, _) in USERS.items():
            create_user(s, name, PASSWORD, role, county_code=county)
        create_user(s, "lab", PASSWORD, "lab", lab_id=lab_ids[0])
        create_user(s, "lab_other", PASSWORD, "lab", lab_id=lab_ids[1])
    with transaction(engine) as s:
        out = replan_once(s, NOW, settings=ReplanSettings(time_limit=3.0))
        assert out.published
    engine.dispose()
    return path


@pytest.fixture
def app(template_db: Path, tmp_path: Path) -> Iterator[Flask]:
    db = tmp_path / "app.sqlite"
    shutil.copy(template_db, db)
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "DATABASE_URL": f"sqlite:///{db}",
            "CLOCK": f"fixed:{NOW.isoformat()}",
            "REPLAN_TIME_LIMIT": 2.0,
            # the demo's count windows run to the evening of the plan's first day
            "UPLOAD_MAX_FUTURE_HOURS": 24.0,
            # a quick benchmark started by a test writes here, never into build/
            "BENCH_DIR": str(tmp_path / "bench"),
            "BENCH_QUICK_TIME_LIMIT": 0.5,
        }
    )
    yield app
    app.extensions["natsched.jobs"].shutdown()
    app.extensions["natsched.engine"].dispose()


@pytest.fixture
def as_role(app: Flask):  # type: ignore[no-untyped-def]
    """``as_role("ops")``: a logged-in client (ops, county, county_other, lab, lab_other)."""

    def make(username: str) -> FlaskClient:
        return login(app.test_client(), username)

    return make


@pytest.fixture
def make_app(template_db: Path, tmp_path: Path) -> Iterator[MakeApp]:
    """``make_app(**settings)``: an app over its own copy of the demo database."""
    made: list[Flask] = []

    def make(**overrides: Any) -> Flask:
        path = tmp_path / f"app{len(made)}.sqlite"
        shutil.copy(template_db, path)
        app = create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "test-secret",
                "DATABASE_URL": f"sqlite:///{path}",
                "CLOCK": f"fixed:{NOW.isoformat()}",
                **overrides,
            }
        )
        made.append(app)
        return app

    yield make
    for app in made:
        app.extensions["natsched.jobs"].shutdown()
        app.extensions["natsched.engine"].dispose()
