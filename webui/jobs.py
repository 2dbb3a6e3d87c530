"""Long work started from a page or the API: submit, get an id, poll.

A job is a row in ``jobs`` (so its state outlives a request and shows on any
worker thread) run by a small thread pool in the web process. A job left
queued or running by a process that died is marked failed when the next
process starts: its work was either committed whole or not at all.
"""

from __future__ import annotations

import logging
import secrets
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from flask import Flask
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from webui import models as wm
from webui.clock import Clock

log = logging.getLogger(__name__)


@dataclass
class JobContext:
    """What a running job sees: its id, a clock, and a way to report progress."""

    job_id: str
    sessions: sessionmaker[Session]
    clock: Clock

    def progress(self, fraction: float, message: str = "") -> None:
        with self.sessions() as s, s.begin():
            s.execute(
                update(wm.Job)
                # A late report must not rewrite a finished job's progress.
                .where(wm.Job.id == self.job_id, wm.Job.state.in_(("queued", "running")))
                .values(progress=max(0.0, min(1.0, fraction)), message=message[:2000])
            )


JobFn = Callable[[JobContext], dict[str, Any]]


class JobFailed(Exception):
    """A job that ends ``failed`` for a reason its user is told (no traceback logged):
    the message is the job's message, ``result`` its result."""

    def __init__(self, message: str, result: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.result = result or {}


class Jobs:
    def __init__(self, sessions: sessionmaker[Session], clock: Clock, workers: int = 2) -> None:
        self.sessions = sessions
        self.clock = clock
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="natsched-job")

    def recover(self) -> int:
        """Mark jobs of a dead process failed; returns how many."""
        with self.sessions() as s, s.begin():
            n = s.execute(  # type: ignore[attr-defined]
                update(wm.Job)
                .where(wm.Job.state.in_(("queued", "running")))
                .values(
                    state="failed",
                    finished_at=self.clock.now(),
                    message="interrupted by a restart; nothing half-done was kept",
                )
            ).rowcount
        return int(n or 0)

    def submit(self, kind: str, user: str, fn: JobFn, *, run_inline: bool = False) -> str:
        job_id = secrets.token_hex(8)
        with self.sessions() as s, s.begin():
            s.add(
                wm.Job(
                    id=job_id,
                    kind=kind,
                    user=user,
                    created_at=self.clock.now(),
                    state="queued",
                    progress=0.0,
                    message="",
                    result={},
                )
            )
        ctx = JobContext(job_id, self.sessions, self.clock)
        if run_inline:
            self._run(ctx, fn)
        else:
            self.pool.submit(self._run, ctx, fn)
        return job_id

    def _run(self, ctx: JobContext, fn: JobFn) -> None:
        self._set(ctx.job_id, state="running")
        try:
            result = fn(ctx)
        except JobFailed as exc:
            log.info("job %s failed: %s", ctx.job_id, str(exc)[:200])
            self._fail(ctx.job_id, str(exc), exc.result)
            return
        except Exception as exc:
            log.error("job %s failed:\n%s", ctx.job_id, traceback.format_exc())
            self._fail(ctx.job_id, f"{type(exc).__name__}: {exc}")
            return
        self._set(
            ctx.job_id, state="done", progress=1.0, result=result, finished_at=self.clock.now()
        )

    def _fail(self, job_id: str, message: str, result: dict[str, Any] | None = None) -> None:
        values: dict[str, Any] = {"message": message[:2000], "finished_at": self.clock.now()}
        if result is not None:
            values["result"] = result
        self._set(job_id, state="failed", **values)

    def _set(self, job_id: str, **values: Any) -> None:
        with self.sessions() as s, s.begin():
            s.execute(update(wm.Job).where(wm.Job.id == job_id).values(**values))

    def shutdown(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def job_dict(job: wm.Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "kind": job.kind,
        "state": job.state,
        "progress": job.progress,
        "message": job.message,
        "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "result": job.result,
    }


def init_app(app: Flask) -> None:
    jobs = Jobs(
        app.extensions["natsched.sessions"],
        app.extensions["natsched.clock"],
        workers=int(app.config.get("JOB_WORKERS", 2)),
    )
    if app.config.get("RECOVER_JOBS", True):
        jobs.recover()
    app.extensions["natsched.jobs"] = jobs


def jobs_of(app: Flask) -> Jobs:
    j: Jobs = app.extensions["natsched.jobs"]
    return j
