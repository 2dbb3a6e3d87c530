"""The service layer's rules: each one, both sides of each limit, every box-state move.

The rules themselves (``scheduler.store.rules``) are checked without a
database; then through the service functions every caller uses
(``scheduler.replan.events``), which must refuse with the rule's ``code`` and
leave the store as it was.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import product

import pytest
from sqlalchemy import func, select

from scheduler.domain import BATCH_STATES, PICKED_UP, PLANNED, PROCESSING, RECEIVED, RESULTED
from scheduler.replan import events
from scheduler.spec_io import load_instance
from scheduler.store import models as m
from scheduler.store import rules
from scheduler.store.db import transaction
from scheduler.store.errors import EventError, RuleViolation
from scheduler.store.world import seed
from tests.support.refusals import refused

NOW = datetime(2022, 1, 9, 8, 0)
REACH = rules.OUTAGE_REACH
SECOND = timedelta(seconds=1)
HOUR = timedelta(hours=1)


# ---------------------------------------------------------------------------
# the rules alone


def test_a_rule_violation_is_an_event_error_so_every_caller_of_events_sees_it():
    err = RuleViolation("capacity_per_hour", "capacity.out_of_range", "too many", hi=3)
    assert isinstance(err, EventError) and isinstance(err, ValueError)
    assert (err.field, err.code, err.message, err.params, str(err)) == (
        "capacity_per_hour",
        "capacity.out_of_range",
        "too many",
        {"hi": 3},
        "too many",
    )


@pytest.mark.parametrize("value", [0, 1, rules.MAX_CAPACITY_PER_HOUR])
def test_capacity_within_the_limit_is_allowed(value):
    rules.capacity(value)


@pytest.mark.parametrize("value", [-1, rules.MAX_CAPACITY_PER_HOUR + 1, 1_000_000])
def test_capacity_beyond_the_limit_is_refused(value):
    err = refused("capacity.out_of_range", rules.capacity, value)
    assert err.field == "capacity_per_hour"
    assert err.params == {"value": value, "lo": 0, "hi": 100_000}


def test_the_capacity_limit_is_one_hundred_thousand_tubes_an_hour():
    assert rules.MAX_CAPACITY_PER_HOUR == 100_000


def test_an_outage_ends_after_it_starts():
    rules.outage(NOW, NOW + SECOND, now=NOW)
    for end in (NOW, NOW - HOUR):
        err = refused("outage.order", rules.outage, NOW, end, now=NOW)
        assert err.field == "outage_to" and err.params == {"start": NOW, "end": end}


def test_an_outage_lies_within_a_year_of_now_on_both_sides():
    assert rules.OUTAGE_REACH.days == 366
    # just inside: in the past and in the future
    rules.outage(NOW - REACH, NOW - REACH + HOUR, now=NOW)
    rules.outage(NOW + REACH - HOUR, NOW + REACH, now=NOW)
    for start, end, field in (
        (NOW - REACH - SECOND, NOW, "outage_from"),
        (NOW + REACH + SECOND, NOW + REACH + HOUR, "outage_from"),
        (NOW, NOW + REACH + SECOND, "outage_to"),
        (NOW - REACH - HOUR, NOW - REACH - SECOND, "outage_from"),
    ):
        err = refused("outage.out_of_range", rules.outage, start, end, now=NOW)
        assert err.field == field and err.params["days"] == 366


@pytest.mark.parametrize(("open_hour", "close_hour"), [(0, 24), (24, 0), (8, 20), (20, 6)])
def test_opening_hours_within_the_day_and_not_equal_are_allowed(open_hour, close_hour):
    rules.opening_hours(open_hour, close_hour)


@pytest.mark.parametrize(
    ("open_hour", "close_hour", "field"),
    [(-1, 8, "open_hour"), (25, 8, "open_hour"), (8, -1, "close_hour"), (8, 25, "close_hour")],
)
def test_opening_hours_outside_the_day_are_refused(open_hour, close_hour, field):
    err = refused("hours.out_of_range", rules.opening_hours, open_hour, close_hour)
    assert err.field == field and (err.params["lo"], err.params["hi"]) == (0, 24)


@pytest.mark.parametrize("hour", [0, 8, 24])
def test_equal_opening_hours_are_refused(hour):
    assert refused("hours.equal", rules.opening_hours, hour, hour).params == {"hour": hour}


def _change(**given: object) -> dict[str, object]:
    return {
        "capacity_per_hour": None,
        "outage_from": None,
        "outage_to": None,
        "back_to_normal": False,
    } | given


def test_a_lab_reports_exactly_one_change():
    assert rules.lab_change(**_change(capacity_per_hour=0)) == "capacity"
    assert rules.lab_change(**_change(outage_from=NOW, outage_to=NOW + HOUR)) == "outage"
    assert rules.lab_change(**_change(back_to_normal=True)) == "normal"
    assert set(rules.LAB_CHANGES) == {"capacity", "outage", "normal"}
    for nothing in (_change(), _change(outage_from=NOW), _change(outage_to=NOW)):
        refused("lab_status.missing", rules.lab_change, **nothing)
    for several in (
        _change(capacity_per_hour=5, back_to_normal=True),
        _change(capacity_per_hour=5, outage_from=NOW, outage_to=NOW + HOUR),
        _change(outage_from=NOW, outage_to=NOW + HOUR, back_to_normal=True),
    ):
        err = refused("lab_status.ambiguous", rules.lab_change, **several)
        assert len(err.params["kinds"]) == 2


#: every move a box may make: forward, or its own state again
ALLOWED = {
    (a, b)
    for a, b in product(BATCH_STATES, repeat=2)
    if BATCH_STATES.index(b) >= BATCH_STATES.index(a)
}


def test_box_states_are_one_ordered_list():
    assert BATCH_STATES == (PLANNED, PICKED_UP, RECEIVED, PROCESSING, RESULTED)
    assert BATCH_STATES == ("planned", "picked_up", "received", "processing", "resulted")
    assert len(ALLOWED) == 15


@pytest.mark.parametrize(("current", "to"), list(product(BATCH_STATES, repeat=2)))
def test_every_box_state_move_is_allowed_forward_and_refused_backward(current, to):
    if (current, to) in ALLOWED:
        assert rules.batch_state("B1", current, to) == to
        assert rules.may_move(current, to)
    else:
        err = refused("batch_status.backwards", rules.batch_state, "B1", current, to)
        assert err.params == {"batch": "B1", "status": current, "to": to}
        assert "cannot go back" in err.message
        assert not rules.may_move(current, to)


def test_an_unknown_box_state_is_refused():
    err = refused("batch_status.unknown", rules.batch_state, "B1", PLANNED, "eaten")
    assert err.params["states"] == BATCH_STATES


def test_a_box_is_unpinned_only_while_planned():
    rules.unpin("B1", PLANNED)
    for state in BATCH_STATES[1:]:
        err = refused("batch_status.unpin_after_pickup", rules.unpin, "B1", state)
        assert err.field == "lab_id"


def test_a_positive_pool_needs_pools_and_one_to_all_of_its_tubes():
    for positive in (1, 10):
        rules.positive_pool("B1", pool_size=5, tubes=10, positive_tubes=positive)
    for positive in (0, 11):
        err = refused(
            "positive.out_of_range",
            rules.positive_pool,
            "B1",
            pool_size=5,
            tubes=10,
            positive_tubes=positive,
        )
        assert err.params == {"value": positive, "lo": 1, "hi": 10}
    refused(
        "positive.single_tubes", rules.positive_pool, "B1", pool_size=1, tubes=10, positive_tubes=1
    )


# ---------------------------------------------------------------------------
# through the service functions, on a stored world


@pytest.fixture
def world(engine):
    with transaction(engine) as s:
        seed(s, load_instance("fixtures/demo"), now=NOW)
        lab = s.scalars(select(m.Lab.lab_id).order_by(m.Lab.lab_id)).first()
        batches = s.scalars(select(m.Batch.batch_id).order_by(m.Batch.batch_id)).all()
    return lab, list(batches)


def _counts(s) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    return (
        s.scalar(select(func.count()).select_from(m.LabStatusChange)),
        s.scalar(select(func.count()).select_from(m.Outage)),
        s.scalar(select(func.count()).select_from(m.AuditLog)),
    )


def test_lab_status_refuses_each_broken_rule_and_changes_nothing(engine, world):
    lab, _ = world
    cases = [
        ("capacity.out_of_range", {"capacity_per_hour": rules.MAX_CAPACITY_PER_HOUR + 1}),
        ("capacity.out_of_range", {"capacity_per_hour": -1}),
        ("outage.order", {"outage_from": NOW + HOUR, "outage_to": NOW}),
        ("outage.order", {"outage_from": NOW, "outage_to": NOW}),
        ("outage.out_of_range", {"outage_from": NOW, "outage_to": NOW + REACH + SECOND}),
        ("outage.out_of_range", {"outage_from": NOW - REACH - SECOND, "outage_to": NOW}),
        ("lab_status.missing", {}),
        ("lab_status.missing", {"outage_from": NOW}),
        ("lab_status.ambiguous", {"capacity_per_hour": 5, "back_to_normal": True}),
    ]
    with transaction(engine) as s:
        before = s.get(m.Lab, lab).capacity_per_hour
        counts = _counts(s)
        for code, change in cases:
            refused(code, events.lab_status, s, lab, now=NOW, **change)
        assert s.get(m.Lab, lab).capacity_per_hour == before
        assert _counts(s) == counts


def test_lab_status_accepts_the_edges_of_each_rule(engine, world):
    lab, _ = world
    with transaction(engine) as s:
        for cap in (rules.MAX_CAPACITY_PER_HOUR, 0):
            events.lab_status(s, lab, now=NOW, capacity_per_hour=cap)
            assert s.get(m.Lab, lab).capacity_per_hour == cap
        events.lab_status(s, lab, now=NOW, outage_from=NOW - REACH, outage_to=NOW + REACH)
        events.lab_status(s, lab, now=NOW, outage_from=NOW, outage_to=NOW + SECOND)
        events.lab_status(s, lab, now=NOW, back_to_normal=True)
        kinds = s.scalars(select(m.LabStatusChange.kind).order_by(m.LabStatusChange.id)).all()
        assert kinds == ["capacity", "capacity", "outage", "outage", "normal"]


def test_lab_settings_refuse_bad_hours_and_record_a_change(engine, world):
    lab, _ = world
    with transaction(engine) as s:
        row = s.get(m.Lab, lab)
        kept = (row.open_hour, row.close_hour, row.isolation_ok)
        counts = _counts(s)
        for open_hour, close_hour, code in ((8, 8, "hours.equal"), (8, 25, "hours.out_of_range")):
            refused(
                code,
                events.lab_settings,
                s,
                lab,
                now=NOW,
                open_hour=open_hour,
                close_hour=close_hour,
                isolation_ok=not kept[2],
            )
        assert (row.open_hour, row.close_hour, row.isolation_ok) == kept
        assert _counts(s) == counts
        same = events.lab_settings(
            s, lab, now=NOW, open_hour=kept[0], close_hour=kept[1], isolation_ok=kept[2]
        )
        assert same == [] and _counts(s) == counts
        changed = events.lab_settings(
            s, lab, now=NOW, user="ops", open_hour=20, close_hour=6, isolation_ok=not kept[2]
        )
        assert set(changed) >= {"close_hour", "isolation_ok"}
        audit = s.scalars(select(m.AuditLog).order_by(m.AuditLog.id.desc())).first()
        assert (audit.action, audit.user, audit.target) == ("lab edit", "ops", lab)
        assert audit.detail["isolation_ok"] == [kept[2], not kept[2]]


def test_batch_status_makes_every_allowed_move_and_refuses_the_rest(engine, world):
    _, batches = world
    pairs = list(product(BATCH_STATES, repeat=2))
    assert len(batches) >= len(pairs)
    with transaction(engine) as s:
        for bid, (current, _) in zip(batches, pairs, strict=False):
            s.get(m.Batch, bid).status = current
        s.flush()
        audits = _counts(s)[2]
        for bid, (current, to) in zip(batches, pairs, strict=False):
            if (current, to) in ALLOWED:
                events.batch_status(s, bid, to, now=NOW)
                assert s.get(m.Batch, bid).status == to, (current, to)
            else:
                refused("batch_status.backwards", events.batch_status, s, bid, to, now=NOW)
                assert s.get(m.Batch, bid).status == current, (current, to)
        # one audit row per move made, none for a refused one
        assert _counts(s)[2] == audits + len(ALLOWED)
        refused("batch_status.unknown", events.batch_status, s, batches[0], "eaten", now=NOW)
        with pytest.raises(EventError, match="unknown batch"):
            events.batch_status(s, "NOPE", PICKED_UP, now=NOW)


def test_positive_pool_refuses_single_tubes_and_too_many_positives(engine, world):
    _, batches = world
    with transaction(engine) as s:
        rows = [s.get(m.Batch, bid) for bid in batches]
        pooled = next(b for b in rows if (b.people or b.tubes) > b.tubes)
        single = next(b for b in rows if (b.people or b.tubes) == b.tubes)
        n = s.scalar(select(func.count()).select_from(m.Batch))
        refused("positive.single_tubes", events.positive_pool, s, single.batch_id, now=NOW)
        for too_many in (0, pooled.tubes + 1):
            refused(
                "positive.out_of_range",
                events.positive_pool,
                s,
                pooled.batch_id,
                now=NOW,
                positive_tubes=too_many,
            )
        assert s.scalar(select(func.count()).select_from(m.Batch)) == n
        retest = events.positive_pool(s, pooled.batch_id, now=NOW, positive_tubes=pooled.tubes)
        assert retest.tubes > pooled.tubes


def test_pin_refuses_to_unpin_a_box_past_planned(engine, world):
    lab, batches = world
    with transaction(engine) as s:
        planned, moving = batches[0], batches[1]
        events.pin_batch(s, planned, lab, now=NOW)
        events.pin_batch(s, planned, None, now=NOW)
        assert s.get(m.Batch, planned).pinned_lab is None
        events.batch_status(s, moving, PICKED_UP, now=NOW, lab_id=lab)
        refused("batch_status.unpin_after_pickup", events.pin_batch, s, moving, None, now=NOW)
        assert s.get(m.Batch, moving).pinned_lab == lab


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--capacity", str(rules.MAX_CAPACITY_PER_HOUR + 1)], "between 0 and 100000"),
        (["--capacity", "-1"], "between 0 and 100000"),
        (
            ["--outage-from", "2022-01-09T12:00", "--outage-to", "2022-01-09T10:00"],
            "must end after it starts",
        ),
        (
            ["--outage-from", "2022-01-09T12:00", "--outage-to", "2099-01-09T10:00"],
            "outage_to must be within 366 days of now",
        ),
        (["--capacity", "5", "--normal"], "one change at a time"),
    ],
)
def test_the_command_line_says_the_broken_rule_and_changes_nothing(
    db_url, engine, world, capsys, args, said
):
    from natsched.cli import main

    lab, _ = world
    with transaction(engine) as s:
        counts = _counts(s)
    argv = ["event", "lab", lab, "--at", NOW.isoformat(), "--db", db_url, *args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert said in err and len(err.strip().splitlines()) == 1, err
    with transaction(engine) as s:
        assert _counts(s) == counts
