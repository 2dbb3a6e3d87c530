"""The independent checker (scheduler.evaluate) on problems worked out by hand.

The base world (``base()``): plan_start 2022-01-09 08:00, 24 hourly slots,
one site S1 standing exactly at both labs, so travel is the 20 handling
minutes only. L1 (isolation_ok) and L2 (not isolation_ok) run 10 tubes/h,
always open, with results 120 min after the end of the slot.

  B1 urgent  4 tubes, collected 08:00, ready 08:00  (deadline 14:00)
  B2 high    2 tubes, collected 06:00, ready 07:00  (deadline 18:00)
  B3 routine 5 tubes, collected 07:00, ready 07:30  (deadline next day 07:00)

The base plan puts B1 in slot 10:00 and B2 in slot 17:00 at L1; B3 stays
unassigned.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from scheduler.domain import (
    Batch,
    Chunk,
    Config,
    Lab,
    Outage,
    Plan,
    Problem,
    Site,
    TravelModel,
    TravelOverride,
)
from scheduler.evaluate import (
    EARTH_RADIUS_KM,
    Evaluation,
    evaluate,
    haversine_km,
    slot_capacities,
    travel_minutes,
    weighted_percentile,
)
from scheduler.report import format_evaluation

T0 = datetime(2022, 1, 9, 8, 0)


def at(hours: float) -> datetime:
    """``hours`` after 08:00 on the test day."""
    return T0 + timedelta(hours=hours)


def mk_lab(lab_id: str = "L1", **kw: object) -> Lab:
    base: dict[str, object] = dict(
        lab_id=lab_id,
        name=f"Lab {lab_id}",
        kind="cdc",
        county_code="410102",
        lat=34.75,
        lon=113.63,
        capacity_per_hour=10,
        run_minutes=120,
        open_hour=0,
        close_hour=24,
        isolation_ok=True,
        backlog_tubes=0,
    )
    base.update(kw)
    return Lab(**base)  # type: ignore[arg-type]


SITE = Site(site_id="S1", county_code="410102", name="Site S1", lat=34.75, lon=113.63)

B1 = Batch("B1", "S1", collected_at=at(0), ready_at=at(0), tubes=4, priority="urgent")
B2 = Batch("B2", "S1", collected_at=at(-2), ready_at=at(-1), tubes=2, priority="high")
B3 = Batch("B3", "S1", collected_at=at(-1), ready_at=at(-0.5), tubes=5, priority="routine")


def base(**config: object) -> Problem:
    cfg: dict[str, object] = dict(plan_start=T0, horizon_hours=24, slot_minutes=60)
    cfg.update(config)
    return Problem(
        config=Config(**cfg),  # type: ignore[arg-type]
        labs=(mk_lab("L1"), mk_lab("L2", isolation_ok=False)),
        sites=(SITE,),
        batches=(B1, B2, B3),
    )


def plan(*rows: tuple[str, str, datetime, int]) -> Plan:
    return Plan(tuple(Chunk(b, lab, s, t) for b, lab, s, t in rows))


BASE_PLAN = plan(("B1", "L1", at(2), 4), ("B2", "L1", at(9), 2))


def rules(ev: Evaluation) -> list[int]:
    return sorted(v.rule for v in ev.violations)


def only(ev: Evaluation, rule: int):
    """The single violation of the evaluation, which must be of ``rule``."""
    assert [v.rule for v in ev.violations] == [rule], [v.message for v in ev.violations]
    return ev.violations[0]


# ---------------------------------------------------------------------------
# score (SPEC §3), worked by hand


def test_base_plan_is_valid_and_scored_by_hand():
    ev = evaluate(base(), BASE_PLAN)
    assert ev.valid and ev.violations == []
    # B1: slot 10:00-11:00, run 120 min -> result 13:00; collected 08:00 -> tat 5 h;
    #     deadline 08:00 + 6 h = 14:00, on time; cost = 10 (urgent) * 4 tubes * 5 = 200
    o1 = ev.per_batch["B1"]
    assert o1.result_at == at(5) and o1.lab_id == "L1"
    assert o1.tat_h == pytest.approx(5.0) and o1.late_h == 0 and o1.on_time
    assert o1.cost == pytest.approx(200.0)
    # B2: slot 17:00 -> result 17 + 1 + 2 = 20:00; collected 06:00 -> tat 14 h;
    #     deadline 06:00 + 12 h = 18:00 -> 2 h late;
    #     cost = 3 (high) * 2 tubes * (14 + 10 * 2) = 6 * 34 = 204
    o2 = ev.per_batch["B2"]
    assert o2.result_at == at(12)
    assert o2.tat_h == pytest.approx(14.0) and o2.late_h == pytest.approx(2.0)
    assert not o2.on_time and o2.cost == pytest.approx(204.0)
    # B3 unassigned: result as if at horizon_end + 24 h = 2022-01-11 08:00; collected
    #     01-09 07:00 -> tat 49 h; deadline 01-10 07:00 -> 25 h late;
    #     cost = 1 * 5 * (49 + 10 * 25) = 1495
    o3 = ev.per_batch["B3"]
    assert o3.lab_id is None and o3.result_at is None and not o3.on_time
    assert o3.tat_h == pytest.approx(49.0) and o3.late_h == pytest.approx(25.0)
    assert o3.cost == pytest.approx(1495.0)
    assert ev.score == pytest.approx(200 + 204 + 1495)
    assert (ev.total_tubes, ev.assigned_tubes, ev.unassigned_tubes) == (11, 6, 5)


def test_deadline_column_overrides_sla_and_weights_come_from_config():
    # B1 with an explicit deadline 12:00: result 13:00 is 1 h late;
    # urgent weight 2 instead of 10: cost = 2 * 4 * (5 + 10 * 1) = 120
    p = replace(base(priority_weight={"urgent": 2, "high": 3, "routine": 1}))
    p = replace(p, batches=(replace(B1, deadline=at(4)),))
    ev = evaluate(p, plan(("B1", "L1", at(2), 4)))
    assert ev.valid
    assert ev.per_batch["B1"].late_h == pytest.approx(1.0)
    assert ev.score == pytest.approx(120.0)


def test_result_uses_latest_chunk_and_the_lab_run_minutes():
    # B1 split over slots 09:00 and 12:00 at L2 (run 30 min): result 13:00 + 30 min = 13:30,
    # tat 5.5 h -> cost 10 * 4 * 5.5 = 220
    p = replace(base(), labs=(mk_lab("L1"), mk_lab("L2", run_minutes=30)))
    ev = evaluate(p, plan(("B1", "L2", at(4), 3), ("B1", "L2", at(1), 1)))
    assert ev.valid
    assert ev.per_batch["B1"].result_at == at(5.5)
    assert ev.per_batch["B1"].cost == pytest.approx(220.0)


# ---------------------------------------------------------------------------
# rule 1: ids, slot grid, tubes


def test_rule1_unknown_batch():
    v = only(evaluate(base(), Plan((*BASE_PLAN.chunks, Chunk("BX", "L1", at(3), 1)))), 1)
    assert "BX" in v.message and v.batch_id == "BX"


def test_rule1_unknown_lab_and_batch_scored_unassigned():
    ev = evaluate(base(), plan(("B1", "LX", at(2), 4), ("B2", "L1", at(9), 2)))
    v = only(ev, 1)
    assert "LX" in v.message and "B1" in v.message and v.lab_id == "LX"
    assert ev.per_batch["B1"].lab_id is None  # broken rows -> scored as unassigned
    # unassigned B1: tat = 48 h (to 01-11 08:00), late 42 h: 10 * 4 * (48 + 420) = 18720
    assert ev.per_batch["B1"].cost == pytest.approx(18720.0)


@pytest.mark.parametrize(
    "slot",
    [
        at(2.5),  # off the hourly grid
        at(24),  # = horizon_end: starts outside the horizon
        at(-1),  # before plan_start
        at(2) + timedelta(seconds=1),
    ],
)
def test_rule1_slot_not_in_horizon(slot: datetime):
    ev = evaluate(base(), plan(("B1", "L1", slot, 4)))
    # (08:00 - 1 h is also before B1 arrives: rule 4 is reported as well)
    assert rules(ev) in ([1], [1, 4])
    v = ev.violations[0]
    assert "B1" in v.message and "L1" in v.message and v.slot_start == slot
    assert ev.per_batch["B1"].lab_id is None


def test_rule1_last_slot_of_horizon_is_fine():
    # slot 23 (07:00 next day) starts inside the horizon
    assert evaluate(base(), plan(("B1", "L1", at(23), 4))).valid


def test_rule1_partial_last_slot_belongs_to_horizon():
    # 5 h horizon with 2 h slots: slots 08, 10, 12 (the last one runs past the 13:00 end)
    p = base(horizon_hours=5, slot_minutes=120)
    assert evaluate(p, plan(("B1", "L1", at(4), 4))).valid
    assert only(evaluate(p, plan(("B1", "L1", at(6), 4))), 1)
    assert only(evaluate(p, plan(("B1", "L1", at(3), 4))), 1)  # off the 2 h grid


def test_rule1_tubes_below_one():
    # 5 + (-1) sums to the batch's 4 tubes, but a row of -1 tubes is still rule 1
    ev = evaluate(base(), plan(("B1", "L1", at(2), 5), ("B1", "L1", at(3), -1)))
    v = only(ev, 1)
    assert "B1" in v.message and "-1" in v.message
    ev = evaluate(base(), plan(("B1", "L1", at(2), 4), ("B1", "L1", at(3), 0)))
    assert rules(ev) == [1]


# ---------------------------------------------------------------------------
# rule 2: one lab, whole batch


def test_rule2_several_labs():
    ev = evaluate(base(), plan(("B1", "L1", at(2), 2), ("B1", "L2", at(2), 2)))
    v = only(ev, 2)
    assert "B1" in v.message and "L1" in v.message and "L2" in v.message
    assert ev.per_batch["B1"].lab_id is None


def test_rule2_wrong_tube_sum():
    for tubes in (3, 5):
        ev = evaluate(base(), plan(("B1", "L1", at(2), tubes)))
        v = only(ev, 2)
        assert "B1" in v.message and str(tubes) in v.message and v.lab_id == "L1"
        assert ev.per_batch["B1"].lab_id is None


def test_rule2_duplicate_rows_are_summed():
    ev = evaluate(base(), plan(("B1", "L1", at(2), 2), ("B1", "L1", at(2), 2)))
    assert ev.valid
    assert ev.per_lab["L1"].planned_tubes == 4


def test_rule2_split_over_slots_of_one_lab_is_fine():
    assert evaluate(base(), plan(("B1", "L1", at(2), 1), ("B1", "L1", at(5), 3))).valid


def test_empty_lab_row_means_unassigned_and_mixing_is_rule2():
    ev = evaluate(base(), plan(("B1", "", at(2), 0)))
    assert ev.valid and ev.per_batch["B1"].lab_id is None
    v = only(evaluate(base(), plan(("B1", "", at(2), 0), ("B1", "L1", at(2), 4))), 2)
    assert "B1" in v.message


# ---------------------------------------------------------------------------
# rule 3: allowed labs


def test_rule3_isolation():
    p = replace(base(), batches=(replace(B1, isolation=True),))
    assert evaluate(p, plan(("B1", "L1", at(2), 4))).valid  # L1 is isolation_ok
    ev = evaluate(p, plan(("B1", "L2", at(2), 4)))
    v = only(ev, 3)
    assert "B1" in v.message and "L2" in v.message and "isolation" in v.message
    assert (v.batch_id, v.lab_id) == ("B1", "L2")
    # rules 3-5 leave the batch scored as planned
    assert ev.per_batch["B1"].cost == pytest.approx(200.0)


def test_rule3_pinned():
    p = replace(base(), batches=(replace(B1, pinned_lab="L2"),))
    assert evaluate(p, plan(("B1", "L2", at(2), 4))).valid
    v = only(evaluate(p, plan(("B1", "L1", at(2), 4))), 3)
    assert "B1" in v.message and "L1" in v.message and "L2" in v.message


def test_rule3_travel_override_beyond_limit():
    # the override replaces the 20-minute formula value; limit 240 (default)
    # ready 08:00 + 241 min = 12:01 -> use slot 13:00 so rule 4 holds
    def with_override(minutes: int) -> Problem:
        return replace(base(), travel_overrides=(TravelOverride("S1", "L2", minutes),))

    assert evaluate(with_override(240), plan(("B1", "L2", at(5), 4))).valid
    v = only(evaluate(with_override(241), plan(("B1", "L2", at(5), 4))), 3)
    assert "B1" in v.message and "L2" in v.message and "241" in v.message
    # the override is per pair: L1 keeps the formula's 20 minutes
    assert evaluate(with_override(241), plan(("B1", "L1", at(1), 4))).valid


def test_rule3_travel_formula_beyond_limit():
    # L2 one degree of latitude north: 194 min (see test_travel_formula_by_hand)
    far = mk_lab("L2", lat=35.75)
    p = replace(base(travel=TravelModel(max_travel_minutes=193)), labs=(mk_lab("L1"), far))
    v = only(evaluate(p, plan(("B1", "L2", at(5), 4))), 3)
    assert "194" in v.message and "L2" in v.message
    p = replace(base(travel=TravelModel(max_travel_minutes=194)), labs=(mk_lab("L1"), far))
    assert evaluate(p, plan(("B1", "L2", at(5), 4))).valid


# ---------------------------------------------------------------------------
# rule 4: arrival


def test_rule4_chunk_before_arrival():
    # ready 08:00 + 20 min -> arrives 08:20: slot 08:00 is too early, 09:00 fine
    ev = evaluate(base(), plan(("B1", "L1", at(0), 1), ("B1", "L1", at(1), 3)))
    v = only(ev, 4)
    assert "B1" in v.message and "L1" in v.message and v.slot_start == at(0)
    assert evaluate(base(), plan(("B1", "L1", at(1), 4))).valid


def test_rule4_arrival_exactly_at_slot_start_is_fine():
    # ready 07:40 + 20 min = 08:00 = slot 0
    p = replace(
        base(), batches=(replace(B1, collected_at=at(-1), ready_at=T0 - timedelta(minutes=20)),)
    )
    assert evaluate(p, plan(("B1", "L1", at(0), 4))).valid
    p = replace(base(), batches=(replace(B1, collected_at=at(-1), ready_at=at(-0.3)),))
    assert only(evaluate(p, plan(("B1", "L1", at(0), 4))), 4)


def test_rule4_uses_travel_override():
    # override 100 min: ready 08:00 -> arrives 09:40, so slot 09:00 breaks rule 4
    p = replace(base(), travel_overrides=(TravelOverride("S1", "L1", 100),))
    v = only(evaluate(p, plan(("B1", "L1", at(1), 4))), 4)
    assert "100" in v.message
    assert evaluate(p, plan(("B1", "L1", at(2), 4))).valid


# ---------------------------------------------------------------------------
# rule 5: capacity


def test_rule5_over_capacity():
    # B1 (4) + B2 (2) + B3 (5) = 11 tubes in one 10-tube slot
    ev = evaluate(
        base(), plan(("B1", "L1", at(3), 4), ("B2", "L1", at(3), 2), ("B3", "L1", at(3), 5))
    )
    v = only(ev, 5)
    assert "L1" in v.message and "11" in v.message and "10" in v.message
    assert (v.lab_id, v.slot_start) == ("L1", at(3))
    ok = plan(("B1", "L1", at(3), 4), ("B2", "L1", at(3), 2), ("B3", "L1", at(4), 5))
    assert evaluate(base(), ok).valid


def test_slot_capacity_is_floored():
    # 25 tubes/h in 30-minute slots: floor(12.5) = 12
    p = replace(base(slot_minutes=30), labs=(mk_lab("L1", capacity_per_hour=25),))
    assert slot_capacities(p, p.labs[0])[:3] == [12, 12, 12]
    p = replace(p, batches=(replace(B1, tubes=13),))
    assert only(evaluate(p, plan(("B1", "L1", at(2), 13))), 5)
    p = replace(p, batches=(replace(B1, tubes=12),))
    assert evaluate(p, plan(("B1", "L1", at(2), 12))).valid


def test_open_hours_wrap_past_midnight():
    # open 22:00 -> 06:00; slots start 08:00, so slot i has hour (8 + i) % 24
    lab = mk_lab("L1", open_hour=22, close_hour=6)
    caps = slot_capacities(base(), lab)
    hours = [(8 + i) % 24 for i in range(24)]
    expected = [10 if (h >= 22 or h < 6) else 0 for h in hours]
    assert caps == expected
    assert caps[hours.index(22)] == 10 and caps[hours.index(5)] == 10
    assert caps[hours.index(6)] == 0 and caps[hours.index(21)] == 0
    p = replace(base(), labs=(lab,))
    assert evaluate(p, plan(("B1", "L1", at(14), 4))).valid  # 22:00
    v = only(evaluate(p, plan(("B1", "L1", at(13), 4))), 5)  # 21:00: closed
    assert "capacity left after backlog is 0" in v.message


def test_open_hours_plain_window_and_always_open():
    assert slot_capacities(base(), mk_lab(open_hour=0, close_hour=24)) == [10] * 24
    day = slot_capacities(base(), mk_lab(open_hour=9, close_hour=17))
    assert [(8 + i) % 24 for i, c in enumerate(day) if c] == list(range(9, 17))


def test_outage_overlapping_part_of_a_slot():
    # outage 10:30-11:10 touches slots 10:00 and 11:00; outage ending at 09:00 (half-open)
    # does not touch slot 09:00
    p = replace(
        base(),
        outages=(Outage("L1", at(2.5), at(3) + timedelta(minutes=10)), Outage("L1", at(0), at(1))),
    )
    caps = slot_capacities(p, p.labs[0])
    assert caps[:5] == [0, 10, 0, 0, 10]
    assert slot_capacities(p, p.labs[1]) == [10] * 24  # other lab untouched
    v = only(evaluate(p, plan(("B1", "L1", at(3), 4))), 5)
    assert "L1" in v.message
    assert evaluate(p, plan(("B1", "L1", at(4), 4))).valid


def test_backlog_eats_first_open_slots():
    # open from 10:00 (slots 08, 09 closed), backlog 25: 10:00 -> 0, 11:00 -> 0, 12:00 -> 5
    lab = mk_lab("L1", open_hour=10, close_hour=24, backlog_tubes=25)
    p = replace(base(), labs=(lab,))
    caps = slot_capacities(p, lab)
    assert caps[:7] == [0, 0, 0, 0, 5, 10, 10]
    p = replace(p, batches=(replace(B1, tubes=6),))
    v = only(evaluate(p, plan(("B1", "L1", at(4), 6))), 5)
    assert "capacity left after backlog is 5" in v.message
    p = replace(p, batches=(replace(B1, tubes=5),))
    assert evaluate(p, plan(("B1", "L1", at(4), 5))).valid
    # the 24 slots run 08:00 -> 07:00 next day; open hours 10..23 = 14 slots of 10,
    # minus the backlog of 25: 140 - 25 = 115
    assert evaluate(p, Plan(())).per_lab["L1"].capacity_after_backlog == 115


# ---------------------------------------------------------------------------
# travel formula


def test_haversine_by_hand():
    # one degree of latitude along a meridian = R * pi / 180
    assert haversine_km(34.75, 113.63, 35.75, 113.63) == pytest.approx(
        EARTH_RADIUS_KM * math.pi / 180, rel=1e-12
    )
    # Zhengzhou (34.75, 113.63) -> Kaifeng (34.80, 114.31): hand computation
    # dphi = 0.05 deg, dlambda = 0.68 deg, cos(34.75) cos(34.80) = 0.82165 * 0.82115 = 0.674698
    # a = sin^2(0.025 deg) + 0.674698 * sin^2(0.34 deg)
    #   = 1.90386e-7 + 0.674698 * 3.52132e-5 = 2.39487e-5
    # d = 2 R asin(sqrt(a)) = 2 * 6371.0088 * 0.00489374 = 62.356 km
    assert haversine_km(34.75, 113.63, 34.80, 114.31) == pytest.approx(62.356, abs=0.005)


def test_travel_formula_by_hand():
    # one degree north: 111.19508 km * 1.3 / 50 km/h * 60 = 173.46 -> ceil 174, + 20 = 194
    p = replace(base(), labs=(mk_lab("L1", lat=35.75),))
    assert travel_minutes(p, "S1", "L1") == 194
    # same place: handling only
    assert travel_minutes(base(), "S1", "L1") == 20
    # a handling time and speed from instance.json are used
    p2 = replace(p, config=replace(p.config, travel=TravelModel(speed_kmh=100, handling_minutes=5)))
    # 111.19508 * 1.3 / 100 * 60 = 86.73 -> 87 + 5
    assert travel_minutes(p2, "S1", "L1") == 92


def test_travel_formula_ignores_float_noise_in_ceil():
    # pick a road factor that makes the drive exactly k minutes on paper; the float
    # computation lands a hair above k for some k, which must not round up to k + 1
    km = haversine_km(34.75, 113.63, 35.75, 113.63)
    noisy = []
    for k in range(100, 400):
        rf = k * 50 / (60 * km)
        if km * rf / 50 * 60 > k:
            noisy.append((k, rf))
    assert noisy, "expected at least one k with float noise"
    for k, rf in noisy[:5]:
        p = replace(base(travel=TravelModel(road_factor=rf)), labs=(mk_lab("L1", lat=35.75),))
        assert travel_minutes(p, "S1", "L1") == 20 + k


# ---------------------------------------------------------------------------
# every violation is listed; invalid plans are still scored


def test_all_violations_listed():
    p = replace(base(), batches=(replace(B1, isolation=True), B2, B3))
    ev = evaluate(
        p,
        plan(
            ("B1", "L2", at(0), 4),  # rule 3 (isolation) and rule 4 (arrives 08:20)
            ("B2", "L1", at(2), 1),  # rule 2 (1 of 2 tubes)
            ("B3", "L1", at(2.5), 5),  # rule 1 (off grid)
            ("BX", "L1", at(3), 1),  # rule 1 (unknown batch)
        ),
    )
    assert rules(ev) == [1, 1, 2, 3, 4]
    assert not ev.valid
    assert ev.violation_counts == {1: 2, 2: 1, 3: 1, 4: 1}
    # B1 still scored as planned at 08:00 -> result 11:00: 10 * 4 * 3 = 120;
    # B2 and B3 unassigned: B2 tat 50 h, late 38 h -> 3 * 2 * 430 = 2580; B3 1495
    assert ev.score == pytest.approx(120 + 2580 + 1495)


# ---------------------------------------------------------------------------
# KPIs


def test_priority_kpis():
    ev = evaluate(base(), BASE_PLAN)
    u, h, r = ev.per_priority["urgent"], ev.per_priority["high"], ev.per_priority["routine"]
    assert (u.tubes, u.tubes_on_time, u.unassigned_tubes, u.batches) == (4, 4, 0, 1)
    assert (h.tubes, h.tubes_on_time, h.unassigned_tubes) == (2, 0, 0)  # B2 is late
    assert (r.tubes, r.tubes_on_time, r.unassigned_tubes) == (5, 0, 5)
    assert u.mean_tat_h == pytest.approx(5.0) and u.p95_tat_h == pytest.approx(5.0)
    assert r.mean_tat_h is None and r.p95_tat_h is None  # no assigned tube
    assert u.cost == pytest.approx(200) and r.cost == pytest.approx(1495)


def test_tube_weighted_mean_and_p95():
    # three routine batches, all collected 07:00, at L1 (run 120):
    #   A 18 tubes slot 09:00 -> result 12:00, tat 5 h
    #   B  1 tube  slot 12:00 -> result 15:00, tat 8 h
    #   C  1 tube  slot 18:00 -> result 21:00, tat 14 h
    # 20 tubes: mean = (18*5 + 8 + 14) / 20 = 5.6; p95 rank = ceil(0.95*20) = 19 -> 8 h
    # (an unweighted per-batch p95 would give 14 h, an unweighted mean 9 h)
    bs = tuple(
        Batch(n, "S1", collected_at=at(-1), ready_at=at(-1), tubes=t, priority="routine")
        for n, t in (("A", 18), ("B", 1), ("C", 1))
    )
    p = replace(base(), batches=bs, labs=(mk_lab("L1", capacity_per_hour=20),))
    ev = evaluate(p, plan(("A", "L1", at(1), 18), ("B", "L1", at(4), 1), ("C", "L1", at(10), 1)))
    assert ev.valid
    k = ev.per_priority["routine"]
    assert k.mean_tat_h == pytest.approx(5.6)
    assert k.p95_tat_h == pytest.approx(8.0)


def test_weighted_percentile_definition():
    assert weighted_percentile([(1.0, 95), (5.0, 5)], 95) == 1.0  # rank 95 of 100
    assert weighted_percentile([(1.0, 94), (5.0, 6)], 95) == 5.0
    assert weighted_percentile([(3.0, 1)], 95) == 3.0
    # 10 tubes: rank ceil(9.5) = 10, the largest value (a floor would give rank 9)
    assert weighted_percentile([(5.0, 1), (1.0, 9)], 95) == 5.0
    assert weighted_percentile([], 95) is None


def test_lab_kpis_utilisation():
    # L1: 24 slots * 10 = 240 capacity, 6 tubes planned -> 2.5 %; L2 idle
    ev = evaluate(base(), BASE_PLAN)
    l1, l2 = ev.per_lab["L1"], ev.per_lab["L2"]
    assert (l1.planned_tubes, l1.capacity_after_backlog, l1.batches) == (6, 240, 2)
    assert l1.utilisation == pytest.approx(6 / 240)
    assert (l2.planned_tubes, l2.utilisation) == (0, 0.0)
    # a lab with no capacity at all reports 0, not a division error
    p = replace(base(), labs=(mk_lab("L1"), mk_lab("L2", capacity_per_hour=0)))
    ev = evaluate(p, plan(("B1", "L2", at(2), 4)))
    assert only(ev, 5) and ev.per_lab["L2"].utilisation == 0.0
    assert ev.per_lab["L2"].planned_tubes == 4


# ---------------------------------------------------------------------------
# output


def test_to_dict_is_json_ready():
    ev = evaluate(base(), plan(("B1", "L1", at(0), 4)))
    d = ev.to_dict()
    text = json.dumps(d)
    assert {"valid", "score", "violations", "per_priority", "per_lab"} <= d.keys()
    assert "per_batch" not in d
    assert d["violations"][0]["slot_start"] == "2022-01-09T08:00:00"
    full = json.loads(json.dumps(ev.to_dict(include_batches=True)))
    assert full["per_batch"]["B1"]["result_at"] == "2022-01-09T11:00:00"
    assert full["per_batch"]["B3"]["result_at"] is None
    assert json.loads(text)["valid"] is False


def test_report_valid_and_invalid():
    text = format_evaluation(base(), evaluate(base(), BASE_PLAN))
    assert text.startswith("VALID")
    assert "urgent" in text and "100.0%" in text and "1,899.00" in text
    bad = plan(*((f"BX{i}", "L1", at(1 + i % 20), 1) for i in range(60)))
    text = format_evaluation(base(), evaluate(base(), bad), max_violations=5)
    assert text.startswith("INVALID plan: 60 violations")
    assert "... and 55 more" in text
    assert text.count("[rule 1]") == 5


def big_problem(n_batches: int = 40_000, n_labs: int = 864, seed: int = 1):
    """A synthetic instance with a valid plan: each batch alone in its own (lab, slot)."""
    import random

    rng = random.Random(seed)
    labs = tuple(
        mk_lab(
            f"L{i:03d}",
            lat=34 + rng.random() / 2,
            lon=113 + rng.random() / 2,
            capacity_per_hour=100,
        )
        for i in range(n_labs)
    )
    sites = tuple(
        Site(f"S{i}", "410102", f"Site {i}", 34 + rng.random() / 2, 113 + rng.random() / 2)
        for i in range(500)
    )
    batches = []
    rows = []
    for i in range(n_batches):
        lab_i, slot = i % n_labs, 6 + (i // n_labs) % 42
        b = Batch(f"B{i}", f"S{i % 500}", collected_at=at(-1), ready_at=at(0), tubes=2,
                  priority=("urgent", "high", "routine")[i % 3])  # fmt: skip
        batches.append(b)
        rows.append(Chunk(b.batch_id, labs[lab_i].lab_id, at(slot), 1))
        rows.append(Chunk(b.batch_id, labs[lab_i].lab_id, at(slot), 1))
    p = Problem(
        config=Config(plan_start=T0, horizon_hours=48, slot_minutes=60),
        labs=labs,
        sites=sites,
        batches=tuple(batches),
    )
    return p, Plan(tuple(rows))


@pytest.mark.slow
def test_big_plan_is_checked_and_report_fits_a_screen():
    # how fast is a benchmark's business (make bench), not a test's
    p, pl = big_problem()
    ev = evaluate(p, pl)
    assert ev.valid, ev.violations[:3]
    assert ev.assigned_tubes == 80_000
    text = format_evaluation(p, ev)
    assert len(text.splitlines()) <= 30
    assert "labs 864" in text
