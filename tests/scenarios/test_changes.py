"""The change grammar: every line form, refusals with position and rule, apply() semantics."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.domain import Outage, Problem, TravelOverride
from scheduler.scenarios.changes import (
    AddMobileLab,
    AreaCapacity,
    AreaDemand,
    CategoryDemand,
    ChangeError,
    LabCapacity,
    LabDown,
    LineError,
    Screening,
    SlaHours,
    TravelFactor,
    apply,
    parse_change,
    parse_changes,
    read_scenario_file,
)
from tests.support.builders import at, batch, lab, problem, site


def world() -> Problem:
    labs = [
        lab("L1", county_code="410101", capacity_per_hour=10, run_minutes=120),
        lab("L2", county_code="410102", capacity_per_hour=21, run_minutes=180),
        lab("L3", county_code="410201", capacity_per_hour=7, run_minutes=240, isolation_ok=False),
    ]
    sites = [
        site("S410101-0001", county_code="410101", lat=34.70, lon=113.60),
        site("S410102-0001", county_code="410102", lat=34.80, lon=113.70),
        site("S410201-0001", county_code="410201", lat=34.80, lon=114.30),
    ]
    batches = [
        batch("B1", site_id="S410101-0001", tubes=30, people=300),
        batch("B2", site_id="S410102-0001", tubes=10, people=100),
        batch("B3", site_id="S410201-0001", tubes=5, priority="high", isolation=True),
        batch("B410101-0001-01-01", site_id="S410101-0001", tubes=3),
    ]
    p = problem(labs=labs, sites=sites, batches=batches)
    from dataclasses import replace

    return replace(p, travel_overrides=(TravelOverride("S410101-0001", "L2", 31),))


DAY = at(0).date()


def ts(h: int, m: int = 0, day: int = 0) -> datetime:
    return datetime(DAY.year, DAY.month, DAY.day + day, h, m)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("lab L1 down 2022-01-09T10:00..16:00", LabDown("L1", ts(10), ts(16))),
        ("lab L1 down 10:00..16:00", LabDown("L1", ts(10), ts(16))),
        ("lab L1 down 22:00..06:00", LabDown("L1", ts(22), ts(6, day=1))),
        (
            "lab L1 down 2022-01-09T22:00..2022-01-10T01:30",
            LabDown("L1", ts(22), ts(1, 30, day=1)),
        ),
        ("lab L1 capacity x0.5", LabCapacity("L1", 0.5)),
        ("labs city 4101 capacity x1.2", AreaCapacity("4101", 1.2)),
        ("labs county 410102 capacity x2", AreaCapacity("410102", 2.0)),
        (
            "add mobile lab at 4101 40000/day from 2022-01-09T12:00 isolation no",
            AddMobileLab("4101", 40000, ts(12), False),
        ),
        (
            "add mobile lab at 410102 5000/day isolation yes",
            AddMobileLab("410102", 5000, None, True),
        ),
        ("add mobile lab at 4101 40000/day from 12:00", AddMobileLab("4101", 40000, ts(12))),
        ("demand city 4101 x2", AreaDemand("4101", 2.0)),
        ("demand county 410102 x0.5", AreaDemand("410102", 0.5)),
        ("demand category close_contact x3", CategoryDemand("close_contact", 3.0)),
        (
            "screening city 4101 people 12600000 window 09:00-15:00 pool 10 due 24h",
            Screening("4101", 12600000, ts(9), ts(15), 10, 24.0),
        ),
        (
            "screening county 410101 people 500 window 2022-01-09T20:00..02:00 pool 5 due 12h",
            Screening("410101", 500, ts(20), ts(2, day=1), 5, 12.0),
        ),
        ("travel x1.5", TravelFactor(1.5)),
        ("sla routine 12h", SlaHours("routine", 12.0)),
        ("  SLA urgent 4.5h  ", SlaHours("urgent", 4.5)),
    ],
)
def test_every_line_form_parses_and_round_trips(line: str, expected: object) -> None:
    p = world()
    got = parse_change(line, p)
    assert got == expected
    assert parse_change(got.text(), p) == got


@pytest.mark.parametrize(
    ("line", "column", "words"),
    [
        ("lab L9 down 10:00..16:00", 5, ["unknown lab 'L9'", "lab ID down A..B"]),
        ("lab L1 capacity 0.5", 17, ["factor like x0.5", "rule: lab ID capacity xF"]),
        ("lab L1 down 10:00", 13, ["a range a..b", "rule: lab ID down A..B"]),
        ("lab L1 down 25:00..26:00", 13, ["a time HH:MM"]),
        ("lab L1 up", 8, ["'down' or 'capacity'"]),
        ("labs city 4199 capacity x1", 11, ["city 4199 has no labs"]),
        ("labs city 41 capacity x1", 11, ["a 4-digit city code"]),
        ("add mobile lab at 4101 lots/day", 24, ["tubes per day like 40000/day"]),
        ("add mobile lab at 4101 100/day isolation maybe", 42, ["'yes' or 'no'"]),
        ("demand category fever x2", 17, ["fever_clinic", "(priority, isolation) class"]),
        ("demand city 4101 x2 please", 21, ["the end of the line"]),
        ("screening city 4101 people 0 window 09:00-15:00 pool 10 due 24h", 28, ["people >= 1"]),
        ("screening city 4101 people 9 window 09:00-15:00 pool 10 due", 61, ["hours like 24h"]),
        ("travel x0", 8, ["a factor > 0"]),
        ("sla asap 3h", 5, ["one of urgent, high, routine"]),
        ("reboot everything", 1, ["a change starts with lab, labs"]),
    ],
)
def test_bad_lines_are_refused_with_position_and_rule(
    line: str, column: int, words: list[str]
) -> None:
    with pytest.raises(ChangeError) as err:
        parse_change(line, world())
    assert err.value.column == column
    for w in words:
        assert w in str(err.value)


def test_line_numbers_of_lists_and_scenario_files() -> None:
    p = world()
    with pytest.raises(LineError) as err:
        parse_changes(["travel x2", "travel 2"], p)
    assert str(err.value).startswith("line 2, column 8: expected a factor")
    text = "# storm\n\ntravel x1.5  # roads\nsla high x\n"
    with pytest.raises(LineError) as err:
        read_scenario_file(text, p)
    assert err.value.line == 4
    assert read_scenario_file("travel x1.5 # roads\n", p) == [TravelFactor(1.5)]


factors = st.decimals(min_value="0.01", max_value="50", places=2).map(float)


@settings(max_examples=60, deadline=None)
@given(
    f=factors,
    h=st.integers(0, 23),
    m=st.integers(0, 59),
    hours=st.integers(1, 40),
    per_day=st.integers(1, 10**6),
)
def test_round_trips(f: float, h: int, m: int, hours: int, per_day: int) -> None:
    p = world()
    for c in (
        LabCapacity("L2", f),
        AreaDemand("4101", f),
        TravelFactor(f),
        SlaHours("high", float(hours)),
        LabDown("L3", ts(h, m), ts(h, m).replace(hour=(h + 1) % 24) if h < 23 else ts(23, 59)),
        AddMobileLab("410102", per_day, ts(h, m), bool(hours % 2)),
        Screening("4101", per_day, ts(h, m), ts(23, 59), 1 + hours % 20, float(hours)),
    ):
        if isinstance(c, LabDown) and c.end <= c.start:
            continue
        assert parse_change(c.text(), p) == c


def test_apply_outage_capacity_and_purity() -> None:
    p = world()
    q = apply(p, [LabDown("L1", ts(10), ts(16)), LabCapacity("L2", 0.5), AreaCapacity("4102", 1.5)])
    assert q.outages == (Outage("L1", ts(10), ts(16)),)
    caps = {x.lab_id: x.capacity_per_hour for x in q.labs}
    # 21 * 0.5 = 10.5 rounds half up; 7 * 1.5 = 10.5 likewise
    assert caps == {"L1": 10, "L2": 11, "L3": 11}
    assert p.outages == () and p.labs[1].capacity_per_hour == 21


def test_apply_demand_scales_tubes_and_people_by_area_and_class() -> None:
    p = world()
    q = apply(p, [AreaDemand("410101", 1.5)])
    by = {b.batch_id: b for b in q.batches}
    assert (by["B1"].tubes, by["B1"].people) == (45, 450)
    assert by["B410101-0001-01-01"].tubes == 5  # 4.5 half up
    assert by["B2"].tubes == 10
    q = apply(p, [AreaDemand("4101", 0.01)])
    assert min(b.tubes for b in q.batches) == 1  # a box stays a box
    q = apply(p, [CategoryDemand("close_contact", 2)])  # high + isolation
    assert {b.batch_id: b.tubes for b in q.batches}["B3"] == 10
    assert apply(p, [CategoryDemand("key_population", 2)]).batches == p.batches


def test_apply_mobile_lab() -> None:
    p = world()
    q = apply(p, [AddMobileLab("4101", 40000, ts(12), False)])
    new = q.labs[-1]
    assert new.kind == "mobile" and new.lab_id == "L4101-X01"
    assert new.capacity_per_hour == 1667  # 40000 / 24 = 1666.7, half up
    assert (new.open_hour, new.close_hour) == (0, 24)
    assert new.run_minutes == 180  # the median of 120, 180, 240
    assert not new.isolation_ok
    assert (new.lat, new.lon) == (34.75, 113.65)  # the centroid of the city's two sites
    assert q.outages == (Outage(new.lab_id, p.config.plan_start, ts(12)),)
    two = apply(p, [AddMobileLab("4101", 240, None, True)] * 2)
    assert [x.lab_id for x in two.labs[-2:]] == ["L4101-X01", "L4101-X02"]
    assert two.outages == () and two.labs[-1].isolation_ok
    assert two.labs[-1].run_minutes == two.labs[-2].run_minutes == 180


def test_apply_screening_follows_the_upload_rule() -> None:
    p = world()
    sc = Screening("4101", 2000, ts(9), ts(15), 10, 24.0)
    q = apply(p, [sc])
    new = [b for b in q.batches if b.batch_id not in p.batch_index]
    # sites spread as their tubes are: 33 and 10 of 43 -> 1535 and 465 people
    people: dict[str, int] = {}
    for b in new:
        people[b.site_id] = people.get(b.site_id, 0) + (b.people or 0)
    assert people == {"S410101-0001": 1535, "S410102-0001": 465}
    assert sum(b.tubes for b in new) == 154 + 47
    assert all(b.priority == "routine" and not b.isolation for b in new)
    assert all(b.collected_at == ts(9) and b.ready_at == ts(15, 30) for b in new)
    assert all(b.deadline == ts(9, day=1) for b in new)
    # B410101-0001-01-01 exists: the screening's row there is numbered past it
    assert "B410101-0001-02-01" in {b.batch_id for b in new}
    assert max(b.tubes for b in new) == 100
    # twice: ids stay unique
    q2 = apply(p, [sc, sc])
    assert len({b.batch_id for b in q2.batches}) == len(q2.batches)


def test_apply_travel_and_sla() -> None:
    p = world()
    q = apply(p, [TravelFactor(1.5), SlaHours("routine", 12)])
    assert q.config.travel.speed_kmh == pytest.approx(50 / 1.5)
    assert q.travel_overrides == (TravelOverride("S410101-0001", "L2", 47),)  # 46.5 half up
    assert q.config.sla_hours["routine"] == 12
    assert q.config.travel.handling_minutes == p.config.travel.handling_minutes
