"""The rules a change to the stored world must keep: lab status, capacity, hours, outages, boxes.

Each rule is one function here, called once, by the service function that
makes the change (``scheduler.replan.events``). A broken rule raises
:class:`~scheduler.store.errors.RuleViolation` with a stable ``code``; the
forms and the command line show that one error and check nothing themselves,
and the API's schemas take their limits from here. Nothing here touches the
database, so the rules can be tested, and imported, without one.

Codes and their ``params``:

- ``lab_status.missing``: no change said (or an outage with one end only);
- ``lab_status.ambiguous``: more than one change at once (``kinds``);
- ``capacity.out_of_range``: ``value``, ``lo``, ``hi``;
- ``hours.out_of_range``: an opening or closing hour (``value``) outside ``lo..hi``;
- ``hours.equal``: opening and closing at the same hour (``hour``): never open;
- ``outage.order``: ends at or before it starts (``start``, ``end``);
- ``outage.out_of_range``: a time further than ``days`` from now (``value``);
- ``batch_status.unknown``: ``status`` is none of ``states``;
- ``batch_status.backwards``: ``batch`` is ``status`` and cannot go back ``to``;
- ``batch_status.unpin_after_pickup``: ``batch`` is ``status``, past planned;
- ``batch_status.already_received``: a box scanned at reception is already ``status``;
- ``batch_status.nothing_to_undo``: ``batch`` has no status change that can be undone
  (none recorded, or the last one was already undone);
- ``batch_status.undo_expired``: ``batch`` became ``status`` at ``at``, more than
  ``minutes`` ago;
- ``batch_status.undo_superseded``: a later change (``action``) was made to ``batch``;
- ``positive.single_tubes``: ``batch`` holds single tubes, no pools to retest;
- ``positive.out_of_range``: ``value`` positive tubes, not in ``lo..hi`` (the box's tubes).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, get_args

from scheduler.domain import BATCH_STATES, PLANNED, RECEIVED, BatchState
from scheduler.store.errors import RuleViolation

LabChange = Literal["capacity", "outage", "normal"]
#: what a lab may report: a new capacity, an outage [from, to), or back to normal
LAB_CHANGES: tuple[LabChange, ...] = get_args(LabChange)
#: tubes per hour; a capacity above this is a typing slip, not a lab
MAX_CAPACITY_PER_HOUR = 100_000
#: how far from now an outage's start or end may lie
OUTAGE_REACH = timedelta(days=366)
#: a lab's opening and closing hours (SPEC: 0..24; closing before opening wraps midnight)
HOURS = (0, 24)
#: how long a box's status change may be undone: long enough to notice a wrong click,
#: short enough that no courier or re-plan has acted on the new state for long
UNDO_WINDOW_MINUTES = 10
UNDO_WINDOW = timedelta(minutes=UNDO_WINDOW_MINUTES)

_RANK: dict[str, int] = {s: i for i, s in enumerate(BATCH_STATES)}


def lab_change(
    *,
    capacity_per_hour: int | None,
    outage_from: datetime | None,
    outage_to: datetime | None,
    back_to_normal: bool,
) -> LabChange:
    """Which one change a lab status report makes; refuses none and several."""
    said: list[LabChange] = []
    if capacity_per_hour is not None:
        said.append("capacity")
    if outage_from is not None and outage_to is not None:
        said.append("outage")
    if back_to_normal:
        said.append("normal")
    if not said:
        raise RuleViolation(
            "kind",
            "lab_status.missing",
            "say what changed: a capacity, an outage from/to, or back to normal",
        )
    if len(said) > 1:
        raise RuleViolation(
            "kind",
            "lab_status.ambiguous",
            f"one change at a time, not {' and '.join(said)}",
            kinds=tuple(said),
        )
    return said[0]


def _within(field: str, code: str, value: int, lo: int, hi: int) -> None:
    """``value`` in ``lo..hi``, else refused with ``value``, ``lo`` and ``hi`` as params."""
    if not lo <= value <= hi:
        raise RuleViolation(
            field, code, f"{field} must be between {lo} and {hi}", value=value, lo=lo, hi=hi
        )


def capacity(value: int) -> None:
    """A lab's tubes per hour: ``0..MAX_CAPACITY_PER_HOUR`` (0: it tests nothing for now)."""
    _within("capacity_per_hour", "capacity.out_of_range", value, 0, MAX_CAPACITY_PER_HOUR)


def opening_hours(open_hour: int, close_hour: int) -> None:
    """Hours in ``HOURS``, and not equal: a lab that opens as it closes is never open."""
    for field, hour in (("open_hour", open_hour), ("close_hour", close_hour)):
        _within(field, "hours.out_of_range", hour, *HOURS)
    if open_hour == close_hour:
        raise RuleViolation(
            "close_hour",
            "hours.equal",
            "opening and closing hours are equal: the lab would never be open",
            hour=open_hour,
        )


def outage(start: datetime, end: datetime, *, now: datetime) -> None:
    """An outage ``[start, end)``: it ends after it starts, both within ``OUTAGE_REACH`` of now."""
    if end <= start:
        raise RuleViolation(
            "outage_to", "outage.order", "an outage must end after it starts", start=start, end=end
        )
    for field, when in (("outage_from", start), ("outage_to", end)):
        if abs(when - now) > OUTAGE_REACH:
            raise RuleViolation(
                field,
                "outage.out_of_range",
                f"{field} must be within {OUTAGE_REACH.days} days of now",
                value=when,
                days=OUTAGE_REACH.days,
            )


def known_state(status: str) -> BatchState:
    """``status`` as one of the box states, or refused."""
    if status not in _RANK:
        raise RuleViolation(
            "status",
            "batch_status.unknown",
            f"unknown status {status!r}; one of {', '.join(BATCH_STATES)}",
            status=status,
            states=BATCH_STATES,
        )
    return BATCH_STATES[_RANK[status]]


def may_move(current: str, to: str) -> bool:
    """Whether a box in state ``current`` may be marked ``to``: forward, or the same again."""
    return _RANK[to] >= _RANK.get(current, 0)


def batch_state(batch_id: str, current: str, to: str) -> BatchState:
    """A box's new state: a known one, never behind its current state."""
    state = known_state(to)
    if not may_move(current, state):
        raise RuleViolation(
            "status",
            "batch_status.backwards",
            f"batch {batch_id} is {current}; it cannot go back to {state}",
            batch=batch_id,
            status=current,
            to=state,
        )
    return state


def unpin(batch_id: str, current: str) -> None:
    """A box leaves its pinned lab only while planned: from pickup on it stays with its lab."""
    if current != PLANNED:
        raise RuleViolation(
            "lab_id",
            "batch_status.unpin_after_pickup",
            f"batch {batch_id} is {current}: it stays with its lab",
            batch=batch_id,
            status=current,
        )


def positive_pool(batch_id: str, *, pool_size: int, tubes: int, positive_tubes: int) -> None:
    """A positive pool: the box holds pools (more than one person a tube), 1..tubes of them."""
    if pool_size <= 1:
        raise RuleViolation(
            "batch_id",
            "positive.single_tubes",
            f"batch {batch_id} holds single tubes: a positive there is a case, not a pool",
            batch=batch_id,
        )
    _within("positive_tubes", "positive.out_of_range", positive_tubes, 1, tubes)


def first_receipt(batch_id: str, current: str) -> None:
    """A box scanned at reception: only one not yet received (a second scan is a mix-up)."""
    if _RANK.get(current, 0) >= _RANK[RECEIVED]:
        raise RuleViolation(
            "batch_id",
            "batch_status.already_received",
            f"batch {batch_id} is already {current}",
            batch=batch_id,
            status=current,
        )


@dataclass(frozen=True)
class StatusChange:
    """The last recorded change of a box (its audit row), as an undo needs it.

    ``previous`` and ``previous_lab`` are the state and pinned lab it replaced;
    ``None`` for ``previous`` when the row did not record it (nothing to restore).
    """

    action: str
    at: datetime
    status: str
    previous: str | None
    previous_lab: str | None


#: the audit action of a box's status change, and of its undo
STATUS_ACTION = "batch status"
UNDO_ACTION = "batch status undo"


def undo(batch_id: str, current: str, last: StatusChange | None, *, now: datetime) -> None:
    """A box's last change may be undone: a status change, still the box's state, within
    ``UNDO_WINDOW`` of now."""
    nothing = RuleViolation(
        "status",
        "batch_status.nothing_to_undo",
        f"batch {batch_id} has no status change to undo",
        batch=batch_id,
    )
    if last is None or last.action == UNDO_ACTION:
        raise nothing
    if last.action != STATUS_ACTION or last.status != current:
        raise RuleViolation(
            "status",
            "batch_status.undo_superseded",
            f"batch {batch_id} was changed since ({last.action})",
            batch=batch_id,
            action=last.action,
        )
    if last.previous is None:
        raise nothing
    if now - last.at > UNDO_WINDOW:
        minutes = UNDO_WINDOW_MINUTES
        raise RuleViolation(
            "status",
            "batch_status.undo_expired",
            f"batch {batch_id} became {current} more than {minutes} minutes ago",
            batch=batch_id,
            status=current,
            at=last.at,
            minutes=minutes,
        )
