"""The ops benchmark page: saved runs, study tables and plots, the quick benchmark, roles."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.support.web import token_of
from webui.views import bench as bench_view

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect/></svg>'


def speed_file(datetime: str, commit: str, mean: float, score: float) -> dict[str, Any]:
    """A pytest-benchmark autosave file, as ``make bench`` writes it (trimmed)."""
    return {
        "machine_info": {
            "node": "benchbox",
            "machine": "x86_64",
            "python_version": "3.11.7",
            "cpu": {"brand_raw": "Test CPU @ 3.00GHz", "count": 8},
        },
        "commit_info": {"id": commit, "dirty": False, "branch": "main", "project": "main"},
        "benchmarks": [
            {
                "name": "test_speed[county]",
                "fullname": "benchmarks/test_speed.py::test_speed[county]",
                "extra_info": {
                    "score": score,
                    "bound": 392661.0,
                    "gap": (score - 392661.0) / 392661.0,
                    "greedy": 397120.0,
                    "improvement_over_greedy": (397120.0 - score) / 397120.0,
                    "peak_rss_mb": 177.7,
                },
                "stats": {"mean": mean, "stddev": 0, "rounds": 1},
            },
            {
                "name": "test_phase[bound-county]",
                "fullname": "benchmarks/test_speed.py::test_phase[bound-county]",
                "extra_info": {"bound": 392661.0, "method": "exact min-cost flow"},
                "stats": {"mean": 0.0543, "stddev": 0, "rounds": 1},
            },
        ],
        "datetime": datetime,
        "version": "5.3.1",
    }


def study_row(preset: str, batches: int, seed: int = 1, limit: float = 10.0) -> dict[str, Any]:
    return {
        "preset": preset,
        "seed": seed,
        "time_limit": limit,
        "batches": batches,
        "labs": 106,
        "valid": True,
        "score": 6111150.0,
        "greedy": 6142398.0,
        "bound": 6069760.0,
        "bound_method": "exact min-cost flow",
        "gap": 0.00682,
        "improvement_over_greedy": 0.00509,
        "closed": 0.43,
        "seconds": {"first_plan": 1.45, "solve": 12.53},
        "peak_rss_mb": 385.0,
    }


@pytest.fixture
def bench_dir(app: Flask, tmp_path: Path) -> Path:
    root = tmp_path / "bench"
    root.mkdir()
    app.config["BENCH_DIR"] = str(root)
    return root


def fill(root: Path) -> None:
    """Two speed runs, both studies (index.json and tables) and their plots."""
    speed = root / "speed" / "Linux-CPython-3.11-64bit"
    speed.mkdir(parents=True)
    old = speed_file("2026-11-27T09:00:00+00:00", "1111111111aaaa", 3.0, 393000.0)
    new = speed_file("2026-11-28T10:00:00+00:00", "abcdef0123456789", 3.6, 393392.0)
    (speed / "0001_1111111111aaaa_20261127_090000.json").write_text(json.dumps(old))
    (speed / "0002_abcdef0123456789_20261128_100000.json").write_text(json.dumps(new))
    index = {
        "runs": [
            {"kind": "quality", "at": "2026-11-20T08:00:00", "rows": [study_row("city", 4946)]},
            {
                "kind": "quality",
                "at": "2026-11-28T11:30:00",
                "rows": [
                    study_row("city", 4946),
                    {"preset": "surge", "seed": 2, "time_limit": 60.0, "error": "out of memory"},
                ],
            },
            {
                "kind": "scaling",
                "at": "2026-11-28T12:45:00",
                "rows": [study_row("province", 1000, limit=30.0)],
                "exponents": {"first_plan": 1.2047, "peak_rss_mb": 0.5394},
            },
        ]
    }
    (root / "index.json").write_text(json.dumps(index))
    (root / "quality.md").write_text("# natsched quality benchmark\n")
    (root / "quality.csv").write_text("preset,seed\ncity,1\n")
    for stem in ("gap_vs_time", "ontime", "time_vs_batches"):
        (root / f"{stem}.png").write_bytes(PNG)
        (root / f"{stem}.svg").write_text(SVG)


def text_of(html: str) -> str:
    import re

    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# --- listing ------------------------------------------------------------------------


def test_empty_state_names_the_make_commands(as_role, bench_dir):
    r = as_role("ops").get("/ops/bench/?lang=en")
    assert r.status_code == 200
    assert 'data-testid="bench-empty"' in r.text
    page = text_of(r.text)
    assert "No benchmark has been run yet." in page
    for cmd in ("make bench ", "make bench-quality", "make bench-scaling"):
        assert cmd in page
    assert "Start quick benchmark" in page


def test_missing_bench_dir_is_the_empty_state(app, as_role, tmp_path):
    app.config["BENCH_DIR"] = str(tmp_path / "does-not-exist")
    r = as_role("ops").get("/ops/bench/")
    assert r.status_code == 200 and 'data-testid="bench-empty"' in r.text


def test_lists_speed_runs_with_machine_commit_times_and_scores(as_role, bench_dir):
    fill(bench_dir)
    r = as_role("ops").get("/ops/bench/?lang=en")
    assert r.status_code == 200
    assert 'data-testid="bench-empty"' not in r.text
    page = text_of(r.text)
    # newest first, with date, machine and commit
    assert page.index("2026-11-28 10:00 UTC") < page.index("2026-11-27 09:00 UTC")
    assert "abcdef0123" in page and "1111111111" in page
    assert "benchbox" in page and "Test CPU @ 3.00GHz" in page and "8 CPUs" in page
    assert "Linux-CPython-3.11-64bit" in page
    # per benchmark: mean time and the extra_info figures
    assert "test_speed[county]" in page and "test_phase[bound-county]" in page
    assert "3.60 s" in page and "54 ms" in page
    assert "393,392" in page and "392,661" in page
    assert f"{100 * (393392 - 392661) / 392661:.2f}%" in page  # gap
    assert f"{100 * (397120 - 393392) / 397120:.2f}%" in page  # better than greedy
    # against the previous run: 20 % slower is flagged
    assert "+20.0%" in page
    assert 'class="num late">+20.0%' in r.text


def test_lists_the_studies_with_their_dates_tables_and_plots(as_role, bench_dir):
    fill(bench_dir)
    r = as_role("ops").get("/ops/bench/?lang=en")
    page = text_of(r.text)
    assert "Run at 2026-11-28 11:30" in page  # the newest quality run
    assert "Earlier runs: 2026-11-20 08:00" in page
    assert "6,111,150" in page and "0.68%" in page and "43%" in page
    assert "failed: out of memory" in page
    assert "Run at 2026-11-28 12:45" in page  # scaling
    assert "Time to the first valid plan: grows as batches^1.20" in page
    assert "Peak memory: grows as batches^0.54" in page
    for stem in ("gap_vs_time", "ontime", "time_vs_batches"):
        assert f'src="/ops/bench/plot/{stem}.svg"' in r.text
        assert f'href="/ops/bench/plot/{stem}.png"' in r.text
    assert 'href="/ops/bench/data/quality.csv"' in r.text


def test_study_table_from_csv_when_index_is_missing(as_role, bench_dir):
    (bench_dir / "scaling.csv").write_text(
        "preset,seed,time_limit,batches,labs,greedy,score,bound,gap,closed,"
        "improvement_over_greedy,first_plan_s,solve_s,peak_rss_mb,bound_method,error\n"
        "province,1,30.0,1000,864,1585990,1557964,1532657,0.0165,0.53,0.0177,1.35,31.2,298,"
        "exact,\n"
    )
    page = text_of(as_role("ops").get("/ops/bench/?lang=en").text)
    assert "1,557,964" in page and "1.65%" in page and "(from scaling.csv" in page
    assert "Quality study" in page and "Not run yet." in page


def test_unreadable_files_are_skipped_and_named(as_role, bench_dir):
    fill(bench_dir)
    bad = bench_dir / "speed" / "Linux-CPython-3.11-64bit" / "0003_broken.json"
    bad.write_text("{not json")
    (bench_dir / "quick").mkdir()
    (bench_dir / "quick" / "quick_20260101T000000_ab.json").write_text("[1, 2")
    r = as_role("ops").get("/ops/bench/?lang=en")
    assert r.status_code == 200
    assert "0003_broken.json" in r.text and "quick_20260101T000000_ab.json" in r.text
    assert "abcdef0123" in r.text  # the good runs are still listed


# --- serving files ------------------------------------------------------------------


def test_plot_route_serves_listed_plots(as_role, bench_dir):
    fill(bench_dir)
    c = as_role("ops")
    r = c.get("/ops/bench/plot/gap_vs_time.svg")
    assert r.status_code == 200 and r.mimetype == "image/svg+xml"
    assert r.data.decode() == SVG
    assert "sandbox" in r.headers["Content-Security-Policy"]
    assert "script-src" not in r.headers["Content-Security-Policy"]
    r = c.get("/ops/bench/plot/ontime.png")
    assert r.status_code == 200 and r.mimetype == "image/png" and r.data == PNG
    r = c.get("/ops/bench/data/quality.csv")
    assert r.status_code == 200 and r.data.startswith(b"preset,seed")


def test_plot_route_refuses_traversal_and_unlisted_files(as_role, bench_dir, tmp_path):
    fill(bench_dir)
    # things an attacker would like to read, next to and inside the folder
    (tmp_path / "secret.png").write_bytes(PNG)
    (tmp_path / "secret.svg").write_text(SVG)
    (bench_dir / "sub").mkdir()
    (bench_dir / "sub" / "inner.png").write_bytes(PNG)
    os.symlink(tmp_path / "secret.png", bench_dir / "link.png")
    c = as_role("ops")
    for path in (
        "/ops/bench/plot/../secret.png",
        "/ops/bench/plot/..%2Fsecret.png",
        "/ops/bench/plot/%2e%2e%2fsecret.png",
        "/ops/bench/plot/..%5Csecret.png",
        "/ops/bench/plot/%2E%2E/secret.svg",
        "/ops/bench/plot/....//secret.png",
        "/ops/bench/plot/sub/inner.png",
        "/ops/bench/plot/sub%2Finner.png",
        "/ops/bench/plot/link.png",  # a symlink out of the folder
        "/ops/bench/plot/missing.png",
        "/ops/bench/plot/index.json",
        "/ops/bench/plot/quality.csv",
        "/ops/bench/plot/.hidden.png",
        "/ops/bench/plot/gap_vs_time.svg%00.png",
        "/ops/bench/plot/%2Fetc%2Fpasswd",
        "/ops/bench/data/..%2Fsecret.png",
        "/ops/bench/data/secret.png",
        "/ops/bench/data/gap_vs_time.png",
        "/ops/bench/quick/file/..%2F..%2Fsecret.png",
        "/ops/bench/quick/file/quick_20260101T000000_ab.json",
    ):
        r = c.get(path)
        assert r.status_code in (404, 308), path
        if r.status_code == 308:  # werkzeug normalises ../ in the URL; where it lands is 404
            assert c.get(r.headers["Location"]).status_code == 404, path
        assert PNG not in r.data, path


def test_unsafe_names_are_refused_by_the_helper(app, bench_dir, tmp_path):
    """The file check itself, with names the router would never even pass on."""
    from werkzeug.exceptions import NotFound

    (tmp_path / "secret.png").write_bytes(PNG)
    fill(bench_dir)
    with app.test_request_context():
        assert bench_view._safe_file(bench_dir, "ontime.png", bench_view.PLOT_NAME).is_file()
        for name in ("../secret.png", "/etc/passwd", "..", "a/../../secret.png", "x.png\x00"):
            with pytest.raises(NotFound):
                bench_view._safe_file(bench_dir, name, bench_view.PLOT_NAME)


# --- the quick benchmark ------------------------------------------------------------


def start(c: FlaskClient, token: str) -> Any:
    return c.post("/ops/bench/quick", headers={"X-CSRFToken": token, "Accept": "application/json"})


def wait_done(c: FlaskClient, poll: str, timeout: float = 180.0) -> dict[str, Any]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = c.get(poll, headers={"Accept": "application/json"})
        assert r.status_code == 200
        job: dict[str, Any] = r.get_json()
        seen.append(job["message"])
        if job["state"] in ("done", "failed"):
            job["seen"] = seen
            return job
        time.sleep(0.3)
    raise AssertionError(f"quick benchmark not done after {timeout} s: {seen[-3:]}")


def test_quick_benchmark_runs_to_done_and_is_listed(app, as_role, bench_dir):
    app.config["BENCH_QUICK_TIME_LIMIT"] = 1.0
    c = as_role("ops")
    token = token_of(c, "/ops/bench/")
    r = start(c, token)
    assert r.status_code == 202, r.text
    body = r.get_json()
    job_id, poll = body["job_id"], body["poll"]
    assert poll == f"/ops/bench/quick/{job_id}" and body["already_running"] is False
    # a second start while it runs answers with the running job, by fetch or by form
    again = start(c, token)
    assert again.status_code == 200
    assert again.get_json() == {"job_id": job_id, "poll": poll, "already_running": True}
    form = c.post("/ops/bench/quick?lang=en", data={"csrf_token": token})
    assert form.status_code == 302 and form.headers["Location"] == "/ops/bench/"
    page = c.get("/ops/bench/?lang=en").text
    assert "already running" in page
    assert f'data-poll="{poll}"' in page  # the page picks up the running job

    job = wait_done(c, poll)
    assert job["state"] == "done", job["message"]
    res = job["result"]
    assert res["preset"] == "county" and res["time_limit"] == 1.0 and res["valid"]
    assert res["bound"] <= res["score"] <= res["greedy"]
    assert res["gap"] == pytest.approx((res["score"] - res["bound"]) / res["bound"])
    assert res["improvement_over_greedy"] == pytest.approx(
        (res["greedy"] - res["score"]) / res["greedy"]
    )
    assert set(res["seconds"]) >= {"generate", "greedy", "bound", "optimise", "total"}
    assert res["peak_rss_mb"] > 0
    assert res["at"] == "2022-01-09T08:00:00"  # the app's clock
    assert "optimise" in job["seen"]  # progress was relayed while it ran

    saved = list((bench_dir / "quick").glob("*.json"))
    assert [p.name for p in saved] == [res["file"]]
    assert res["file"] == f"quick_20220109T080000_{job_id}.json"
    assert json.loads(saved[0].read_text())["score"] == res["score"]

    r = c.get("/ops/bench/?lang=en")
    page = text_of(r.text)
    assert 'data-testid="bench-empty"' not in r.text
    assert "Latest quick benchmark, 2022-01-09 08:00" in page
    assert f"{res['score']:,.0f}" in page and f"{res['bound']:,.0f}" in page
    assert f"{100 * res['gap']:.2f}%" in page
    assert f'href="/ops/bench/quick/file/{res["file"]}"' in r.text
    assert 'data-poll="' not in r.text  # nothing runs any more
    dl = c.get(f"/ops/bench/quick/file/{res['file']}")
    assert dl.status_code == 200 and dl.get_json()["score"] == res["score"]


def test_quick_benchmark_failure_is_shown(app, as_role, bench_dir, monkeypatch):
    def failing(*_a: Any) -> tuple[list[str], dict[str, str]]:
        code = "import sys; print('boom: no solver', file=sys.stderr); sys.exit(3)"
        return [sys.executable, "-c", code], dict(os.environ)

    monkeypatch.setattr(bench_view, "quick_command", failing)
    c = as_role("ops")
    r = start(c, token_of(c, "/ops/bench/"))
    assert r.status_code == 202
    job = wait_done(c, r.get_json()["poll"], timeout=30)
    assert job["state"] == "failed" and "boom: no solver" in job["message"]
    page = c.get("/ops/bench/?lang=en").text
    assert "The last quick benchmark failed:" in page and "boom: no solver" in page
    assert not (bench_dir / "quick").exists()


def test_quick_start_needs_csrf_and_unknown_jobs_are_404(as_role, bench_dir):
    c = as_role("ops")
    assert c.post("/ops/bench/quick").status_code == 400
    r = c.get("/ops/bench/quick/0123456789abcdef", headers={"Accept": "application/json"})
    assert r.status_code == 404 and r.get_json()["error"]["status"] == 404


def test_quick_status_is_only_for_quick_jobs(app, as_role, bench_dir):
    from webui.jobs import jobs_of

    job_id = jobs_of(app).submit("replan", "ops", lambda ctx: {}, run_inline=True)
    c = as_role("ops")
    assert c.get(f"/ops/bench/quick/{job_id}").status_code == 404


# --- roles and languages ------------------------------------------------------------


@pytest.mark.parametrize("role", ["county", "county_other", "lab", "lab_other"])
def test_other_roles_get_403_everywhere(as_role, bench_dir, role):
    fill(bench_dir)
    c = as_role(role)
    for path in (
        "/ops/bench/",
        "/ops/bench/plot/gap_vs_time.svg",
        "/ops/bench/plot/ontime.png",
        "/ops/bench/data/quality.csv",
        "/ops/bench/quick/file/quick_20220109T080000_ab.json",
        "/ops/bench/quick/0123456789abcdef",
    ):
        assert c.get(path).status_code == 403, path
    token = token_of(c, "/")
    assert start(c, token).status_code == 403
    assert not (bench_dir / "quick").exists()


def test_strangers_are_sent_to_log_in(app, bench_dir):
    c = app.test_client()
    for path in ("/ops/bench/", "/ops/bench/plot/ontime.png"):
        r = c.get(path)
        assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_ops_nav_links_the_page(as_role, bench_dir):
    assert 'href="/ops/bench/"' in as_role("ops").get("/ops/").text


def test_chinese_renders(as_role, bench_dir):
    fill(bench_dir)
    r = as_role("ops").get("/ops/bench/?lang=zh")
    assert r.status_code == 200 and '<html lang="zh-CN">' in r.text
    page = text_of(r.text)
    for words in ("基准测试", "快速基准测试", "速度测试", "质量研究", "规模研究", "平均时间"):
        assert words in page, words
    assert "3.60 秒" in page and "54 毫秒" in page
    assert "首个可行计划用时: 随批次数的 1.20 次方增长" in page
    for english in ("Speed runs", "Quick benchmark", "Mean time", "Run at"):
        assert english not in page, english


def test_chinese_empty_state(as_role, bench_dir):
    page = text_of(as_role("ops").get("/ops/bench/?lang=zh").text)
    assert "尚未运行任何基准测试。" in page and "make bench-quality" in page
