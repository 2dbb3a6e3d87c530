"""``GET /api/v1/health``: for load balancers and monitoring, anonymous, with no data in it.

It says whether the database answers, how long ago the re-planner beat and
how old the published plan is; nothing about labs, batches or who runs
where (no host names, no error texts: those are on the ops dashboard).
"""

from __future__ import annotations

from flask import Response
from pydantic import Field

from webui.api.access import PUBLIC
from webui.api.blueprint import answer, route
from webui.api.schemas import Out
from webui.health import Status, WorkerState, current_health

#: seconds a client should wait before asking again after a 503
RETRY_AFTER = 30


class DatabaseHealth(Out):
    ok: bool = Field(description="the database answered")


class WorkerHealthOut(Out):
    last_seen_s: float | None = Field(
        ge=0, description="seconds since the re-planner's last heartbeat; null: never seen"
    )
    state: WorkerState = Field(description="what the re-planner last said it was doing")
    stale: bool = Field(description="no heartbeat within HEALTH_WORKER_STALE_SECONDS")


class PlanHealth(Out):
    published_id: int | None = Field(description="the published plan version; null: none yet")
    age_s: float | None = Field(ge=0, description="seconds since it was made (the app's clock)")


class HealthOut(Out):
    status: Status = Field(
        description=(
            "ok: all well; degraded: the re-planner is stale (503) or its last ticks failed "
            "(200); down: the database does not answer (503)"
        )
    )
    database: DatabaseHealth
    worker: WorkerHealthOut
    plan: PlanHealth


@route(
    "GET",
    "/health",
    summary="Health: the database, the re-planner's heartbeat, the published plan's age",
    roles=(PUBLIC,),
    # 503 is not an error: the same report, with the status a load balancer acts on
    responses={200: HealthOut, 503: HealthOut},
    description=(
        "200 when the database answers and the re-planner's heartbeat is fresh; 503 (with "
        "`Retry-After`) when the database is unreachable or the re-planner is stale or was "
        "never seen (e.g. `natsched serve --no-worker` with no `natsched worker`). A few "
        "primary-key reads: cheap enough to poll every few seconds."
    ),
    tag="meta",
)
def health() -> Response:
    h = current_health()
    body = HealthOut(
        status=h.status,
        database=DatabaseHealth(ok=h.database_ok),
        worker=WorkerHealthOut(
            last_seen_s=h.worker.last_seen_s,
            state=h.worker.state,
            stale=h.worker.stale,
        ),
        plan=PlanHealth(published_id=h.published_id, age_s=h.plan_age_s),
    )
    headers = {"Cache-Control": "no-store"}
    if h.healthy:
        return answer(body, headers=headers)
    return answer(body, 503, {**headers, "Retry-After": str(RETRY_AFTER)})
