"""Issue #15, short form of the load: a small morning driven by Locust.

A real ``natsched serve`` process on 127.0.0.1 (the demo preset, a first
plan published) and Locust headless in a process of its own
(``tests/support/locustfile.py``): 20 coordinators and one headquarters
user log in and refresh their pages while 5 county offices commit their
files through the API. Checked: every route was asked, every request
answered as it should (0 errors, 0 refused logins), every file is stored
exactly once with its row count, a plan was published during the load and
the worker is alive at the end. How fast it all was is a figure of
``make stress``, never a test.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.locust_run import ROUTES, LoadRun, run_locust
from tests.support.server import Server, seed_world


def test_a_small_morning_under_locust(tmp_path: Path) -> None:
    world = seed_world(
        "demo", tmp_path / "load", counties=5, labs=20, ops=1, preload=1, first_plan_seconds=2.0
    )
    run = LoadRun("short", coordinators=20, counties=5, ops=1, run_time=35, spawn_rate=10)
    # the server's load shedding (503 when no scrypt slot or request slot comes free in
    # time) depends on the machine's speed: it is a figure of make stress, so here every
    # request may wait as long as it needs
    patient = {
        "NATSCHED_PASSWORD_HASH_QUEUE": "1000",
        "NATSCHED_PASSWORD_HASH_WAIT_SECONDS": "600",
        "NATSCHED_REQUEST_SLOT_WAIT_SECONDS": "600",
    }
    with Server(world, time_limit=2.0, debounce=1.0, extra_env=patient, log_name="load") as srv:
        out = run_locust(srv, run, tmp_path / "locust")
        log = srv.tail()
    assert out["errors"] == 0, (out["failures"], log)
    assert out["refused_logins"] == 0
    assert out["shed"] == 0
    assert set(out["routes"]) == set(ROUTES), out["routes"]
    assert out["users_started"] == {"lab": 20, "county": 5, "ops": 1}
    assert out["statuses"]["POST /api/v1/uploads"] == {"201": 5}
    # everybody logged in once (cold logins), and nobody was sent back to the login page
    assert out["statuses"]["POST /login"] == {"302": 21}
    assert set(out["statuses"]["GET /lab/[id]/"]) == {"200"}
    once = out["exactly_once"]
    assert once["ok"], once["problems"]
    assert once["stored_rows"] == once["file_rows"] == sum(world.rows.values())
    # the uploads asked for a re-plan; one ran during the load and was published
    assert out["plan_published_during_load"], out["replans"]
    assert all(r["status"] != "running" for r in out["replans"]), out["replans"]
    assert out["worker"]["alive"], out["worker"]
