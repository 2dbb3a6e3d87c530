"""The command line as a user runs it: console script and ``python -m natsched``."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scheduler.spec_io import write_instance
from tests.support.builders import random_problem

ROOT = Path(__file__).resolve().parents[2]
COUNTY = ROOT / "fixtures" / "county"
SCRIPT = Path(sys.executable).with_name("natsched")


def run(*args: object, script: bool = False) -> subprocess.CompletedProcess[str]:
    cmd = [str(SCRIPT)] if script else [sys.executable, "-m", "natsched"]
    return subprocess.run(
        [*cmd, *map(str, args)], capture_output=True, text=True, timeout=300, cwd=ROOT
    )


@pytest.fixture(scope="module")
def county_plan(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("plan") / "plan.csv"
    r = run("plan", COUNTY, "-o", out, "--time-limit", 3, "--seed", 1, "--json", script=True)
    assert r.returncode == 0, r.stderr
    return out, json.loads(r.stdout)


def test_help_has_examples():
    for args in ([], ["plan"], ["check"], ["bound"], ["fixtures", "generate"]):
        r = run(*args, "--help")
        assert r.returncode == 0
        assert "natsched" in r.stdout
    for args in (
        ["plan"],
        ["check"],
        ["bound"],
        ["explain"],
        ["fixtures", "generate"],
        ["fixtures", "list"],
    ):
        assert "example:" in run(*args, "--help").stdout, args


def test_plan_writes_a_plan_that_check_calls_valid(county_plan):
    out, result = county_plan
    with out.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows
    assert {"batch_id", "lab_id", "slot_start", "tubes", "arrival_at", "result_at"} <= set(rows[0])
    r = run("check", COUNTY, out, "--json")
    assert r.returncode == 0, r.stdout
    ev = json.loads(r.stdout)
    assert {"valid", "score", "violations", "per_priority", "per_lab"} <= set(ev)
    assert ev["valid"] is True
    assert ev["score"] == pytest.approx(result["score"])
    text = run("check", COUNTY, out).stdout
    assert "VALID" in text and "urgent" in text


def test_plan_summary_on_screen(tmp_path):
    r = run("plan", COUNTY, "-o", tmp_path / "p.csv", "--time-limit", 2, "-q")
    assert r.returncode == 0, r.stderr
    for word in ("score", "bound", "gap", "on time", "unassigned"):
        assert word in r.stdout


def test_bound_is_last_line_and_below_the_plan(county_plan):
    _, result = county_plan
    r = run("bound", COUNTY)
    assert r.returncode == 0
    value = float(r.stdout.strip().splitlines()[-1])
    assert value <= result["score"] + 1e-6
    assert json.loads(run("bound", COUNTY, "--json").stdout)["bound"] == pytest.approx(value)


def test_greedy_is_no_better_than_opt(tmp_path, county_plan):
    _, result = county_plan
    r = run("plan", COUNTY, "-o", tmp_path / "g.csv", "--solver", "greedy", "--json")
    assert r.returncode == 0
    assert json.loads(r.stdout)["score"] >= result["score"] - 1e-6


def test_check_reports_violations_with_exit_1(tmp_path, county_plan):
    out, _ = county_plan
    with out.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    victim = rows[0]["batch_id"]
    kept = [r for r in rows if not (r["batch_id"] == victim and r is rows[0])]
    bad = tmp_path / "bad.csv"
    with bad.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(kept)
    r = run("check", COUNTY, bad)
    # dropping a row breaks the tube sum of that batch, unless it was its only row
    only_row = sum(1 for x in rows if x["batch_id"] == victim) == 1
    if only_row:
        assert r.returncode == 0
    else:
        assert r.returncode == 1
        assert victim in r.stdout


def test_bad_instance_exits_2_with_located_errors(tmp_path):
    inst = tmp_path / "inst"
    shutil.copytree(COUNTY, inst)
    lines = (inst / "batches.csv").read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    t, pr = header.index("tubes"), header.index("priority")
    row2 = lines[1].split(",")
    row2[t] = "-3"
    row5 = lines[4].split(",")
    row5[pr] = "asap"
    lines[1], lines[4] = ",".join(row2), ",".join(row5)
    (inst / "batches.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = run("plan", inst, "-o", tmp_path / "x.csv", script=True)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert "batches.csv, line 2, column 'tubes'" in r.stderr
    assert "batches.csv, line 5, column 'priority'" in r.stderr
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.parametrize(
    "args",
    [
        ("plan", "no/such/folder", "-o", "x.csv"),
        ("check", "fixtures/county", "no/such/plan.csv"),
        ("bound", "fixtures"),
    ],
)
def test_missing_input_exits_2_without_traceback(args):
    r = run(*args)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert "error" in r.stderr


def test_unreadable_plan_names_line_and_column(tmp_path):
    plan = tmp_path / "p.csv"
    plan.write_text("batch_id,lab_id,slot_start,tubes\nB1,L1,tomorrow,4\n", encoding="utf-8")
    r = run("check", COUNTY, plan)
    assert r.returncode == 2
    assert "line 2" in r.stderr and "slot_start" in r.stderr


def test_unwritable_output_exits_2(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = run("plan", COUNTY, "-o", blocker / "plan.csv", "--time-limit", 1)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr


def test_same_seed_same_plan_file(tmp_path):
    write_instance(random_problem(5, n_batches=40, n_labs=4), tmp_path / "inst")
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    for out in (a, b):
        r = run("plan", tmp_path / "inst", "-o", out, "--time-limit", 30, "--seed", 3, "-q")
        assert r.returncode == 0, r.stderr
    assert a.read_bytes() == b.read_bytes()


def test_fixtures_generate_then_plan(tmp_path):
    assert "province" in run("fixtures", "list").stdout
    r = run("fixtures", "generate", "county", tmp_path / "c", "--seed", 5)
    assert r.returncode == 0, r.stderr
    r = run("plan", tmp_path / "c", "-o", tmp_path / "c.csv", "--time-limit", 2, "-q")
    assert r.returncode == 0, r.stderr
    assert run("check", tmp_path / "c", tmp_path / "c.csv").returncode == 0


def test_one_worker_gives_the_same_plan_file_twice(tmp_path):
    # the limit is work at the nominal speeds, the same on every machine; the
    # wall clock only stops the run at 3 x 6 s + 10 s, so a machine (or a
    # busy CI runner) up to about 4.6 times slower than the nominal one
    # still finishes the same work and says so
    outs = [tmp_path / "a.csv", tmp_path / "b.csv"]
    for out in outs:
        r = run("plan", COUNTY, "-o", out, "--time-limit", 6, "--seed", 4, "--workers", 1, "--json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["repeatable"] is True
    assert outs[0].read_bytes() == outs[1].read_bytes()


@pytest.mark.parametrize("value", ["-1", "two"])
def test_bad_workers_is_a_usage_error(tmp_path, value):
    r = run("plan", COUNTY, "-o", tmp_path / "p.csv", "--workers", value)
    assert r.returncode == 2
    assert "--workers" in r.stderr
