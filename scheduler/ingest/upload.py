"""One upload, checked whole and stored all-or-nothing (or good rows only).

``upload()`` is the function behind the CLI, the web page and the API. Time
is passed in, never read from the clock. A rejected or dry-run upload writes
nothing; a re-sent file (same checksum) changes nothing; a corrected count
for the same site, window and category replaces the old one, its boxes are
re-made, and the change is kept in the audit log.

A commit does its slow work first and writes last: the file is parsed, every
cell checked and every row cut into boxes before the transaction takes the
database's writer lock (``begin_write``); under it, a few set-wise reads (is
this file stored already, which counts exist, which boxes are on the road) and
bulk writes. So on SQLite, with its one writer, a large file's parsing never
holds up a lab's status change, and two copies of one file sent at once are
stored once.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import PurePath
from typing import Any

import pandas as pd
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from scheduler.batching import BatchingRules, UploadRow, batch_id_for, row_to_batches
from scheduler.domain import PLANNED, Batch
from scheduler.ingest.format import CATEGORY
from scheduler.ingest.reader import CellError, UnreadableFile, read_table
from scheduler.spec_io import parse_ts
from scheduler.store import models as m
from scheduler.store.db import begin_write
from scheduler.store.world import batch_row

POOL_SIZES = (1, 5, 10, 20)
FORMULA_START = ("=", "+", "-", "@")


@dataclass(frozen=True)
class IngestSettings:
    max_people: int = 200_000  # per row: more is a typing error, not a count
    max_future_hours: float = 6.0  # a window may not start later than now + this
    #: swabs older than this can no longer be tested (the cold chain's limit): a window
    #: that ended longer ago is a wrong date, not a late box
    max_sample_age_hours: float = 24.0
    rules: BatchingRules = field(default_factory=BatchingRules)


@dataclass
class UploadReport:
    status: str  # dry-run | stored | partial | rejected | duplicate
    filename: str
    checksum: str
    rows_total: int = 0
    rows_valid: int = 0
    rows_stored: int = 0
    counts_new: int = 0
    counts_replaced: int = 0
    counts_unchanged: int = 0
    batches_created: int = 0
    upload_id: int | None = None
    errors: list[CellError] = field(default_factory=list)
    #: rows stored as they are, with something the office should look at
    warnings: list[CellError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status in ("dry-run", "stored", "partial", "duplicate") and (
            self.status != "dry-run" or not self.errors
        )

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k not in ("errors", "warnings")}
        d["errors"] = [e.__dict__ for e in self.errors]
        d["warnings"] = [e.__dict__ for e in self.warnings]
        return d


def safe_name(filename: str) -> str:
    """The file's base name only: a path in a name is never used as a path."""
    name = PurePath(filename.replace("\\", "/")).name
    name = "".join(ch for ch in name if ch.isprintable())[:255]
    # ".." is a name PurePath keeps, and still a path step
    return name if name.strip(". ") else "upload"


def upload(
    session: Session,
    data: bytes,
    filename: str,
    county_code: str,
    *,
    user: str,
    now: datetime,
    mode: str = "commit",
    accept_valid_rows: bool = False,
    settings: IngestSettings | None = None,
) -> UploadReport:
    """Check ``data`` as county ``county_code``'s upload and, in commit mode, store it."""
    if mode not in ("dry-run", "commit"):
        raise ValueError(f"mode must be 'dry-run' or 'commit', got {mode!r}")
    settings = settings or IngestSettings()
    name = safe_name(filename)
    checksum = hashlib.sha256(data).hexdigest()
    report = UploadReport(status="rejected", filename=name, checksum=checksum)
    try:
        table = read_table(data, name)
    except UnreadableFile as exc:
        report.errors = exc.errors
        return report
    report.rows_total = len(table)
    if report.rows_total == 0:
        report.errors = [CellError(None, None, "", "the file has a header but no rows")]
        return report
    rows, errors = validate(session, table, county_code, now, settings, report.warnings)
    report.errors = errors
    report.rows_valid = len(rows)
    if mode == "dry-run":
        report.status = "dry-run"
        return report
    if errors and not accept_valid_rows:
        return report
    if not rows:
        return report
    boxes = _boxes(session, rows, settings)
    _lock_for_upload(session, county_code)
    dup = session.scalar(
        select(m.Upload.id).where(
            m.Upload.checksum == checksum,
            m.Upload.county_code == county_code,
            m.Upload.outcome.in_(("stored", "partial")),
        )
    )
    if dup is not None:
        report.status, report.upload_id = "duplicate", dup
        return report
    rec = m.Upload(
        county_code=county_code,
        user=user,
        received_at=now,
        filename=name,
        checksum=checksum,
        size_bytes=len(data),
        mode=mode,
        outcome="partial" if errors else "stored",
        rows_total=report.rows_total,
        rows_stored=0,
        errors=[e.__dict__ for e in errors],
    )
    session.add(rec)
    session.flush()
    _store(session, rec, rows, boxes, report, user, now)
    rec.rows_stored = report.rows_stored
    report.upload_id = rec.id
    report.status = rec.outcome
    from scheduler.replan.events import request_replan

    request_replan(session, now, f"upload {name} from county {county_code}")
    session.add(
        m.AuditLog(
            at=now,
            user=user,
            action="upload",
            target=f"county {county_code}",
            detail={
                "upload_id": rec.id,
                "file": name,
                "rows": report.rows_stored,
                "errors": len(errors),
            },
        )
    )
    session.flush()
    return report


def validate(
    session: Session,
    table: pd.DataFrame,
    county_code: str,
    now: datetime,
    settings: IngestSettings,
    warnings: list[CellError] | None = None,
) -> tuple[list[tuple[int, UploadRow]], list[CellError]]:
    """Every row checked; returns the good rows (with their line) and every bad cell.

    ``warnings`` collects what is stored as it is but should be looked at (a
    ``tubes`` figure that disagrees with people / pool size).
    """
    errors: list[CellError] = []
    warnings = warnings if warnings is not None else []
    # the sites this file names, not the province's: an upload costs what its own rows cost
    named = sorted({str(v) for v in table["site_id"].tolist()})
    site_county = {
        r[0]: r[1]
        for chunk in _chunks(named)
        for r in session.execute(
            select(m.Site.site_id, m.Site.county_code).where(m.Site.site_id.in_(chunk))
        )
    }
    if session.get(m.County, county_code) is None:
        errors.append(CellError(None, "county_code", county_code, "unknown county"))
    good: list[tuple[int, UploadRow]] = []
    seen: dict[tuple[str, datetime, datetime, str], int] = {}
    latest = now + timedelta(hours=settings.max_future_hours)
    oldest_end = now - timedelta(hours=settings.max_sample_age_hours)
    instance = session.get(m.Setting, "instance")
    # a window a day before the world's plan starts is last year's file, not today's
    earliest_start = (
        parse_ts(instance.value["plan_start"]) - timedelta(days=1) if instance else None
    )
    has_due = "due_at" in table.columns
    has_tubes = "tubes" in table.columns
    for line, rec in zip(table.index.tolist(), table.to_dict("records"), strict=True):
        bad: list[CellError] = []

        def err(
            col: str,
            rule: str,
            value: str | None = None,
            _line: int = line,
            _rec: dict[Any, Any] = rec,
            _bad: list[CellError] = bad,
        ) -> None:
            shown = _rec.get(col, "") if value is None else value
            _bad.append(CellError(_line, col, shown, rule))

        county = rec["county_code"]
        if county != county_code:
            err("county_code", f"this office uploads for county {county_code} only")
        site = rec["site_id"]
        if site not in site_county:
            err("site_id", "unknown site")
        elif site_county[site] != county_code:
            err("site_id", f"site belongs to county {site_county[site]}")
        if rec["site_name"].startswith(FORMULA_START):
            err("site_name", "looks like a spreadsheet formula")
        lat = _number(rec["lat"], -90, 90)
        lon = _number(rec["lon"], -180, 180)
        if lat is None:
            err("lat", "not a latitude in -90..90")
        if lon is None:
            err("lon", "not a longitude in -180..180")
        start = _ts(rec["window_start"])
        end = _ts(rec["window_end"])
        if start is None:
            err("window_start", "not a timestamp YYYY-MM-DDTHH:MM")
        if end is None:
            err("window_end", "not a timestamp YYYY-MM-DDTHH:MM")
        if start and end and end < start:
            err("window_end", "window ends before it starts")
        if start and start > latest:
            err("window_start", f"window starts more than {settings.max_future_hours:g} h from now")
        elif start and earliest_start and start < earliest_start:
            err(
                "window_start",
                f"window starts before {earliest_start:%Y-%m-%d %H:%M}, more than a day before "
                "the plan's start: check the date and the year",
            )
        elif end and end < oldest_end:
            err(
                "window_end",
                f"window ended {(now - end).total_seconds() / 3600:,.0f} h before now "
                f"({now:%Y-%m-%d %H:%M}): swabs older than {settings.max_sample_age_hours:g} h "
                "can no longer be tested; check the date",
            )
        category = CATEGORY.get(rec["category"])
        if category is None:
            err("category", "unknown category")
        pool = _int(rec["pool_size"])
        if pool not in POOL_SIZES:
            err("pool_size", "pool size must be 1, 5, 10 or 20")
        people = _int(rec["people"])
        if people is None or people < 1:
            err("people", "must be a whole number >= 1")
        elif people > settings.max_people:
            err("people", f"more than {settings.max_people:,} people in one row: check the number")
        if has_tubes and rec["tubes"]:
            tubes = _int(rec["tubes"])
            if tubes is None:
                err("tubes", "must be a whole number")
            elif pool in POOL_SIZES and people and tubes != math.ceil(people / pool):
                # the boxes are cut from people / pool size; a different count is a slip somewhere
                made = math.ceil(people / pool)
                warnings.append(
                    CellError(
                        line,
                        "tubes",
                        rec["tubes"],
                        f"{people:,} people in pools of {pool} make {made:,} tubes, not "
                        f"{tubes:,}: the boxes are made for {made:,}",
                    )
                )
        due = None
        if has_due and rec["due_at"]:
            due = _ts(rec["due_at"])
            if due is None:
                err("due_at", "not a timestamp YYYY-MM-DDTHH:MM")
        if start and end and category:
            key = (site, start, end, category)
            if key in seen:
                err(
                    "site_id",
                    f"duplicate of row {seen[key]} (same site, window and category)",
                    site,
                )
            else:
                seen[key] = line
        if bad:
            errors.extend(bad)
            continue
        assert start and end and category and pool and people is not None
        good.append(
            (
                line,
                UploadRow(
                    county_code=county,
                    site_id=site,
                    site_name=rec["site_name"],
                    lat=float(lat or 0.0),
                    lon=float(lon or 0.0),
                    window_start=start,
                    window_end=end,
                    category=category,
                    pool_size=pool,
                    people=people,
                    due_at=due,
                ),
            )
        )
    return good, errors


def _boxes(
    session: Session, rows: list[tuple[int, UploadRow]], settings: IngestSettings
) -> list[list[Batch]]:
    """Each row's boxes, before any write; their ids are set once the row's number is known."""
    named = sorted({row.site_id for _, row in rows})
    site_rules = {
        site_id: rules
        for chunk in _chunks(named)
        for site_id, rules in session.execute(
            select(m.Site.site_id, m.Site.category_rules).where(m.Site.site_id.in_(chunk))
        )
        if rules
    }
    out = []
    for _line, row in rows:
        batches = row_to_batches(row, 0, settings.rules)
        override = site_rules.get(row.site_id, {}).get(row.category)
        if override:
            # the site's configuration beats the category's default
            batches = [
                replace(
                    b,
                    priority=override.get("priority", b.priority),
                    isolation=bool(override.get("isolation", b.isolation)),
                )
                for b in batches
            ]
        out.append(batches)
    return out


def _lock_for_upload(session: Session, county_code: str) -> None:
    """From here on this transaction is the county's only upload being stored."""
    begin_write(session)  # SQLite: the one writer lock, so every writer waits here
    if session.get_bind().dialect.name != "sqlite":
        # other databases let writers overlap: one upload per county at a time keeps
        # the duplicate check and the sites' row numbers exact
        session.execute(select(m.County.code).where(m.County.code == county_code).with_for_update())


def _chunks(items: list[Any], size: int = 500) -> list[list[Any]]:
    # SQLite caps the parameters of one statement
    return [items[i : i + size] for i in range(0, len(items), size)]


def _store(
    session: Session,
    rec: m.Upload,
    rows: list[tuple[int, UploadRow]],
    boxes: list[list[Batch]],
    report: UploadReport,
    user: str,
    now: datetime,
) -> None:
    """The rows' counts and boxes, in a handful of set-wise statements under the lock."""
    sites = sorted({row.site_id for _, row in rows})
    starts = sorted({row.window_start for _, row in rows})
    existing = {
        (c.site_id, c.window_start, c.window_end, c.category): c
        for chunk in _chunks(sites)
        for c in session.scalars(
            select(m.SampleCount).where(
                m.SampleCount.site_id.in_(chunk), m.SampleCount.window_start.in_(starts)
            )
        )
    }
    next_row = {
        site: (top or 0) + 1
        for chunk in _chunks(sites)
        for site, top in session.execute(
            select(m.SampleCount.site_id, func.max(m.SampleCount.row_number))
            .where(m.SampleCount.site_id.in_(chunk))
            .group_by(m.SampleCount.site_id)
        )
    }
    replaced: list[int] = []
    stored: list[tuple[m.SampleCount, list[Batch]]] = []
    for (_line, row), batches in zip(rows, boxes, strict=True):
        count = existing.get((row.site_id, row.window_start, row.window_end, row.category))
        if count is not None:
            if (count.people, count.pool_size, count.due_at) == (
                row.people,
                row.pool_size,
                row.due_at,
            ):
                report.counts_unchanged += 1
                continue
            old = {"people": count.people, "pool_size": count.pool_size}
            count.people, count.pool_size, count.due_at = row.people, row.pool_size, row.due_at
            count.upload_id = rec.id
            replaced.append(count.id)
            report.counts_replaced += 1
            session.add(
                m.AuditLog(
                    at=now,
                    user=user,
                    action="counts replaced",
                    target=f"site {row.site_id} {row.window_start:%Y-%m-%dT%H:%M} {row.category}",
                    detail={
                        "old": old,
                        "new": {"people": row.people, "pool_size": row.pool_size},
                        "upload_id": rec.id,
                    },
                )
            )
        else:
            number = next_row.get(row.site_id, 1)
            next_row[row.site_id] = number + 1
            count = m.SampleCount(
                county_code=row.county_code,
                site_id=row.site_id,
                window_start=row.window_start,
                window_end=row.window_end,
                category=row.category,
                pool_size=row.pool_size,
                people=row.people,
                due_at=row.due_at,
                upload_id=rec.id,
                row_number=number,
            )
            session.add(count)
            report.counts_new += 1
        named = [
            replace(b, batch_id=batch_id_for(row.site_id, count.row_number, k + 1))
            for k, b in enumerate(batches)
        ]
        stored.append((count, named))
        report.rows_stored += 1
    session.flush()  # the new counts in one insert, and their ids
    for chunk in _chunks(replaced):
        session.execute(
            delete(m.Batch).where(m.Batch.count_id.in_(chunk), m.Batch.status == PLANNED)
        )
    ids = [b.batch_id for _, named in stored for b in named]
    # a box of the same id seeded earlier is its count's now, unless it is already on
    # the road: then it stays as it is
    moving: set[str] = set()
    for chunk in _chunks(ids):
        moving.update(
            session.scalars(
                select(m.Batch.batch_id).where(
                    m.Batch.batch_id.in_(chunk), m.Batch.status != PLANNED
                )
            )
        )
        session.execute(
            delete(m.Batch).where(m.Batch.batch_id.in_(chunk), m.Batch.status == PLANNED)
        )
    fresh = [batch_row(b, count.id) for count, named in stored for b in named]
    fresh = [b for b in fresh if b.batch_id not in moving]
    session.add_all(fresh)
    report.batches_created += len(fresh)
    session.flush()


def _number(text: str, lo: float, hi: float) -> float | None:
    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) and lo <= v <= hi else None


def _int(text: str) -> int | None:
    try:
        v = float(text)
    except ValueError:
        return None
    if not math.isfinite(v) or not v.is_integer() or abs(v) > 2**53:
        return None
    return int(v)


def _ts(text: str) -> datetime | None:
    try:
        return parse_ts(text)
    except ValueError:
        return None
