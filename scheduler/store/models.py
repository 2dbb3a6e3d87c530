"""The database schema (SQLAlchemy 2, typed). Alembic migrations mirror it.

The store and the SPEC files describe the same world: labs, sites and
batches carry every SPEC column, and the instance settings live in
``settings`` as JSON (see ``scheduler.store.world`` for the mapping).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from scheduler.domain import PLANNED


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class Setting(Base):
    """Key/value settings; ``instance`` holds the instance.json object."""

    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON)


class City(Base):
    __tablename__ = "cities"
    code: Mapped[str] = mapped_column(String(6), primary_key=True)  # 41CC00
    name: Mapped[str] = mapped_column(String(128), default="")


class County(Base):
    __tablename__ = "counties"
    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    city_code: Mapped[str] = mapped_column(ForeignKey("cities.code"))
    name: Mapped[str] = mapped_column(String(128), default="")


class Site(Base):
    __tablename__ = "sites"
    site_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    county_code: Mapped[str] = mapped_column(ForeignKey("counties.code"), index=True)
    name: Mapped[str] = mapped_column(String(256), default="")
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    #: per-category overrides of the batching rule, e.g.
    #: {"community": {"priority": "high", "isolation": true}} for a sealed compound
    category_rules: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Lab(Base):
    __tablename__ = "labs"
    lab_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(256), default="")
    kind: Mapped[str] = mapped_column(String(32))
    county_code: Mapped[str] = mapped_column(String(6), index=True)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    capacity_per_hour: Mapped[int] = mapped_column(Integer)
    run_minutes: Mapped[int] = mapped_column(Integer)
    open_hour: Mapped[int] = mapped_column(Integer)
    close_hour: Mapped[int] = mapped_column(Integer)
    isolation_ok: Mapped[bool] = mapped_column(Boolean)
    backlog_tubes: Mapped[int] = mapped_column(Integer, default=0)


class LabStatusChange(Base):
    """A lab's reported status: capacity change, outage from/to, back to normal."""

    __tablename__ = "lab_status_changes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    lab_id: Mapped[str] = mapped_column(ForeignKey("labs.lab_id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    kind: Mapped[str] = mapped_column(String(32))  # capacity | outage | normal
    capacity_per_hour: Mapped[int | None] = mapped_column(Integer, nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
    user: Mapped[str] = mapped_column(String(64), default="")


class Outage(Base):
    __tablename__ = "outages"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    lab_id: Mapped[str] = mapped_column(ForeignKey("labs.lab_id"), index=True)
    start: Mapped[datetime] = mapped_column(DateTime)
    end: Mapped[datetime] = mapped_column(DateTime)


class TravelOverride(Base):
    __tablename__ = "travel_overrides"
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.site_id"), primary_key=True)
    lab_id: Mapped[str] = mapped_column(ForeignKey("labs.lab_id"), primary_key=True)
    minutes: Mapped[int] = mapped_column(Integer)


class Upload(Base):
    """One received file: who, when, what, and what became of it."""

    __tablename__ = "uploads"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    county_code: Mapped[str] = mapped_column(String(6), index=True)
    user: Mapped[str] = mapped_column(String(64), default="")
    received_at: Mapped[datetime] = mapped_column(DateTime)
    filename: Mapped[str] = mapped_column(String(255))
    checksum: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(Integer)
    mode: Mapped[str] = mapped_column(String(16))  # dry-run | commit
    outcome: Mapped[str] = mapped_column(String(16))  # stored | partial | rejected | duplicate
    rows_total: Mapped[int] = mapped_column(Integer, default=0)
    rows_stored: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[list[Any]] = mapped_column(JSON, default=list)


class SampleCount(Base):
    """People sampled at a site in a window, by category: one row of an upload."""

    __tablename__ = "sample_counts"
    __table_args__ = (
        UniqueConstraint("site_id", "window_start", "window_end", "category", name="uq_count"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    county_code: Mapped[str] = mapped_column(String(6), index=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.site_id"), index=True)
    window_start: Mapped[datetime] = mapped_column(DateTime)
    window_end: Mapped[datetime] = mapped_column(DateTime)
    category: Mapped[str] = mapped_column(String(32))
    pool_size: Mapped[int] = mapped_column(Integer)
    people: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    upload_id: Mapped[int] = mapped_column(ForeignKey("uploads.id"))
    row_number: Mapped[int] = mapped_column(Integer)  # order within its site, for batch ids


class Batch(Base):
    __tablename__ = "batches"
    batch_id: Mapped[str] = mapped_column(String(96), primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.site_id"), index=True)
    count_id: Mapped[int | None] = mapped_column(
        ForeignKey("sample_counts.id", ondelete="SET NULL"), nullable=True
    )
    collected_at: Mapped[datetime] = mapped_column(DateTime)
    ready_at: Mapped[datetime] = mapped_column(DateTime)
    tubes: Mapped[int] = mapped_column(Integer)
    people: Mapped[int | None] = mapped_column(Integer, nullable=True)
    priority: Mapped[str] = mapped_column(String(16))
    isolation: Mapped[bool] = mapped_column(Boolean, default=False)
    deadline: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    pinned_lab: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    # one of scheduler.domain.BATCH_STATES
    status: Mapped[str] = mapped_column(String(16), default=PLANNED, index=True)
    parent_batch_id: Mapped[str | None] = mapped_column(String(96), nullable=True)


class PlanVersion(Base):
    __tablename__ = "plans"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    plan_start: Mapped[datetime] = mapped_column(DateTime)
    solver: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    bound: Mapped[float | None] = mapped_column(Float, nullable=True)
    gap: Mapped[float | None] = mapped_column(Float, nullable=True)
    figures: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    published: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    error: Mapped[str] = mapped_column(Text, default="")
    rows: Mapped[list[PlanRow]] = relationship(back_populates="plan", cascade="all, delete-orphan")


class PlanRow(Base):
    __tablename__ = "plan_rows"
    __table_args__ = (Index("ix_plan_rows_plan_lab", "plan_id", "lab_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"))
    batch_id: Mapped[str] = mapped_column(String(96), index=True)
    lab_id: Mapped[str] = mapped_column(String(64))
    slot_start: Mapped[datetime] = mapped_column(DateTime)
    tubes: Mapped[int] = mapped_column(Integer)
    plan: Mapped[PlanVersion] = relationship(back_populates="rows")


class PlanOutcome(Base):
    """One batch of a published plan as every page shows it, computed once at publish.

    The evaluator's outcome on the problem the plan was made for (arrival,
    slots, expected result, due, lateness), with the batch's county and
    site copied so a lab's or a county's page reads its own rows only. A
    box's live status stays in ``batches``: a status change touches that row
    alone.
    """

    __tablename__ = "plan_outcomes"
    __table_args__ = (
        Index("ix_plan_outcomes_lab", "plan_id", "lab_id", "first_slot"),
        Index("ix_plan_outcomes_county", "plan_id", "county_code"),
        Index("ix_plan_outcomes_late", "plan_id", "priority", "on_time", "late_h"),
    )
    plan_id: Mapped[int] = mapped_column(
        ForeignKey("plans.id", ondelete="CASCADE"), primary_key=True
    )
    batch_id: Mapped[str] = mapped_column(String(96), primary_key=True)
    lab_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    county_code: Mapped[str] = mapped_column(String(6))
    first_slot: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    #: [[slot_start ISO, tubes], ...] in slot order
    slots: Mapped[list[Any]] = mapped_column(JSON, default=list)
    arrival_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    result_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    due_at: Mapped[datetime] = mapped_column(DateTime)
    tat_h: Mapped[float] = mapped_column(Float)
    late_h: Mapped[float] = mapped_column(Float)
    on_time: Mapped[bool] = mapped_column(Boolean)
    site_id: Mapped[str] = mapped_column(String(64), default="")
    priority: Mapped[str] = mapped_column(String(16), default="")
    #: why a late box is late (``scheduler.explain``'s binding facts), made at publish
    why: Mapped[list[Any]] = mapped_column(JSON, default=list)


class PlanLabLoad(Base):
    """One lab's planned tubes and capacity, slot by slot over the plan's horizon.

    Lists indexed by slot from the plan's start (``plan_summaries`` holds the
    grid): ``nominal`` is each slot's capacity when the plan was made,
    ``capacity`` what its backlog left of it.
    """

    __tablename__ = "plan_lab_loads"
    plan_id: Mapped[int] = mapped_column(
        ForeignKey("plans.id", ondelete="CASCADE"), primary_key=True
    )
    lab_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    load: Mapped[list[Any]] = mapped_column(JSON, default=list)
    nominal: Mapped[list[Any]] = mapped_column(JSON, default=list)
    capacity: Mapped[list[Any]] = mapped_column(JSON, default=list)


class PlanSummary(Base):
    """A published plan's province figures (dashboard, KPIs), made once at publish."""

    __tablename__ = "plan_summaries"
    plan_id: Mapped[int] = mapped_column(
        ForeignKey("plans.id", ondelete="CASCADE"), primary_key=True
    )
    made_at: Mapped[datetime] = mapped_column(DateTime)
    figures: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class AuditLog(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
    user: Mapped[str] = mapped_column(String(64), default="")
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(128), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Lock(Base):
    """A lease held in the database: one scheduler per database, whatever runs the web app."""

    __tablename__ = "locks"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(DateTime)
