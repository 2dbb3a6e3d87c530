"""Explanations name what binds; the shortfall figure really recovers late tubes."""

from __future__ import annotations

import json

import pytest

from natsched.cli import main
from scheduler.explain import capacity_shortfall, explain_batch
from scheduler.network import Network
from scheduler.solvers.greedy import greedy
from scheduler.spec_io import write_instance, write_plan
from tests.support.builders import at, batch, lab, problem, site


def plan_of(p):
    net = Network.build(p)
    return greedy(net).to_plan(net)


def test_isolation_and_travel_reasons():
    p = problem(
        labs=[
            lab("L1", isolation_ok=False),
            lab("L2"),
            lab("L3", lat=34.75 + 2.5),  # ~280 km away: beyond 240 min
        ],
        batches=[batch(isolation=True)],
    )
    ex = explain_batch(p, plan_of(p), "B1")
    reasons = {o.lab_id: o.reason for o in ex.options}
    assert reasons["L1"] == "not cleared for isolation samples"
    assert reasons["L2"] == ""
    assert reasons["L3"].startswith("not cleared") is False and "travel" in reasons["L3"]
    assert ex.lab_id == "L2"
    assert any("isolation: 1 of 3" in b for b in ex.binding)
    assert any("travel limit excludes 1" in b for b in ex.binding)


def test_pinned_batch_says_so():
    p = problem(labs=[lab("L1", run_minutes=600), lab("L2")], batches=[batch(pinned_lab="L1")])
    ex = explain_batch(p, plan_of(p), "B1")
    assert ex.lab_id == "L1"
    assert any(b.startswith("pinned") for b in ex.binding)
    assert {o.lab_id: o.reason for o in ex.options}["L2"] == "batch is pinned to L1"


def test_capacity_binding_names_the_full_lab():
    # L1 (run 2 h) is the fast lab but holds 10 tubes/h; two boxes arrive at
    # once. B1 (first by id) takes L1's 09:00 slot, result 12:00. For B2,
    # waiting for L1's 10:00 slot gives 13:00, slower L2 (run 2.5 h) at 09:00
    # gives 12:30: greedy sends it to L2, and its explanation names L1 as full.
    p = problem(
        labs=[lab("L1"), lab("L2", run_minutes=150)],
        batches=[batch("B1", priority="urgent"), batch("B2", priority="urgent")],
    )
    plan = plan_of(p)
    assert plan.lab_of() == {"B1": "L1", "B2": "L2"}
    ex = explain_batch(p, plan, "B2")
    opt_l1 = next(o for o in ex.options if o.lab_id == "L1")
    assert opt_l1.best_result_at == at(4)  # slot 09:00 + 1 h + 2 h run
    assert opt_l1.result_now_at == at(5)  # behind B1: slot 10:00 + 1 h + 2 h
    assert ex.lab_id == "L2"
    assert any(b.startswith("capacity: L1") for b in ex.binding), ex.binding


def test_deadline_infeasible_everywhere():
    # Due 2 h after collection but the run alone is 2 h: structural lateness.
    p = problem(batches=[batch(priority="urgent", deadline=at(1))])
    ex = explain_batch(p, plan_of(p), "B1")
    assert any(b.startswith("deadline cannot be met at any lab") for b in ex.binding)
    rep = capacity_shortfall(p, plan_of(p))
    assert rep.structural_tubes == 10 and rep.rows[0].peak_extra_per_hour == 0


def overloaded():
    # One lab, 20 tubes/h, six routine boxes of 40 tubes ready at 08:00 and due
    # by 07:00 + 6 h = 13:00 (deadline set): only slots 09:00-10:00 (2 slots, 40
    # tubes) can still meet it, so 200 tubes are late.
    sites = [site("S1", county_code="410102")]
    batches = [batch(f"B{i}", tubes=40, deadline=at(5)) for i in range(6)]
    return problem(labs=[lab(capacity_per_hour=20)], sites=sites, batches=batches)


def test_shortfall_counts_late_tubes_and_recovers_them():
    p = overloaded()
    plan = plan_of(p)
    rep = capacity_shortfall(p, plan)
    assert rep.late_tubes == 200
    row = rep.rows[0]
    assert row.city == "410100"
    assert row.structural_tubes == 0
    assert row.peak_extra_per_hour > 0
    # add that much capacity (rounded up) where the report says: late tubes drop
    extra = int(row.peak_extra_per_hour + 0.999)
    bigger = problem(
        labs=[lab(capacity_per_hour=20), lab("MOBILE", capacity_per_hour=extra)],
        sites=list(p.sites),
        batches=list(p.batches),
    )
    after = capacity_shortfall(bigger, plan_of(bigger))
    assert (after.late_tubes, after.unassigned_tubes, after.rows) == (0, 0, [])


def test_cli_explain(tmp_path, capsys):
    p = overloaded()
    write_instance(p, tmp_path / "inst")
    write_plan(p, plan_of(p), tmp_path / "plan.csv")
    assert main(["explain", str(tmp_path / "inst"), str(tmp_path / "plan.csv")]) == 0
    assert "extra tubes/h" in capsys.readouterr().out
    assert (
        main(
            [
                "explain",
                str(tmp_path / "inst"),
                str(tmp_path / "plan.csv"),
                "--batch",
                "B3",
                "--json",
            ]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["batch_id"] == "B3" and data["options"]
    assert (
        main(["explain", str(tmp_path / "inst"), str(tmp_path / "plan.csv"), "--batch", "NOPE"])
        == 2
    )
    assert "no batch 'NOPE'" in capsys.readouterr().err


@pytest.mark.parametrize("preset", ["demo"])
def test_explain_on_fixture_runs(preset):
    """The report's late and unassigned tubes per city are the evaluator's, counted apart."""
    from scheduler.evaluate import evaluate
    from scheduler.spec_io import load_instance

    p = load_instance(f"fixtures/{preset}")
    plan = plan_of(p)
    rep = capacity_shortfall(p, plan)
    sites = {s.site_id: s for s in p.sites}
    outcomes = evaluate(p, plan).per_batch
    late: dict[str, int] = {}
    unassigned: dict[str, int] = {}
    for b in p.batches:
        out = outcomes[b.batch_id]
        city = sites[b.site_id].county_code[:4] + "00"  # a county's city: its first 4 digits
        if out.lab_id is None:
            unassigned[city] = unassigned.get(city, 0) + b.tubes
        elif out.late_h > 0:
            late[city] = late.get(city, 0) + b.tubes
    # the demo's greedy plan is late in places: the figure is not a trivial zero
    assert sum(late.values()) > 0
    assert {r.city: r.late_tubes for r in rep.rows if r.late_tubes} == late
    assert {r.city: r.unassigned_tubes for r in rep.rows if r.unassigned_tubes} == unassigned
    assert rep.late_tubes == sum(late.values())
    assert rep.unassigned_tubes == sum(unassigned.values())
