"""What happens during the day, recorded in the store; each asks for a re-plan.

Time is passed in. Every event writes an audit row and sets the
``replan_request`` setting, which the worker turns into a (debounced) re-plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from scheduler.domain import PLANNED, RECEIVED
from scheduler.store import models as m
from scheduler.store import rules
from scheduler.store.errors import EventError, RuleViolation

__all__ = ["EventError", "RuleViolation"]


def request_replan(session: Session, now: datetime, reason: str) -> None:
    rec = session.get(m.Setting, "replan_request")
    reasons = list(rec.value.get("reasons", [])) if rec is not None else []
    reasons.append(reason)
    value = {"at": now.isoformat(), "reasons": reasons[-50:]}
    if rec is not None:
        rec.value = value
        session.flush()
        return
    # two offices' first uploads may both find no request row (PostgreSQL lets two
    # counties store at once): the second insert must add to the row, not fail
    dialect = session.get_bind().dialect.name
    if dialect not in ("postgresql", "sqlite"):
        session.add(m.Setting(key="replan_request", value=value))
        session.flush()
        return
    from sqlalchemy.dialects import postgresql, sqlite

    table = cast(Table, m.Setting.__table__)
    row = {"key": "replan_request", "value": value}
    if dialect == "postgresql":
        session.execute(
            postgresql.insert(table).values(**row).on_conflict_do_nothing(index_elements=["key"])
        )
    else:
        session.execute(
            sqlite.insert(table).values(**row).on_conflict_do_nothing(index_elements=["key"])
        )
    rec = session.get(m.Setting, "replan_request", populate_existing=True)
    if rec is not None and rec.value != value:
        # the other request's row won: ours joins it
        rec.value = {
            "at": now.isoformat(),
            "reasons": [*rec.value.get("reasons", []), reason][-50:],
        }
    session.flush()


def _audit(
    session: Session, now: datetime, user: str, action: str, target: str, **detail: object
) -> None:
    session.add(m.AuditLog(at=now, user=user, action=action, target=target, detail=detail))


def lab_status(
    session: Session,
    lab_id: str,
    *,
    now: datetime,
    user: str = "",
    capacity_per_hour: int | None = None,
    outage_from: datetime | None = None,
    outage_to: datetime | None = None,
    back_to_normal: bool = False,
    note: str = "",
) -> None:
    """A lab reports a capacity change, an outage ``[from, to)``, or that it is back to normal.

    Exactly one of them; the rules of ``scheduler.store.rules`` refuse the rest
    with a :class:`RuleViolation`.
    """
    lab = session.get(m.Lab, lab_id)
    if lab is None:
        raise EventError(f"unknown lab {lab_id!r}")
    kind = rules.lab_change(
        capacity_per_hour=capacity_per_hour,
        outage_from=outage_from,
        outage_to=outage_to,
        back_to_normal=back_to_normal,
    )
    if capacity_per_hour is not None:
        rules.capacity(capacity_per_hour)
        lab.capacity_per_hour = capacity_per_hour
    elif outage_from is not None and outage_to is not None:
        rules.outage(outage_from, outage_to, now=now)
        session.add(m.Outage(lab_id=lab_id, start=outage_from, end=outage_to))
    else:
        # outages still running end now
        for o in session.scalars(
            select(m.Outage).where(m.Outage.lab_id == lab_id, m.Outage.end > now)
        ):
            if o.start >= now:
                session.delete(o)
            else:
                o.end = now
    session.add(
        m.LabStatusChange(
            lab_id=lab_id,
            at=now,
            kind=kind,
            capacity_per_hour=capacity_per_hour,
            note=note,
            user=user,
        )
    )
    _audit(
        session,
        now,
        user,
        f"lab {kind}",
        lab_id,
        capacity=capacity_per_hour,
        start=outage_from.isoformat() if outage_from else None,
        end=outage_to.isoformat() if outage_to else None,
    )
    request_replan(session, now, f"lab {lab_id} {kind}")


def lab_settings(
    session: Session,
    lab_id: str,
    *,
    now: datetime,
    user: str = "",
    open_hour: int,
    close_hour: int,
    isolation_ok: bool,
    note: str = "",
) -> list[str]:
    """Headquarters sets a lab's hours and isolation clearance; returns what changed.

    Not a lab's own report, so no status change: an audit row of the old and new
    values, and a re-plan request, when anything changed.
    """
    lab = session.get(m.Lab, lab_id)
    if lab is None:
        raise EventError(f"unknown lab {lab_id!r}")
    rules.opening_hours(open_hour, close_hour)
    detail: dict[str, object] = {}
    for attr, value in (
        ("open_hour", open_hour),
        ("close_hour", close_hour),
        ("isolation_ok", isolation_ok),
    ):
        old = getattr(lab, attr)
        if value != old:
            detail[attr] = [old, value]
            setattr(lab, attr, value)
    if detail:
        _audit(session, now, user, "lab edit", lab_id, **detail, note=note)
        request_replan(session, now, f"lab {lab_id} edited")
    return list(detail)


def batch_status(
    session: Session,
    batch_id: str,
    status: str,
    *,
    now: datetime,
    user: str = "",
    lab_id: str | None = None,
) -> None:
    """A box was picked up, received, is being processed, or has its result.

    ``lab_id`` (where it goes) is kept as the box's pinned lab from pickup on.
    A box only moves forward (``rules.batch_state``).
    """
    b = session.get(m.Batch, batch_id)
    if b is None:
        raise EventError(f"unknown batch {batch_id!r}")
    status = rules.batch_state(batch_id, b.status, status)
    # what it replaces, so that an undo restores it exactly
    previous, previous_lab = b.status, b.pinned_lab
    if lab_id is not None:
        if session.get(m.Lab, lab_id) is None:
            raise EventError(f"unknown lab {lab_id!r}")
        b.pinned_lab = lab_id
    b.status = status
    _audit(
        session,
        now,
        user,
        rules.STATUS_ACTION,
        batch_id,
        status=status,
        lab=lab_id,
        previous=previous,
        previous_lab=previous_lab,
    )
    request_replan(session, now, f"batch {batch_id} {status}")


def receive_scanned(
    session: Session, batch_id: str, *, now: datetime, user: str = "", lab_id: str
) -> None:
    """A box scanned at ``lab_id``'s reception: received, once (a second scan is refused)."""
    b = session.get(m.Batch, batch_id)
    if b is None:
        raise EventError(f"unknown batch {batch_id!r}")
    rules.first_receipt(batch_id, b.status)
    batch_status(session, batch_id, RECEIVED, now=now, user=user, lab_id=lab_id)


#: the audit actions that change a box: the last of them is what an undo would undo
BOX_ACTIONS = (rules.STATUS_ACTION, rules.UNDO_ACTION, "pin", "positive pool")


def _change(row: m.AuditLog) -> rules.StatusChange:
    d = row.detail or {}
    previous = d.get("previous")
    return rules.StatusChange(
        action=row.action,
        at=row.at,
        status=str(d.get("status", "")),
        previous=previous if isinstance(previous, str) else None,
        previous_lab=d.get("previous_lab"),
    )


def undoable(session: Session, *, now: datetime) -> dict[str, rules.StatusChange]:
    """The boxes whose last status change may still be undone now, with that change."""
    # each box's last change in the window (rows in order: a later one replaces it)
    changes = {
        row.target: _change(row)
        for row in session.scalars(
            select(m.AuditLog)
            .where(m.AuditLog.at >= now - rules.UNDO_WINDOW, m.AuditLog.action.in_(BOX_ACTIONS))
            .order_by(m.AuditLog.id)
        )
    }
    if not changes:
        return {}
    current: dict[str, str] = {
        bid: status
        for bid, status in session.execute(
            select(m.Batch.batch_id, m.Batch.status).where(m.Batch.batch_id.in_(list(changes)))
        )
    }
    out = {}
    for bid, change in changes.items():
        try:
            rules.undo(bid, current.get(bid, ""), change, now=now)
        except RuleViolation:
            continue
        out[bid] = change
    return out


def undo_batch_status(
    session: Session, batch_id: str, *, now: datetime, user: str = "", note: str = ""
) -> rules.StatusChange:
    """Undo a box's last status change within ``rules.UNDO_WINDOW``; returns the change undone.

    The state and pinned lab it replaced come back exactly, the undo is audited
    (who, when, what it undid) and a re-plan is asked for, as for the change itself.
    """
    # locked (on PostgreSQL) so that two undo clicks cannot both restore
    b = session.get(m.Batch, batch_id, with_for_update=True)
    if b is None:
        raise EventError(f"unknown batch {batch_id!r}")
    row = session.scalars(
        select(m.AuditLog)
        .where(m.AuditLog.target == batch_id, m.AuditLog.action.in_(BOX_ACTIONS))
        .order_by(m.AuditLog.id.desc())
        .limit(1)
    ).first()
    last = _change(row) if row is not None else None
    rules.undo(batch_id, b.status, last, now=now)
    assert last is not None and last.previous is not None
    b.status = rules.known_state(last.previous)
    b.pinned_lab = last.previous_lab
    _audit(
        session,
        now,
        user,
        rules.UNDO_ACTION,
        batch_id,
        status=b.status,
        lab=b.pinned_lab,
        undone=last.status,
        undone_at=last.at.isoformat(),
        note=note,
    )
    request_replan(session, now, f"batch {batch_id} {last.status} undone")
    session.flush()
    return last


@dataclass(frozen=True)
class Retest:
    batch_id: str
    tubes: int


def positive_pool(
    session: Session,
    batch_id: str,
    *,
    now: datetime,
    user: str = "",
    recall_minutes: int = 120,
    positive_tubes: int = 1,
) -> Retest:
    """Pooled tubes of ``batch_id`` tested positive: recall their people for single tubes.

    The retest batch holds ``pool_size`` single tubes per positive pooled tube,
    urgent and isolation-only, at the same site, collected when the people
    are back (``now + recall_minutes``) and traceable through
    ``parent_batch_id``.
    """
    b = session.get(m.Batch, batch_id)
    if b is None:
        raise EventError(f"unknown batch {batch_id!r}")
    count = session.get(m.SampleCount, b.count_id) if b.count_id is not None else None
    pool = count.pool_size if count is not None else max(1, (b.people or b.tubes) // b.tubes)
    rules.positive_pool(batch_id, pool_size=pool, tubes=b.tubes, positive_tubes=positive_tubes)
    k = 1 + len(
        session.scalars(select(m.Batch.batch_id).where(m.Batch.parent_batch_id == batch_id)).all()
    )
    new_id = f"{batch_id}-R{k}"
    at = now + timedelta(minutes=recall_minutes)
    tubes = pool * positive_tubes
    session.add(
        m.Batch(
            batch_id=new_id,
            site_id=b.site_id,
            count_id=None,
            collected_at=at,
            ready_at=at + timedelta(minutes=30),
            tubes=tubes,
            people=tubes,
            priority="urgent",
            isolation=True,
            deadline=None,
            pinned_lab=None,
            status=PLANNED,
            parent_batch_id=batch_id,
        )
    )
    _audit(session, now, user, "positive pool", batch_id, retest=new_id, tubes=tubes)
    request_replan(session, now, f"positive pool {batch_id}")
    session.flush()
    return Retest(new_id, tubes)


def pin_batch(
    session: Session, batch_id: str, lab_id: str | None, *, now: datetime, user: str = ""
) -> None:
    """A coordinator pins a box to a lab (or, with ``None``, lets the planner choose again)."""
    b = session.get(m.Batch, batch_id)
    if b is None:
        raise EventError(f"unknown batch {batch_id!r}")
    if lab_id is not None and session.get(m.Lab, lab_id) is None:
        raise EventError(f"unknown lab {lab_id!r}")
    if lab_id is None:
        rules.unpin(batch_id, b.status)
    b.pinned_lab = lab_id
    _audit(session, now, user, "pin", batch_id, lab=lab_id)
    request_replan(session, now, f"batch {batch_id} pinned to {lab_id}")
