"""Undoing a box's status change: within the window, exactly, audited, re-planned; else refused.

The rule (``scheduler.store.rules.undo``) alone, then through the service
(``scheduler.replan.events.undo_batch_status``) on the demo world.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from scheduler.domain import PICKED_UP, PLANNED, PROCESSING, RECEIVED, RESULTED
from scheduler.replan import events
from scheduler.spec_io import load_instance
from scheduler.store import models as m
from scheduler.store import rules
from scheduler.store.db import transaction
from scheduler.store.world import seed
from tests.support.refusals import refused

NOW = datetime(2022, 1, 9, 8, 0)
WINDOW = rules.UNDO_WINDOW
SECOND = timedelta(seconds=1)


def _change(action: str = rules.STATUS_ACTION, **kw: object) -> rules.StatusChange:
    fields: dict[str, object] = {
        "action": action,
        "at": NOW,
        "status": RECEIVED,
        "previous": PICKED_UP,
        "previous_lab": None,
    }
    fields.update(kw)
    return rules.StatusChange(**fields)  # type: ignore[arg-type]


def test_undo_rule_allows_the_last_change_inside_the_window_only():
    rules.undo("B", RECEIVED, _change(), now=NOW)
    rules.undo("B", RECEIVED, _change(), now=NOW + WINDOW)
    gone = refused(
        "batch_status.undo_expired", rules.undo, "B", RECEIVED, _change(), now=NOW + WINDOW + SECOND
    )
    assert gone.params["minutes"] == 10 and gone.params["status"] == RECEIVED
    refused("batch_status.nothing_to_undo", rules.undo, "B", PLANNED, None, now=NOW)
    refused(
        "batch_status.nothing_to_undo",
        rules.undo,
        "B",
        PICKED_UP,
        _change(rules.UNDO_ACTION, status=PICKED_UP),
        now=NOW,
    )
    # a row written before undo kept the previous state: nothing to restore exactly
    refused(
        "batch_status.nothing_to_undo", rules.undo, "B", RECEIVED, _change(previous=None), now=NOW
    )
    later = refused(
        "batch_status.undo_superseded", rules.undo, "B", RECEIVED, _change("pin"), now=NOW
    )
    assert later.params["action"] == "pin"
    # the box is no longer in the state the change made (changed without an audit row)
    refused("batch_status.undo_superseded", rules.undo, "B", PROCESSING, _change(), now=NOW)


def test_first_receipt_refuses_a_box_already_received():
    rules.first_receipt("B", PLANNED)
    rules.first_receipt("B", PICKED_UP)
    for state in (RECEIVED, PROCESSING, RESULTED):
        assert (
            refused("batch_status.already_received", rules.first_receipt, "B", state).params[
                "status"
            ]
            == state
        )


@pytest.fixture
def world(engine):
    with transaction(engine) as s:
        seed(s, load_instance("fixtures/demo"), now=NOW)
        labs = s.scalars(select(m.Lab.lab_id).order_by(m.Lab.lab_id)).all()
        batches = s.scalars(select(m.Batch.batch_id).order_by(m.Batch.batch_id)).all()
    return list(labs), list(batches)


def _audits(s, bid: str) -> list[m.AuditLog]:  # type: ignore[no-untyped-def]
    return list(
        s.scalars(select(m.AuditLog).where(m.AuditLog.target == bid).order_by(m.AuditLog.id))
    )


def test_undo_restores_the_previous_state_and_lab_audits_and_asks_for_a_replan(engine, world):
    labs, batches = world
    bid = batches[0]
    with transaction(engine) as s:
        events.batch_status(s, bid, PICKED_UP, now=NOW, user="courier", lab_id=labs[0])
        s.delete(s.get(m.Setting, "replan_request"))
        s.flush()
        # received at another lab than the pickup named: the undo brings the first lab back
        events.batch_status(s, bid, RECEIVED, now=NOW + SECOND, user="lab-a", lab_id=labs[1])
        assert s.get(m.Batch, bid).pinned_lab == labs[1]
        s.delete(s.get(m.Setting, "replan_request"))
        s.flush()
        assert bid in events.undoable(s, now=NOW + WINDOW)
        undone = events.undo_batch_status(s, bid, now=NOW + WINDOW, user="lab-b")
        assert (undone.status, undone.previous) == (RECEIVED, PICKED_UP)
        b = s.get(m.Batch, bid)
        assert (b.status, b.pinned_lab) == (PICKED_UP, labs[0])
        row = _audits(s, bid)[-1]
        assert (row.action, row.user, row.at) == (rules.UNDO_ACTION, "lab-b", NOW + WINDOW)
        assert row.detail["status"] == PICKED_UP and row.detail["undone"] == RECEIVED
        assert row.detail["undone_at"] == (NOW + SECOND).isoformat()
        request = s.get(m.Setting, "replan_request")
        assert request is not None and request.value["reasons"] == [f"batch {bid} received undone"]
        # the undo itself cannot be undone, nor the pickup behind it
        assert bid not in events.undoable(s, now=NOW + WINDOW)
        refused("batch_status.nothing_to_undo", events.undo_batch_status, s, bid, now=NOW + WINDOW)
        assert s.get(m.Batch, bid).status == PICKED_UP


def test_undo_from_planned_unpins_as_before(engine, world):
    labs, batches = world
    bid = batches[1]
    with transaction(engine) as s:
        assert s.get(m.Batch, bid).pinned_lab is None
        events.batch_status(s, bid, RECEIVED, now=NOW, lab_id=labs[0])
        events.undo_batch_status(s, bid, now=NOW)
        b = s.get(m.Batch, bid)
        assert (b.status, b.pinned_lab) == (PLANNED, None)


def test_undo_refused_after_the_window_or_a_later_change_and_changes_nothing(engine, world):
    labs, batches = world
    late, pinned, never = batches[2], batches[3], batches[4]
    with transaction(engine) as s:
        events.batch_status(s, late, RESULTED, now=NOW, lab_id=labs[0])
        n = len(_audits(s, late))
        assert late not in events.undoable(s, now=NOW + WINDOW + SECOND)
        gone = refused(
            "batch_status.undo_expired",
            events.undo_batch_status,
            s,
            late,
            now=NOW + WINDOW + SECOND,
        )
        assert gone.params["at"] == NOW
        assert s.get(m.Batch, late).status == RESULTED and len(_audits(s, late)) == n

        events.batch_status(s, pinned, PICKED_UP, now=NOW, lab_id=labs[0])
        events.pin_batch(s, pinned, labs[1], now=NOW + SECOND)
        refused(
            "batch_status.undo_superseded", events.undo_batch_status, s, pinned, now=NOW + SECOND
        )
        assert s.get(m.Batch, pinned).pinned_lab == labs[1]

        refused("batch_status.nothing_to_undo", events.undo_batch_status, s, never, now=NOW)


def test_receive_scanned_marks_received_once(engine, world):
    labs, batches = world
    bid = batches[5]
    with transaction(engine) as s:
        events.receive_scanned(s, bid, now=NOW, user="lab", lab_id=labs[0])
        b = s.get(m.Batch, bid)
        assert (b.status, b.pinned_lab) == (RECEIVED, labs[0])
        refused(
            "batch_status.already_received", events.receive_scanned, s, bid, now=NOW, lab_id=labs[0]
        )
        assert len(_audits(s, bid)) == 1
