"""A real server and a real browser: ``natsched serve`` in a subprocess, Debian's chromium.

The server is started and stopped by ``tests.support.server.Server``, the
load tests' helper.

The server runs on a free 127.0.0.1 port over its own SQLite file (and,
when ``NATSCHED_TEST_DATABASE_URL`` is set, again over a fresh PostgreSQL
schema), seeded
with the demo network and every county's counts but the test county's (its
office uploads them in the browser), a user per role and lab and a
published plan, on a clock that starts at the demo's plan start and runs
on, with a quick re-planning worker.
Without chromium the tests skip with one line; under CI they fail (tests/conftest.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete

from scheduler.replan.core import ReplanSettings, replan_once
from scheduler.spec_io import load_instance
from scheduler.store import models as m
from scheduler.store.db import make_engine, transaction, upgrade
from scheduler.store.world import seed
from tests.support.browser import COUNTY, DEMO, NOW, PASSWORD
from tests.support.db import _backends, pg_schema
from tests.support.server import Server, World
from tests.support.web import OTHER_COUNTY
from webui.accounts import create_user

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
]
#: the demo's count windows run to the evening of the plan's first day
MAX_FUTURE_HOURS = 24


def _missing(what: str) -> None:
    pytest.skip(what)  # under CI the skip is a failure (tests/conftest.py)


def _prepare(db_url: str) -> None:
    """The demo network with every county's counts but the test county's, and a plan for them."""
    from scheduler.ingest.upload import IngestSettings, upload

    upgrade(db_url)
    engine = make_engine(db_url)
    problem = load_instance(DEMO)
    with transaction(engine) as s:
        seed(s, problem, now=NOW, user="test", with_batches=False)
        for path in sorted((DEMO / "uploads").iterdir()):
            if path.stem == COUNTY:
                continue  # the county office uploads this one in the browser
            rep = upload(
                s,
                path.read_bytes(),
                path.name,
                path.stem,
                user="test",
                now=NOW,
                settings=IngestSettings(max_future_hours=MAX_FUTURE_HOURS),
            )
            assert rep.status == "stored", rep.errors[:3]
        create_user(s, "ops", PASSWORD, "ops")
        create_user(s, "county", PASSWORD, "county", county_code=COUNTY)
        # a county whose boxes are in the plan from the start (COUNTY uploads during the day)
        create_user(s, "county-other", PASSWORD, "county", county_code=OTHER_COUNTY)
        for lab in problem.labs:
            create_user(s, f"lab-{lab.lab_id}", PASSWORD, "lab", lab_id=lab.lab_id)
    with transaction(engine) as s:
        assert replan_once(s, NOW, settings=ReplanSettings(time_limit=3.0)).published
        # the plan answers every request so far: the server starts settled
        s.execute(delete(m.Setting).where(m.Setting.key == "replan_request"))
    engine.dispose()


@pytest.fixture(scope="session", params=_backends())
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("server")
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            db_url = f"sqlite:///{folder / 'natsched.sqlite'}"
        else:
            db_url = stack.enter_context(pg_schema("natsched_b"))
        yield from _serve(folder, db_url)


def _serve(folder: Path, db_url: str) -> Iterator[Server]:
    _prepare(db_url)
    server = Server(
        World(preset="demo", folder=folder, db_url=db_url, plan_start=NOW),
        time_limit=4,
        debounce=1,
        poll=1,
        ready_path="/healthz",
        extra_env={
            "NATSCHED_SECRET_KEY": "browser-test-secret",
            "NATSCHED_UPLOAD_MAX_FUTURE_HOURS": str(MAX_FUTURE_HOURS),
            "NATSCHED_LOGIN_RATE_LIMIT": None,  # the app's own limit, as people meet it
        },
    )
    try:
        server.start(timeout=60)
    except RuntimeError as exc:
        pytest.fail(f"the server did not start: {exc}")
    try:
        yield server
    finally:
        server.stop(timeout=10)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        _missing(f"browser tests need Debian's chromium at {CHROMIUM} (make test installs it)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("browser tests need playwright (pip install -e '.[dev]')")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page_as(browser: Any, server: Server) -> Iterator[Any]:
    """``page_as("ops")``: a logged-in page in a fresh browser context (desktop size)."""
    contexts = []

    def make(username: str, *, lang: str = "en", viewport: dict[str, int] | None = None) -> Any:
        ctx = browser.new_context(
            viewport=viewport or {"width": 1280, "height": 900},
            locale="zh-CN" if lang == "zh" else "en-US",
        )
        contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(20_000)
        page.goto(f"{server.url}/login?lang={lang}")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")
        assert "/login" not in page.url, f"login as {username} failed"
        return page

    yield make
    for ctx in contexts:
        ctx.close()
