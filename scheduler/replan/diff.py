"""What changed between two plan versions, batch by batch, and why."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.store import models as m


@dataclass(frozen=True)
class Move:
    batch_id: str
    from_lab: str | None
    to_lab: str | None
    from_last_slot: datetime | None
    to_last_slot: datetime | None
    why: str


def _rows(session: Session, plan_id: int) -> dict[str, tuple[str, datetime]]:
    if session.get(m.PlanVersion, plan_id) is None:
        raise LookupError(f"no plan version {plan_id}")
    out: dict[str, tuple[str, datetime]] = {}
    for r in session.scalars(select(m.PlanRow).where(m.PlanRow.plan_id == plan_id)):
        lab, last = out.get(r.batch_id, (r.lab_id, r.slot_start))
        out[r.batch_id] = (lab, max(last, r.slot_start))
    return out


def diff_plans(session: Session, a: int, b: int) -> list[Move]:
    """Batches added, dropped, moved between labs or re-timed from plan ``a`` to ``b``."""
    ra, rb = _rows(session, a), _rows(session, b)
    va, vb = session.get(m.PlanVersion, a), session.get(m.PlanVersion, b)
    assert va is not None and vb is not None
    changes = session.scalars(
        select(m.LabStatusChange).where(
            m.LabStatusChange.at > va.created_at, m.LabStatusChange.at <= vb.created_at
        )
    ).all()
    changed_labs = {c.lab_id: c.kind for c in changes}
    status = {
        r[0]: r[1]
        for r in session.execute(
            select(m.Batch.batch_id, m.Batch.status).where(
                m.Batch.batch_id.in_(set(ra) ^ set(rb) | set(ra) | set(rb))
            )
        )
    }
    moves: list[Move] = []
    for bid in sorted(set(ra) | set(rb)):
        old, new = ra.get(bid), rb.get(bid)
        if old == new:
            continue
        if old is None:
            why = "new batch"
        elif new is None:
            why = f"no longer planned ({status.get(bid, 'removed')})"
        elif old[0] != new[0]:
            why = (
                f"lab {old[0]} {changed_labs[old[0]]} change"
                if old[0] in changed_labs
                else "another lab gives a better plan"
            )
        else:
            why = "re-timed at the same lab"
        moves.append(
            Move(
                bid,
                old[0] if old else None,
                new[0] if new else None,
                old[1] if old else None,
                new[1] if new else None,
                why,
            )
        )
    return moves
