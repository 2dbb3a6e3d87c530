"""What changed between two plan versions, batch by batch, and why.

One definition for every place that counts changes: a batch is *changed*
when it was added, dropped, sent to another lab or re-timed (its last slot
at the same lab changed), and *moved* when it is in both plans at different
labs. :func:`changed` and :func:`moved` compare two plans' placements; the
plans list stores both counts when a version is made
(``scheduler.replan.core``), and the diff page lists the same batches.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.domain import Chunk
from scheduler.store import models as m

#: why a batch changed, as the pages translate it (``ops.why.<code>``)
NEW, DROPPED, LAB_CHANGE, BETTER_LAB, RETIMED = (
    "new",
    "dropped",
    "lab_change",
    "better_lab",
    "retimed",
)

Placement = dict[str, tuple[str, datetime]]


@dataclass(frozen=True)
class Move:
    batch_id: str
    from_lab: str | None
    to_lab: str | None
    from_last_slot: datetime | None
    to_last_slot: datetime | None
    why: str
    #: one of NEW, DROPPED, LAB_CHANGE, BETTER_LAB, RETIMED
    code: str = ""
    #: the lab's status-change kind (LAB_CHANGE) or the box's state (DROPPED)
    detail: str = ""


class Placed(Protocol):
    """A plan chunk or a stored plan row."""

    @property
    def batch_id(self) -> str: ...
    @property
    def lab_id(self) -> str: ...
    @property
    def slot_start(self) -> datetime: ...


def placement(chunks: Iterable[Placed]) -> Placement:
    """Each batch's lab and last slot."""
    out: Placement = {}
    for c in chunks:
        lab, last = out.get(c.batch_id, (c.lab_id, c.slot_start))
        out[c.batch_id] = (lab, max(last, c.slot_start))
    return out


def changed(before: Placement, after: Placement) -> list[str]:
    """The batches added, dropped, moved or re-timed from ``before`` to ``after``, sorted."""
    return [b for b in sorted(before.keys() | after.keys()) if before.get(b) != after.get(b)]


def moved(before: Placement, after: Placement) -> int:
    """How many batches are in both plans at different labs (the re-planner's churn)."""
    return sum(1 for b, (lab, _) in after.items() if b in before and before[b][0] != lab)


def _rows(session: Session, plan_id: int) -> Placement:
    if session.get(m.PlanVersion, plan_id) is None:
        raise LookupError(f"no plan version {plan_id}")
    rows = session.execute(
        select(m.PlanRow.batch_id, m.PlanRow.lab_id, m.PlanRow.slot_start).where(
            m.PlanRow.plan_id == plan_id
        )
    )
    return placement(Chunk(b, lab, at, 0) for b, lab, at in rows)


def diff_plans(session: Session, a: int, b: int) -> list[Move]:
    """Batches added, dropped, moved between labs or re-timed from plan ``a`` to ``b``."""
    ra, rb = _rows(session, a), _rows(session, b)
    va, vb = session.get(m.PlanVersion, a), session.get(m.PlanVersion, b)
    assert va is not None and vb is not None
    lo, hi = sorted((va.created_at, vb.created_at))
    changes = session.scalars(
        select(m.LabStatusChange).where(m.LabStatusChange.at > lo, m.LabStatusChange.at <= hi)
    ).all()
    changed_labs = {c.lab_id: c.kind for c in changes}
    ids = changed(ra, rb)
    status = dict(
        session.execute(
            select(m.Batch.batch_id, m.Batch.status).where(
                m.Batch.batch_id.in_([i for i in ids if i not in rb])
            )
        ).all()
    )
    moves: list[Move] = []
    for bid in ids:
        old, new = ra.get(bid), rb.get(bid)
        detail = ""
        if old is None:
            code, why = NEW, "new batch"
        elif new is None:
            detail = status.get(bid, "removed")
            code, why = DROPPED, f"no longer planned ({detail})"
        elif old[0] != new[0]:
            if old[0] in changed_labs:
                detail = changed_labs[old[0]]
                code, why = LAB_CHANGE, f"lab {old[0]} {detail} change"
            else:
                code, why = BETTER_LAB, "another lab gives a better plan"
        else:
            code, why = RETIMED, "re-timed at the same lab"
        moves.append(
            Move(
                bid,
                old[0] if old else None,
                new[0] if new else None,
                old[1] if old else None,
                new[1] if new else None,
                why,
                code,
                detail,
            )
        )
    return moves
