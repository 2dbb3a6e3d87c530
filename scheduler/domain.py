"""The planning world of SPEC.md as frozen dataclasses.

Nothing here reads files or imports a solver. Objects refer to each other by
id (as the SPEC files do); :class:`Problem` builds the id -> index maps once so
that the hot paths (``network.py``, solvers) can work on integer indices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import cached_property
from typing import Literal, get_args

LabKind = Literal["cdc", "hospital", "designated_hospital", "third_party", "mobile"]
Priority = Literal["urgent", "high", "routine"]

LAB_KINDS: tuple[str, ...] = ("cdc", "hospital", "designated_hospital", "third_party", "mobile")
PRIORITIES: tuple[str, ...] = ("urgent", "high", "routine")

DEFAULT_SLA_HOURS: dict[str, float] = {"urgent": 6, "high": 12, "routine": 24}
DEFAULT_PRIORITY_WEIGHT: dict[str, float] = {"urgent": 10, "high": 3, "routine": 1}

BatchState = Literal["planned", "picked_up", "received", "processing", "resulted"]
#: A box's states in the order it goes through them: it only moves forward
#: (``scheduler.store.rules.batch_state`` says which moves are allowed).
BATCH_STATES: tuple[BatchState, ...] = get_args(BatchState)
PLANNED, PICKED_UP, RECEIVED, PROCESSING, RESULTED = BATCH_STATES
#: at its lab: part of the lab's backlog, no longer planned
AT_LAB_STATES: tuple[BatchState, ...] = (RECEIVED, PROCESSING)
#: still to be planned or tested; a resulted box leaves the plan
OPEN_STATES: tuple[BatchState, ...] = tuple(s for s in BATCH_STATES if s != RESULTED)

#: An unassigned batch is scored as if its result came this long after the horizon.
UNASSIGNED_EXTRA = timedelta(hours=24)


class DomainError(ValueError):
    """A domain object was built with values that break the SPEC."""


@dataclass(frozen=True)
class TravelModel:
    speed_kmh: float = 50.0
    road_factor: float = 1.3
    handling_minutes: int = 20
    max_travel_minutes: int = 240

    def __post_init__(self) -> None:
        if not self.speed_kmh > 0:
            raise DomainError(f"travel.speed_kmh must be > 0, got {self.speed_kmh}")
        if not self.road_factor > 0:
            raise DomainError(f"travel.road_factor must be > 0, got {self.road_factor}")
        if self.handling_minutes < 0:
            raise DomainError(f"travel.handling_minutes must be >= 0, got {self.handling_minutes}")
        if self.max_travel_minutes < 0:
            raise DomainError(
                f"travel.max_travel_minutes must be >= 0, got {self.max_travel_minutes}"
            )


@dataclass(frozen=True)
class Config:
    """The keys of ``instance.json``."""

    plan_start: datetime
    horizon_hours: int = 48
    slot_minutes: int = 60
    travel: TravelModel = field(default_factory=TravelModel)
    sla_hours: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_SLA_HOURS))
    priority_weight: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_PRIORITY_WEIGHT))
    late_factor: float = 10.0
    timezone: str = "Asia/Shanghai"

    def __post_init__(self) -> None:
        problems = config_problems(self)
        if problems:
            raise DomainError("; ".join(problems))

    @property
    def horizon_end(self) -> datetime:
        return self.plan_start + timedelta(hours=self.horizon_hours)

    @property
    def n_slots(self) -> int:
        # A slot belongs to the horizon when it starts inside it.
        return math.ceil(self.horizon_hours * 60 / self.slot_minutes)

    @property
    def slot_delta(self) -> timedelta:
        return timedelta(minutes=self.slot_minutes)

    def slot_start(self, index: int) -> datetime:
        return self.plan_start + index * self.slot_delta

    def slot_index(self, when: datetime) -> int | None:
        """The index of the slot that starts exactly at ``when``, else None."""
        delta = when - self.plan_start
        seconds = delta.total_seconds()
        step = self.slot_minutes * 60
        if seconds < 0 or seconds % step != 0:
            return None
        index = int(seconds // step)
        return index if index < self.n_slots else None

    @property
    def unassigned_result_at(self) -> datetime:
        return self.horizon_end + UNASSIGNED_EXTRA


def config_problems(config: Config) -> list[str]:
    """Every rule of instance.json that ``config`` breaks, as readable sentences."""
    out: list[str] = []
    if config.horizon_hours <= 0:
        out.append(f"horizon_hours must be > 0, got {config.horizon_hours}")
    sm = config.slot_minutes
    if sm <= 0 or not (60 % sm == 0 or sm % 60 == 0):
        out.append(f"slot_minutes must divide 60 or be a multiple of 60, got {sm}")
    else:
        grid = 60 if sm > 60 else sm
        start = config.plan_start
        minute_of_day = start.hour * 60 + start.minute
        if start.second or start.microsecond or minute_of_day % grid:
            out.append(
                f"plan_start {start.isoformat()} is off the slot grid: its minutes since "
                f"midnight must be a multiple of {grid}"
            )
    for name, table in (
        ("sla_hours", config.sla_hours),
        ("priority_weight", config.priority_weight),
    ):
        for p in PRIORITIES:
            if p not in table:
                out.append(f"{name} lacks priority {p!r}")
            elif not (isinstance(table[p], int | float) and table[p] >= 0):
                out.append(f"{name}.{p} must be a number >= 0, got {table[p]!r}")
    if not config.late_factor >= 0:
        out.append(f"late_factor must be >= 0, got {config.late_factor}")
    return out


@dataclass(frozen=True)
class Lab:
    lab_id: str
    name: str
    kind: str
    county_code: str
    lat: float
    lon: float
    capacity_per_hour: int
    run_minutes: int
    open_hour: int
    close_hour: int
    isolation_ok: bool
    backlog_tubes: int = 0

    def __post_init__(self) -> None:
        if self.kind not in LAB_KINDS:
            raise DomainError(f"lab {self.lab_id}: unknown kind {self.kind!r}")
        for attr in ("capacity_per_hour", "run_minutes", "backlog_tubes"):
            if getattr(self, attr) < 0:
                raise DomainError(f"lab {self.lab_id}: {attr} must be >= 0")
        for attr in ("open_hour", "close_hour"):
            if not 0 <= getattr(self, attr) <= 24:
                raise DomainError(f"lab {self.lab_id}: {attr} must be in 0..24")

    def is_open_at_hour(self, hour: int) -> bool:
        """SPEC: open when ``open <= h < close``; wraps past midnight when open > close."""
        if self.open_hour <= self.close_hour:
            return self.open_hour <= hour < self.close_hour
        return hour >= self.open_hour or hour < self.close_hour


@dataclass(frozen=True)
class Site:
    site_id: str
    county_code: str
    name: str
    lat: float
    lon: float


@dataclass(frozen=True)
class Batch:
    batch_id: str
    site_id: str
    collected_at: datetime
    ready_at: datetime
    tubes: int
    priority: str
    isolation: bool = False
    people: int | None = None
    deadline: datetime | None = None
    pinned_lab: str | None = None

    def __post_init__(self) -> None:
        if self.tubes < 1:
            raise DomainError(f"batch {self.batch_id}: tubes must be >= 1")
        if self.priority not in PRIORITIES:
            raise DomainError(f"batch {self.batch_id}: unknown priority {self.priority!r}")
        if self.ready_at < self.collected_at:
            raise DomainError(f"batch {self.batch_id}: ready_at is before collected_at")


@dataclass(frozen=True)
class TravelOverride:
    site_id: str
    lab_id: str
    minutes: int


@dataclass(frozen=True)
class Outage:
    lab_id: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Problem:
    """One SPEC instance. Cross references are checked on construction."""

    config: Config
    labs: tuple[Lab, ...]
    sites: tuple[Site, ...]
    batches: tuple[Batch, ...]
    travel_overrides: tuple[TravelOverride, ...] = ()
    outages: tuple[Outage, ...] = ()

    def __post_init__(self) -> None:
        problems = problem_reference_problems(self)
        if problems:
            raise DomainError("; ".join(problems[:20]))

    @cached_property
    def lab_index(self) -> dict[str, int]:
        return {lab.lab_id: i for i, lab in enumerate(self.labs)}

    @cached_property
    def site_index(self) -> dict[str, int]:
        return {site.site_id: i for i, site in enumerate(self.sites)}

    @cached_property
    def batch_index(self) -> dict[str, int]:
        return {b.batch_id: i for i, b in enumerate(self.batches)}

    def deadline_of(self, batch: Batch) -> datetime:
        if batch.deadline is not None:
            return batch.deadline
        return batch.collected_at + timedelta(hours=self.config.sla_hours[batch.priority])

    @property
    def total_tubes(self) -> int:
        return sum(b.tubes for b in self.batches)


def problem_reference_problems(problem: Problem) -> list[str]:
    out: list[str] = []
    for name, ids in (
        ("lab_id", [lab.lab_id for lab in problem.labs]),
        ("site_id", [s.site_id for s in problem.sites]),
        ("batch_id", [b.batch_id for b in problem.batches]),
    ):
        seen: set[str] = set()
        for i in ids:
            if i in seen:
                out.append(f"duplicate {name} {i!r}")
            seen.add(i)
    labs = {lab.lab_id for lab in problem.labs}
    sites = {s.site_id for s in problem.sites}
    for b in problem.batches:
        if b.site_id not in sites:
            out.append(f"batch {b.batch_id}: unknown site_id {b.site_id!r}")
        if b.pinned_lab is not None and b.pinned_lab not in labs:
            out.append(f"batch {b.batch_id}: unknown pinned_lab {b.pinned_lab!r}")
    for t in problem.travel_overrides:
        if t.site_id not in sites:
            out.append(f"travel override: unknown site_id {t.site_id!r}")
        if t.lab_id not in labs:
            out.append(f"travel override: unknown lab_id {t.lab_id!r}")
    for o in problem.outages:
        if o.lab_id not in labs:
            out.append(f"outage: unknown lab_id {o.lab_id!r}")
    return out


@dataclass(frozen=True)
class Chunk:
    """Tubes of one batch processed in one slot of one lab (a plan row)."""

    batch_id: str
    lab_id: str
    slot_start: datetime
    tubes: int


@dataclass(frozen=True)
class Plan:
    """A set of plan rows. Batches with no chunk are unassigned."""

    chunks: tuple[Chunk, ...]

    def by_batch(self) -> dict[str, list[Chunk]]:
        out: dict[str, list[Chunk]] = {}
        for c in self.chunks:
            out.setdefault(c.batch_id, []).append(c)
        return out

    def lab_of(self) -> dict[str, str]:
        return {c.batch_id: c.lab_id for c in self.chunks}


def shifted(problem: Problem, delta: timedelta) -> Problem:
    """``problem`` with every time moved by ``delta`` (a demo replayed today)."""

    def move(when: datetime | None) -> datetime | None:
        return None if when is None else when + delta

    return replace(
        problem,
        config=replace(problem.config, plan_start=problem.config.plan_start + delta),
        batches=tuple(
            replace(
                b,
                collected_at=b.collected_at + delta,
                ready_at=b.ready_at + delta,
                deadline=move(b.deadline),
            )
            for b in problem.batches
        ),
        outages=tuple(
            replace(o, start=o.start + delta, end=o.end + delta) for o in problem.outages
        ),
    )
