"""Issue #9, short form of the load: county uploads at once, coordinators refreshing.

A real ``natsched serve`` process on 127.0.0.1 (the demo preset): every
request answers as it should (0 errors), every file is stored exactly once
with its row count, and the re-plan the uploads asked for ends published.
The long form (province, 50 offices, 200 coordinators) is ``make stress``.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.stress.load import LoadSpec, run_load
from benchmarks.stress.server import Server, seed_world


def test_uploads_and_page_views_at_once(tmp_path: Path) -> None:
    world = seed_world("demo", tmp_path / "load", counties=6, labs=10)
    with Server(world, time_limit=2.0, debounce=1.0, log_name="load") as srv:
        out = run_load(srv, LoadSpec(6, 10, 6.0, (0.3, 1.0), replan_wait=60.0))
        log = srv.tail()
    assert out["errors"] == 0, (out["error_kinds"], log)
    assert out["statuses"]["upload"] == {"201": 6}
    assert out["statuses"]["login"] == {"302": 10}
    # how many refreshes fit depends on the machine: that is a figure, not a test
    assert out["per_kind"]["lab_page"]["count"] >= 1
    once = out["exactly_once"]
    assert once["ok"], once["problems"]
    assert once["stored_rows"] == once["file_rows"] == sum(world.rows.values())
    # the uploads asked for a re-plan; it ran during the load and was published
    assert out["replans"], "no re-plan ran"
    last = out["replans"][-1]
    assert last["status"] != "running" and last["published"], out["replans"]
    assert out["alive_threads"] == 0
