"""``GET /api/v1/health`` and the dashboard's heartbeat line: fresh, stale, never seen,
database gone; anonymous, and nothing in it but health."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask

from scheduler.replan.worker import LOCK, Beat, acquire, write_beat
from scheduler.store import models as m
from tests.support.web import NOW
from webui import create_app, db

API = "/api/v1"


def beat(app: Flask, owner: str = "host-a:4242", ago: float = 5.0, **kw: object) -> None:
    """A heartbeat ``ago`` real seconds old (on the worker's clock: the app's fixed NOW)."""
    wall = datetime.now() - timedelta(seconds=ago)
    write_beat(app.extensions["natsched.engine"], Beat(owner, NOW, wall, **kw))  # type: ignore[arg-type]


def health(app: Flask) -> tuple[int, dict, dict]:
    r = app.test_client().get(f"{API}/health")  # anonymous: no login, no token
    assert r.mimetype == "application/json"
    return r.status_code, r.get_json(), dict(r.headers)


def published(app: Flask) -> tuple[int, datetime]:
    with app.app_context():
        v = (
            db.session()
            .query(m.PlanVersion)
            .filter(m.PlanVersion.published.is_(True))
            .order_by(m.PlanVersion.id.desc())
            .first()
        )
        assert v is not None
        return v.id, v.created_at


def test_fresh_worker_is_200_ok_with_the_plan_age(app):
    beat(app, state="idle")
    status, body, headers = health(app)
    assert status == 200, body
    assert body["status"] == "ok"
    assert body["database"] == {"ok": True}
    assert body["worker"]["state"] == "idle" and body["worker"]["stale"] is False
    assert 0 <= body["worker"]["last_seen_s"] < 120
    pid, made = published(app)
    assert body["plan"]["published_id"] == pid
    # the app's clock is fixed at NOW; the template's plan was made then
    assert body["plan"]["age_s"] == (NOW - made).total_seconds()
    assert "Retry-After" not in headers and headers["Cache-Control"] == "no-store"


def test_stale_worker_is_503_with_retry_after(app):
    beat(app, ago=1000, state="idle")
    status, body, headers = health(app)
    assert status == 503
    assert body["status"] == "degraded" and body["database"]["ok"] is True
    assert body["worker"]["stale"] is True and body["worker"]["last_seen_s"] >= 1000
    assert int(headers["Retry-After"]) > 0


def test_never_seen_worker_is_503(app):
    status, body, _ = health(app)
    assert status == 503
    assert body["worker"] == {"last_seen_s": None, "state": "not_seen", "stale": True}


def test_stale_threshold_is_a_setting(app):
    beat(app, ago=200, state="idle")
    assert health(app)[0] == 503
    app.config["HEALTH_WORKER_STALE_SECONDS"] = 600
    assert health(app)[0] == 200


def test_a_stopped_worker_is_stale_at_once(app):
    beat(app, ago=1, state="stopped")
    status, body, _ = health(app)
    assert status == 503 and body["worker"]["state"] == "stopped"


def test_a_failing_worker_is_degraded_but_alive(app):
    beat(app, state="error", failures=3, error="OperationalError: database is locked")
    status, body, _ = health(app)
    assert status == 200 and body["status"] == "degraded"
    assert body["worker"]["state"] == "error"
    assert "locked" not in json.dumps(body)  # error texts are for the ops page only


def test_the_lease_holder_speaks_while_fresh_else_the_freshest_worker(app):
    engine = app.extensions["natsched.engine"]
    beat(app, owner="holder", ago=30, state="solving")
    beat(app, owner="standby", ago=2, state="waiting")
    assert acquire(engine, "holder", NOW, 60)
    assert health(app)[1]["worker"]["state"] == "solving"
    beat(app, owner="holder", ago=900, state="solving")  # the holder went quiet
    status, body, _ = health(app)
    assert status == 200 and body["worker"]["state"] == "waiting"
    with app.app_context():
        assert db.session().get(m.Lock, LOCK).owner == "holder"


def test_no_data_in_it(app, demo_labs):
    beat(app, owner="secret-host.example:99", state="idle")
    r = app.test_client().get(f"{API}/health")
    body = r.get_json()
    assert set(body) == {"status", "database", "worker", "plan"}
    assert set(body["worker"]) == {"last_seen_s", "state", "stale"}
    assert set(body["plan"]) == {"published_id", "age_s"}
    text = r.get_data(as_text=True)
    assert "secret-host" not in text
    with app.app_context():
        s = db.session()
        batch = s.query(m.Batch.batch_id).first()[0]
        county = s.query(m.County.code).first()[0]
    for secret in [*demo_labs, batch, county]:
        assert secret not in text


def test_database_unreachable_is_503_down(template_db: Path, tmp_path: Path):
    folder = tmp_path / "db"
    folder.mkdir()
    shutil.copy(template_db, folder / "app.sqlite")
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "DATABASE_URL": f"sqlite:///{folder / 'app.sqlite'}",
            "CLOCK": f"fixed:{NOW.isoformat()}",
        }
    )
    try:
        beat(app, state="idle")
        assert health(app)[0] == 200
        engine = app.extensions["natsched.engine"]
        engine.dispose()
        shutil.rmtree(folder)  # the disk, the mount, the server: gone
        status, body, headers = health(app)
        assert status == 503
        assert body["status"] == "down" and body["database"] == {"ok": False}
        assert body["worker"]["stale"] is True
        assert int(headers["Retry-After"]) > 0
    finally:
        app.extensions["natsched.jobs"].shutdown()
        app.extensions["natsched.engine"].dispose()


def test_openapi_documents_it_as_public_with_its_503(app):
    doc = app.test_client().get(f"{API}/openapi.json").get_json()
    op = doc["paths"][f"{API}/health"]["get"]
    assert op["security"] == []
    assert set(op["responses"]) == {"200", "503"}
    assert "Retry-After" in op["responses"]["503"]["headers"]
    assert op["responses"]["503"]["content"] == op["responses"]["200"]["content"]


def test_healthz_still_answers(app):
    r = app.test_client().get("/healthz")
    assert r.status_code == 200 and r.get_json()["status"] == "ok"


# --- the ops dashboard's line ---------------------------------------------------


def test_dashboard_shows_when_the_replanner_was_last_seen(app, as_role):
    beat(app, ago=20, state="idle")
    html = as_role("ops").get("/ops/").text
    assert 'data-testid="replanner-health"' in html
    assert "Re-planner last seen 2" in html and " s ago" in html  # 20 or 21 s
    assert 'data-testid="replanner-stale"' not in html
    assert "published plan made 0 s ago" in html
    zh = as_role("ops").get("/ops/?lang=zh").text
    assert "重新排程程序最近一次心跳" in zh


@pytest.mark.parametrize(
    ("ago", "state", "shown"),
    [
        (900, "idle", "stale: re-planning has stopped"),
        (3, "error", "failing: 4 ticks in a row"),
        (3, "waiting", "standing by (another worker plans)"),
    ],
)
def test_dashboard_shows_trouble(app, as_role, ago, state, shown):
    beat(app, ago=ago, state=state, failures=4 if state == "error" else 0, error="Boom: x")
    html = as_role("ops").get("/ops/").text
    assert shown in html
    if state == "error":
        assert "last error: Boom: x" in html  # ops may read the error


def test_dashboard_says_not_seen(as_role):
    html = as_role("ops").get("/ops/").text
    assert "Re-planner not seen" in html
