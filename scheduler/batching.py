"""The one rule that turns county-office sample counts into SPEC batches.

County offices report, per collection site and sampling window, how many
people of which category were sampled and at what pooling ratio (see
``docs/uploads.md``). The fixture generator derives its ``batches.csv`` with
:func:`counts_to_batches`, and the upload ingestion must use the same function,
so that an instance built from upload files equals the generated one.

The rule, per upload row (site, window, category):

* ``tubes = ceil(people / pool_size)``;
* the tubes are packed into boxes of at most ``box_tubes`` (default 100): as
  many full boxes as possible, the remainder in a last box; each box is one
  batch;
* ``collected_at = window_start`` (turnaround counts from the first swab),
  ``ready_at = window_end + handling_minutes`` (default 30: sealing,
  disinfecting and logging the box before the courier takes it);
* ``people`` of a box is its share of the row's people, the last box taking
  what is left, so the boxes of a row add up to the row;
* priority and isolation come from the category (:data:`CATEGORY_RULES`);
* ``deadline`` is the row's ``due_at`` when given (e.g. "results by 09:00
  next day" in a citywide screening), else empty (the SPEC SLA applies);
* ``batch_id = "B" + site_id without its leading "S" + "-" + row number + "-"
  + box number``, where the row number is the 1-based position of the row
  among the rows of the same site in upload order and numbers have at least
  two digits: ``S410102-0007`` row 2 box 3 -> ``B410102-0007-02-03``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from scheduler.domain import Batch, DomainError

#: category -> (priority, isolation). Fever clinics and isolation points are
#: suspected cases; close contacts must be tested apart from the public too.
CATEGORY_RULES: dict[str, tuple[str, bool]] = {
    "fever_clinic": ("urgent", True),
    "isolation_point": ("urgent", True),
    "close_contact": ("high", True),
    "key_population": ("high", False),
    "community": ("routine", False),
}
CATEGORIES: tuple[str, ...] = tuple(CATEGORY_RULES)

#: Pooling ratios in use: 1:1 (fever clinics, close contacts, sealed areas),
#: 5:1 (controlled areas), 10:1 and 20:1 (everyone else).
POOL_SIZES: tuple[int, ...] = (1, 5, 10, 20)

DEFAULT_BOX_TUBES = 100
DEFAULT_HANDLING_MINUTES = 30


@dataclass(frozen=True)
class UploadRow:
    """One row of a county-office upload file (one site, window and category)."""

    county_code: str
    site_id: str
    site_name: str
    lat: float
    lon: float
    window_start: datetime
    window_end: datetime
    category: str
    pool_size: int
    people: int
    due_at: datetime | None = None

    @property
    def tubes(self) -> int:
        return math.ceil(self.people / self.pool_size)


@dataclass(frozen=True)
class BatchingRules:
    """The defaults of the counts -> batches rule (documented in docs/uploads.md)."""

    box_tubes: int = DEFAULT_BOX_TUBES
    handling_minutes: int = DEFAULT_HANDLING_MINUTES


def row_problems(row: UploadRow) -> list[str]:
    """Every way ``row`` breaks the upload format, as readable sentences."""
    out: list[str] = []
    if row.category not in CATEGORY_RULES:
        out.append(f"unknown category {row.category!r}")
    if row.pool_size < 1:
        out.append(f"pool_size must be >= 1, got {row.pool_size}")
    if row.people < 1:
        out.append(f"people must be >= 1, got {row.people}")
    if row.window_end < row.window_start:
        out.append("window_end is before window_start")
    return out


def batch_id_for(site_id: str, row_number: int, box_number: int) -> str:
    stem = site_id[1:] if site_id.startswith("S") else site_id
    return f"B{stem}-{row_number:02d}-{box_number:02d}"


def counts_to_batches(rows: Iterable[UploadRow], rules: BatchingRules | None = None) -> list[Batch]:
    """Batches (boxes) of ``rows``, in row order then box order.

    Raises :class:`~scheduler.domain.DomainError` on a row that breaks the
    format, naming the site and its row number.
    """
    rules = rules or BatchingRules()
    row_number: dict[str, int] = {}
    out: list[Batch] = []
    for row in rows:
        n = row_number[row.site_id] = row_number.get(row.site_id, 0) + 1
        out.extend(row_to_batches(row, n, rules))
    return out


def row_to_batches(
    row: UploadRow, row_number: int, rules: BatchingRules | None = None
) -> list[Batch]:
    """The boxes of one count row, the ``row_number``-th of its site."""
    rules = rules or BatchingRules()
    if rules.box_tubes < 1:
        raise DomainError(f"box_tubes must be >= 1, got {rules.box_tubes}")
    bad = row_problems(row)
    if bad:
        raise DomainError(f"site {row.site_id} row {row_number}: " + "; ".join(bad))
    handling = timedelta(minutes=rules.handling_minutes)
    priority, isolation = CATEGORY_RULES[row.category]
    tubes = row.tubes
    n_boxes = math.ceil(tubes / rules.box_tubes)
    people_left = row.people
    out: list[Batch] = []
    for k in range(n_boxes):
        box_tubes = min(rules.box_tubes, tubes - k * rules.box_tubes)
        last = k == n_boxes - 1
        # a full pooled tube holds pool_size people; the last box takes the rest
        people = people_left if last else box_tubes * row.pool_size
        people_left -= people
        out.append(
            Batch(
                batch_id=batch_id_for(row.site_id, row_number, k + 1),
                site_id=row.site_id,
                collected_at=row.window_start,
                ready_at=row.window_end + handling,
                tubes=box_tubes,
                priority=priority,
                isolation=isolation,
                people=people,
                deadline=row.due_at,
            )
        )
    return out
