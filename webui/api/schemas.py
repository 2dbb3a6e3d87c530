"""Request and response shapes of the JSON API (pydantic; the OpenAPI schemas come from them).

Times are the world's local wall-clock time (the instance's time zone) as ISO
8601 text without a zone, e.g. ``2022-01-09T08:00:00``; a time with a zone is
refused, since the store keeps local times.
"""

from __future__ import annotations

import copy
import functools
from datetime import datetime
from typing import Annotated, Any, Literal

from flask_openapi3 import FileStorage
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    NaiveDatetime,
    PlainSerializer,
    RootModel,
    WithJsonSchema,
    model_validator,
)
from pydantic.json_schema import DEFAULT_REF_TEMPLATE, GenerateJsonSchema, JsonSchemaMode
from werkzeug.datastructures import FileStorage as WerkzeugFile

from scheduler.domain import BatchState
from scheduler.store.rules import MAX_CAPACITY_PER_HOUR


class Strict(BaseModel):
    """Request bodies: exact JSON types, no unknown fields."""

    model_config = ConfigDict(strict=True, extra="forbid")


class Query(BaseModel):
    """Query strings and forms: text converted to the field's type, no unknown parameters."""

    model_config = ConfigDict(extra="forbid")

    @classmethod
    def model_json_schema(
        cls,
        by_alias: bool | None = None,
        ref_template: str = DEFAULT_REF_TEMPLATE,
        schema_generator: type[GenerateJsonSchema] = GenerateJsonSchema,
        mode: JsonSchemaMode = "validation",
        *,
        union_format: Literal["any_of", "primitive_type_array"] = "any_of",
    ) -> dict[str, Any]:
        # flask-openapi3 reads a query's or form's schema on every request to find its list
        # and file fields; made afresh that is most of the request's cost (0.5-0.9 ms)
        if schema_generator is not GenerateJsonSchema:
            return super().model_json_schema(
                by_alias, ref_template, schema_generator, mode, union_format=union_format
            )
        return copy.deepcopy(_schema_of(cls, by_alias, ref_template, mode, union_format))


@functools.cache
def _schema_of(
    model: type[Query],
    by_alias: bool | None,
    ref_template: str,
    mode: JsonSchemaMode,
    union_format: Literal["any_of", "primitive_type_array"],
) -> dict[str, Any]:
    return super(Query, model).model_json_schema(
        by_alias, ref_template, mode=mode, union_format=union_format
    )


class Out(BaseModel):
    """Responses."""

    model_config = ConfigDict(ser_json_inf_nan="null")


_TIME_DOC = "local time of the world, ISO 8601 without a zone (e.g. 2022-01-09T08:00:00)"
#: times the API sends
Stamp = Annotated[
    datetime,
    PlainSerializer(lambda d: d.isoformat(timespec="seconds"), return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$",
            "description": _TIME_DOC,
        }
    ),
]


def _text(value: Any) -> Any:
    # the framework validates the parsed JSON, where a strict datetime would refuse text;
    # times are read from text only (as strict JSON validation did), never from numbers
    if not isinstance(value, str):
        raise ValueError("must be a string (ISO 8601 local time)")
    return value


#: times the API reads
LocalTime = Annotated[
    NaiveDatetime,
    Field(strict=False),
    BeforeValidator(_text),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": (
                r"^20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])"
                r"T([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$"
            ),
            "description": _TIME_DOC,
        }
    ),
]

Priority = Literal["urgent", "high", "routine"]
CountyCode = Annotated[str, Field(pattern=r"^[0-9]{6}$", description="a six-digit county code")]
LabId = Annotated[str, Field(min_length=1, max_length=64)]


# ---------------------------------------------------------------------------
# shared

#: largest id the integer path parameters accept (larger ones are unknown routes: 404)
MAX_INT_ID = 2**31 - 1
#: the routes' converters: a longer id is an unknown route (404), as before any lookup
LAB_ID_MAX, BATCH_ID_MAX, JOB_ID_MAX = 64, 96, 32


class LabPath(BaseModel):
    lab_id: str = Field(max_length=LAB_ID_MAX, description="a lab's id")


class BatchPath(BaseModel):
    batch_id: str = Field(max_length=BATCH_ID_MAX, description="a batch's id")


class JobPath(BaseModel):
    job_id: str = Field(max_length=JOB_ID_MAX, description="a job's id")


class UploadPath(BaseModel):
    upload_id: int = Field(ge=0, le=MAX_INT_ID, description="an upload's id")


class PlanPath(BaseModel):
    plan_id: int = Field(ge=0, le=MAX_INT_ID, description="a plan version's id")


class PlanPairPath(PlanPath):
    other_id: int = Field(ge=0, le=MAX_INT_ID, description="the plan version compared with")


class Page(Query):
    page: int = Field(1, ge=1, le=1_000_000, description="1-based page number")
    per_page: int = Field(100, ge=1, le=1000, description="items per page")


class PageInfo(Out):
    page: int
    per_page: int
    total: int


class ErrorBody(Out):
    status: int
    code: str
    message: str
    details: list[dict[str, Any]] | None = Field(
        None, description="field errors ({field, message, type}) or located file errors"
    )


class Error(Out):
    """The one shape of every API error."""

    error: ErrorBody


class OpenApiDoc(RootModel[dict[str, Any]]):
    """The OpenAPI 3.1 document itself."""


# ---------------------------------------------------------------------------
# labs


class LabOut(Out):
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
    backlog_tubes: int


class OutageOut(Out):
    start: Stamp
    end: Stamp


class StatusChangeOut(Out):
    at: Stamp
    kind: str
    capacity_per_hour: int | None
    note: str
    user: str


class LabDetail(LabOut):
    outages: list[OutageOut] = Field(description="outages not yet over, earliest first")
    status_changes: list[StatusChangeOut] = Field(description="the latest 20, newest first")


class LabList(Out):
    items: list[LabOut]


class CapacityChange(Strict):
    kind: Literal["capacity"]
    # the bounds are documented here and checked once, by the service's capacity rule
    capacity_per_hour: int = Field(
        json_schema_extra={"minimum": 0, "maximum": MAX_CAPACITY_PER_HOUR}
    )
    note: str = Field("", max_length=500)


class OutageReport(Strict):
    kind: Literal["outage"]
    start: LocalTime
    end: LocalTime
    note: str = Field("", max_length=500)


class BackToNormal(Strict):
    kind: Literal["normal"]
    note: str = Field("", max_length=500)


class LabStatusIn(
    RootModel[Annotated[CapacityChange | OutageReport | BackToNormal, Field(discriminator="kind")]]
):
    """What changed at the lab: a new capacity, an outage [start, end), or back to normal."""


# ---------------------------------------------------------------------------
# sites


class SiteQuery(Page):
    county: CountyCode | None = Field(None, description="only this county's sites")


class SiteOut(Out):
    site_id: str
    county_code: str
    name: str
    lat: float
    lon: float


class SiteList(PageInfo):
    items: list[SiteOut]


# ---------------------------------------------------------------------------
# uploads


def _a_file(value: Any) -> Any:
    if not isinstance(value, WerkzeugFile):
        raise ValueError("a file is required")
    return value


class UploadForm(Query):
    # the framework reads each form value as JSON first, so a county code arrives as a number
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    county: CountyCode | None = Field(
        None, description="the county the file is for (a county account: its own, the default)"
    )
    mode: Literal["dry-run", "commit"] = Field(
        "dry-run", description="dry-run checks only; commit stores"
    )
    accept_valid_rows: bool = Field(
        False, description="commit the good rows of a file that has bad ones"
    )
    file: Annotated[FileStorage, AfterValidator(_a_file)] = Field(
        description="the file, as the `file` field"
    )


class CellErrorOut(Out):
    row: int | None
    column: str | None
    value: str
    rule: str


class UploadReportOut(Out):
    status: Literal["dry-run", "stored", "partial", "rejected", "duplicate"]
    filename: str
    checksum: str
    county_code: str
    rows_total: int
    rows_valid: int
    rows_stored: int
    counts_new: int
    counts_replaced: int
    counts_unchanged: int
    batches_created: int
    upload_id: int | None
    errors: list[CellErrorOut]
    warnings: list[CellErrorOut] = Field(
        default_factory=list, description="rows stored as they are that the office should check"
    )


class UploadQuery(Page):
    county: CountyCode | None = Field(None, description="only this county's uploads")


class UploadOut(Out):
    id: int
    county_code: str
    user: str
    received_at: Stamp
    filename: str
    checksum: str
    size_bytes: int
    mode: str
    outcome: str
    rows_total: int
    rows_stored: int
    n_errors: int


class UploadDetail(UploadOut):
    errors: list[CellErrorOut]


class UploadList(PageInfo):
    items: list[UploadOut]


# ---------------------------------------------------------------------------
# batches


class BatchQuery(Page):
    lab: LabId | None = Field(None, description="planned at (or pinned to) this lab")
    county: CountyCode | None = Field(None, description="collected in this county")
    status: BatchState | None = None
    priority: Priority | None = None


class BatchOut(Out):
    batch_id: str
    site_id: str
    county_code: str
    collected_at: Stamp
    ready_at: Stamp
    deadline: Stamp | None = Field(description="explicit deadline; none: the priority's SLA")
    tubes: int
    people: int | None
    priority: str
    isolation: bool
    pinned_lab: str | None
    status: str
    parent_batch_id: str | None
    planned_lab: str | None = Field(description="its lab in the published plan")


class SlotOut(Out):
    slot_start: Stamp
    tubes: int


class BatchDetail(BatchOut):
    plan_id: int | None = Field(description="the published plan version")
    slots: list[SlotOut] = Field(description="its rows in the published plan")
    retests: list[str] = Field(description="retest batches made from it (positive pools)")


class BatchList(PageInfo):
    items: list[BatchOut]


class BatchStatusIn(Strict):
    status: BatchState
    lab_id: LabId | None = Field(
        None, description="the lab the box goes to; kept as its pinned lab from pickup on"
    )


class BatchUndoIn(Strict):
    # the body may be left out, as ReplanIn's
    model_config = ConfigDict(strict=True, extra="forbid", openapi_extra={"required": False})  # type: ignore[typeddict-unknown-key]

    note: str = Field("", max_length=200, description="why it is undone, kept in the audit log")

    @model_validator(mode="before")
    @classmethod
    def _no_body(cls, data: Any) -> Any:
        return {} if data is None else data


class PositivePoolIn(Strict):
    positive_tubes: int = Field(
        1, le=10_000, json_schema_extra={"minimum": 1}, description="pooled tubes found positive"
    )
    recall_minutes: int = Field(
        120, ge=0, le=2880, description="until the people are back for single tubes"
    )


class RetestOut(Out):
    batch_id: str = Field(description="the new retest batch")
    parent_batch_id: str
    tubes: int


# ---------------------------------------------------------------------------
# plans and KPIs


class PlanQuery(Page):
    published: bool | None = Field(None, description="only the published one (true) or others")


class PlanOut(Out):
    id: int
    created_at: Stamp
    plan_start: Stamp
    solver: str
    status: str
    score: float | None
    bound: float | None
    gap: float | None
    published: bool
    error: str


class PriorityKpiOut(Out):
    tubes: int
    tubes_on_time: int
    on_time_rate: float | None = Field(description="tubes on time / all tubes of the class")
    assigned_tubes: int
    unassigned_tubes: int
    batches: int
    mean_tat_h: float | None
    p95_tat_h: float | None
    cost: float


class PlanDetail(PlanOut):
    rows: int
    batches: int
    moved: int | None = Field(description="batches whose lab changed against the plan before")
    decision: str | None = Field(description="why it was (or was not) published")
    per_priority: dict[str, PriorityKpiOut] = Field(description="as evaluated when it was made")


class PlanList(PageInfo):
    items: list[PlanOut]


class RowQuery(Page):
    lab: LabId | None = Field(None, description="only this lab's rows")
    batch: Annotated[str, Field(max_length=96)] | None = Field(None, description="one batch")


class RowOut(Out):
    batch_id: str
    lab_id: str
    slot_start: Stamp
    tubes: int


class RowList(PageInfo):
    plan_id: int
    items: list[RowOut]


class MoveOut(Out):
    batch_id: str
    from_lab: str | None
    to_lab: str | None
    from_last_slot: Stamp | None
    to_last_slot: Stamp | None
    why: str


class DiffOut(Out):
    from_plan: int
    to_plan: int
    total: int
    moves: list[MoveOut]


class KpisOut(Out):
    plan_id: int
    created_at: Stamp
    evaluated_at: Stamp = Field(description="when the figures were made (at publishing)")
    plan_start: Stamp = Field(description="start of the horizon evaluated")
    score: float = Field(description="SPEC score of the published plan on its problem")
    valid: bool
    n_violations: int
    solver_score: float | None = Field(description="the score the solver reported")
    bound: float | None
    gap: float | None
    total_tubes: int
    assigned_tubes: int
    unassigned_tubes: int
    per_priority: dict[str, PriorityKpiOut]


# ---------------------------------------------------------------------------
# re-planning and jobs


class ReplanIn(Strict):
    # the body may be left out: the framework reads the document's ``required`` from here
    model_config = ConfigDict(strict=True, extra="forbid", openapi_extra={"required": False})  # type: ignore[typeddict-unknown-key]

    reason: str = Field("asked through the API", max_length=200)

    @model_validator(mode="before")
    @classmethod
    def _no_body(cls, data: Any) -> Any:
        return {} if data is None else data


class JobStarted(Out):
    job_id: str
    poll_url: str


class JobOut(Out):
    id: str
    kind: str
    state: Literal["queued", "running", "done", "failed"]
    progress: float
    message: str
    created_at: str
    finished_at: str | None
    result: dict[str, Any]
