"""``natsched whatif`` from the command line: JSON shape, refusals, the sweep's repeatability."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from natsched.cli import main
from scheduler.domain import Problem
from scheduler.scenarios.changes import AreaDemand, LabCapacity, SlaHours, apply
from scheduler.scenarios.sweep import break_points, factors_between, marginal_values, sweep
from tests.support.whatif import world

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "county"


def test_whatif_json_shape(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "whatif",
            str(FIXTURE),
            "--change",
            "travel x1.5",
            "--change",
            "sla routine 12h",
            "--time-limit",
            "2",
            "--jobs",
            "1",
            "--json",
        ]
    )
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["recommendation"] is None
    names = [s["name"] for s in doc["scenarios"]]
    assert names == ["base", "changes"]
    assert doc["scenarios"][1]["changes"] == ["travel x1.5", "sla routine 12h"]
    for s in doc["scenarios"]:
        f = s["figures"]
        assert set(f) >= {
            "score",
            "bound",
            "on_time",
            "late_tubes",
            "unassigned_tubes",
            "p95_tat_h",
        }
        assert set(f["on_time"]) == {"urgent", "high", "routine"}
        assert isinstance(s["shortfall"], list)
        for row in s["shortfall"]:
            assert {"city", "late_tubes", "per_hour"} <= set(row)
    # tighter SLA and slower roads cannot put more tubes on time
    base, changed = (s["figures"] for s in doc["scenarios"])
    assert changed["on_time"]["routine"] <= base["on_time"]["routine"]


def test_whatif_text_and_recommend(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scen = tmp_path / "storm.txt"
    scen.write_text("# a storm\ntravel x2\n", encoding="utf-8")
    code = main(
        [
            "whatif",
            str(FIXTURE),
            "--scenario",
            f"storm={scen}",
            "--recommend",
            "mobile",
            "40000/day",
            "--max",
            "5",
            "--time-limit",
            "2",
            "--jobs",
            "2",
            "--json",
        ]
    )
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    rec = doc["recommendation"]
    assert set(rec) >= {"count", "placements", "verified_late_tubes", "fewer_cannot"}
    assert isinstance(rec["fewer_cannot"], bool)
    assert main(["whatif", str(FIXTURE), "--scenario", f"storm={scen}", "--time-limit", "1"]) == 0
    out = capsys.readouterr().out
    assert "storm" in out.splitlines()[0] and "late tubes" in out and "capacity shortfall" in out


def test_bad_lines_exit_2_with_position(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["whatif", str(FIXTURE), "--change", "travel x2", "--change", "sla high 12"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("natsched: error: --change 2, column 10: expected hours like 24h")
    bad = tmp_path / "bad.txt"
    bad.write_text("travel x2\n\nlab NOPE down 10:00..11:00\n", encoding="utf-8")
    assert main(["whatif", str(FIXTURE), "--scenario", f"x={bad}"]) == 2
    err = capsys.readouterr().err
    assert f"{bad}, line 3, column 5: unknown lab 'NOPE'" in err
    assert main(["whatif", str(FIXTURE), "--recommend", "mobile", "40k"]) == 2
    assert "--recommend, column 8: expected tubes per day" in capsys.readouterr().err
    assert main(["whatif", str(FIXTURE), "--sweep", "demand", "1..3", "by", "1"]) == 2
    assert main(["whatif", str(tmp_path / "missing")]) == 2


def tight() -> Problem:
    """The recommend world with a 4 h SLA and L1 at 10/h: its one slot in time takes 10 tubes."""
    return apply(world(), [SlaHours("routine", 4), LabCapacity("L1", 2)])


def test_sweep_serial_equals_parallel() -> None:
    p = tight()
    factors = factors_between(1.0, 3.0, 1.0)
    assert factors == [1.0, 2.0, 3.0]
    serial = sweep(p, factors, time_limit=1, seed=3, jobs=1)
    parallel = sweep(p, factors, time_limit=1, seed=3, jobs=2)
    assert [x.to_dict() for x in serial] == [x.to_dict() for x in parallel]
    # only the 09:00 slot (10 tubes) is in time: of 10 boxes of 2 tubes 5 fit,
    # of 3 tubes 3 fit (boxes stay whole)
    late = [x.figures.late_tubes + x.figures.unassigned_tubes for x in serial]
    assert late == [0, 10, 21]
    assert break_points(serial) == {"4101": 2.0}


def test_marginal_values_match_a_re_solve() -> None:
    # three times the demand: L1 (5/h, open 0-10) is the bottleneck, so a tube/h there is worth
    p = apply(tight(), [AreaDemand("4101", 3)])
    values = marginal_values(p)
    assert values[0].lab_id == "L1"
    assert values[0].value > 0
    assert values[0].checked == pytest.approx(values[0].value, rel=1e-6)
