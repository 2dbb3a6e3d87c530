"""The re-planning worker: a tick every few seconds on APScheduler 3, that never dies silently.

Exactly one worker plans per database. It holds a lease row in ``locks``
(taken and renewed with one atomic UPDATE, or an INSERT when there is none),
so a second worker, or one started by each web process, just waits.

``tick(engine, now, settings, owner)`` is the whole decision, used by the
jobs and by tests with a fake clock: re-plan when a request (upload, lab
status, batch event, positive pool) is older than the debounce, or when the
periodic interval has passed since the last version.

Around it, what keeps a worker going through a day of database trouble:

- :class:`Replanner` runs ticks that never raise: a failed tick is logged
  (in full the first time of a streak), counted, and the next ones wait an
  exponential backoff;
- :class:`Heart` writes each worker's heartbeat (``settings`` row
  ``worker_heartbeat``) at every tick and every ``BEAT_SECONDS`` during a
  solve, which also renews the lease, so a long solve neither looks stale
  nor loses its lease; a failed write is logged, never fatal;
- :class:`Supervisor` runs the ticks on APScheduler with its jobs in memory
  (:class:`SafeJobStore`) and starts the scheduler again, after a backoff,
  if its loop ever ends with an error;
- ``scheduler.replan.child`` runs a re-plan in a child process (the web
  process does, so a solve does not share the interpreter lock with its
  request threads).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.jobstores.memory import MemoryJobStore
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scheduler.clock import Clock
from scheduler.replan.core import ReplanOutcome, ReplanSettings, replan
from scheduler.replan.events import request_replan
from scheduler.store import models as m
from scheduler.store.db import make_engine, transaction

log = logging.getLogger(__name__)

LOCK = "replan-worker"
#: the ``settings`` row of the workers' heartbeats (no table of its own: no migration)
HEARTBEAT = "worker_heartbeat"
#: how often a worker beats (and renews its lease) while it solves
BEAT_SECONDS = 10.0
#: beats of workers gone this long are dropped from the row
KEEP_BEATS = timedelta(hours=1)
#: a child re-plan running this much longer than its limit is stuck: it is killed
CHILD_GRACE = (5.0, 300.0)  # (times the time limit, plus seconds)

STATES = ("idle", "waiting", "solving", "error", "stopped")


@dataclass(frozen=True)
class WorkerSettings:
    interval_minutes: float = 15.0
    debounce_seconds: float = 60.0
    lease_seconds: float = 120.0
    replan: ReplanSettings = field(default_factory=ReplanSettings)


def owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def acquire(engine: Engine, owner: str, now: datetime, lease_seconds: float) -> bool:
    """Take or renew the lease; False when another live worker holds it."""
    until = now + timedelta(seconds=lease_seconds)
    with engine.begin() as conn:
        got = conn.execute(
            update(m.Lock)
            .where(m.Lock.name == LOCK)
            .where((m.Lock.owner == owner) | (m.Lock.expires_at < now))
            .values(owner=owner, expires_at=until)
        ).rowcount
    if got:
        return True
    try:
        with engine.begin() as conn:
            conn.execute(insert(m.Lock).values(name=LOCK, owner=owner, expires_at=until))
        return True
    except IntegrityError:
        return False


def release(engine: Engine, owner: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(m.Lock)
            .where(m.Lock.name == LOCK, m.Lock.owner == owner)
            .values(expires_at=datetime(1970, 1, 1))
        )


def abandon_running(engine: Engine, now: datetime) -> list[int]:
    """Versions left "running" by a worker that died mid-solve are marked failed.

    Called with the lease held, so no other worker is solving; they never
    held plan rows (rows are written with the result, in one transaction).
    """
    with transaction(engine) as s:
        stale = s.scalars(select(m.PlanVersion).where(m.PlanVersion.status == "running")).all()
        for v in stale:
            v.status = "failed"
            v.error = f"interrupted: the worker stopped during the solve (found {now:%F %H:%M})"
        if stale:
            # what that solve was for is still to do
            request_replan(s, now, f"plan {stale[-1].id} was interrupted")
        return [v.id for v in stale]


def due(engine: Engine, now: datetime, settings: WorkerSettings) -> str | None:
    """Why a re-plan is due at ``now`` (None when it is not)."""
    with transaction(engine) as s:
        last = s.scalar(select(m.PlanVersion.created_at).order_by(m.PlanVersion.id.desc()))
        req = s.get(m.Setting, "replan_request")
        if s.get(m.Setting, "instance") is None:
            return None
        if last is None:
            return "no plan yet"
        if req is not None:
            at = datetime.fromisoformat(req.value["at"])
            if at >= last and now - at >= timedelta(seconds=settings.debounce_seconds):
                return "; ".join(req.value.get("reasons", [])[-3:]) or "requested"
        if now - last >= timedelta(minutes=settings.interval_minutes):
            return "periodic"
    return None


#: how a re-plan is made once it is due: in this process, or in a child
RunReplan = Callable[[Engine, datetime, WorkerSettings], ReplanOutcome]


def replan_here(engine: Engine, now: datetime, settings: WorkerSettings) -> ReplanOutcome:
    return replan(engine, now, settings=settings.replan)


def tick(
    engine: Engine,
    now: datetime,
    settings: WorkerSettings,
    owner: str,
    *,
    heart: Heart | None = None,
    run: RunReplan = replan_here,
) -> ReplanOutcome | None:
    """One scheduling decision: hold the lease, re-plan when due.

    ``heart`` (when given) learns the worker's state and beats during the solve.
    """
    if not acquire(engine, owner, now, settings.lease_seconds):
        log.info("another worker holds the lease; waiting")
        if heart is not None:
            heart.state = "waiting"
        return None
    abandoned = abandon_running(engine, now)
    if abandoned:
        log.warning("plan versions %s were left running by a stopped worker", abandoned)
    if heart is not None:
        heart.state = "idle"
    why = due(engine, now, settings)
    if why is None:
        return None
    log.info("re-planning at %s: %s", now.isoformat(), why)
    beating = heart.solving(settings.lease_seconds) if heart else contextlib.nullcontext()
    with beating:
        out = run(engine, now, settings)
    log.info(
        "plan %d %s (%s)", out.version_id, "published" if out.published else "kept", out.reason
    )
    return out


# --- failures: streaks and backoff ---------------------------------------------


@dataclass
class Streak:
    """Consecutive failures of one thing: the first is logged with its traceback, the
    ones after it in one line, so a database down for an hour does not flood the log."""

    what: str
    #: repeats at DEBUG only (things retried every few seconds)
    quiet: bool = False
    count: int = 0
    last: str = ""

    def failed(self, exc: BaseException) -> int:
        self.count += 1
        self.last = f"{type(exc).__name__}: {exc}"[:500]
        if self.count == 1:
            log.error("%s failed: %s", self.what, self.last, exc_info=exc)
        else:
            log.log(
                logging.DEBUG if self.quiet else logging.WARNING,
                "%s failed again (%d in a row): %s",
                self.what,
                self.count,
                self.last,
            )
        return self.count

    def ok(self) -> None:
        if self.count:
            log.info("%s works again after %d failures", self.what, self.count)
        self.count, self.last = 0, ""


def backoff(failures: int, first: float = 1.0, cap: float = 60.0) -> float:
    """Seconds to wait after ``failures`` failures in a row: 1, 2, 4 ... at most ``cap``."""
    return 0.0 if failures <= 0 else min(cap, first * 2 ** min(failures - 1, 30))


# --- heartbeat -----------------------------------------------------------------


@dataclass(frozen=True)
class Beat:
    """One worker's last sign of life.

    ``at`` is on the worker's clock (the day it plans for, perhaps offset for
    a demo), ``wall`` on the machine's: readers compare ``wall`` with their
    own machine clock to tell how long ago it was, whatever each clock's offset.
    """

    owner: str
    at: datetime
    wall: datetime
    state: str  # one of STATES
    error: str = ""
    failures: int = 0  # ticks failed in a row
    since: datetime | None = None  # machine time the solve started (state "solving")

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "wall": self.wall.isoformat(),
            "state": self.state,
            "error": self.error,
            "failures": self.failures,
            "since": self.since.isoformat() if self.since else None,
        }

    @classmethod
    def from_json(cls, owner: str, doc: dict[str, Any]) -> Beat:
        since = doc.get("since")
        return cls(
            owner=owner,
            at=datetime.fromisoformat(doc["at"]),
            wall=datetime.fromisoformat(doc["wall"]),
            state=str(doc.get("state", "idle")),
            error=str(doc.get("error", "")),
            failures=int(doc.get("failures", 0)),
            since=datetime.fromisoformat(since) if since else None,
        )


def read_beats(session: Session) -> dict[str, Beat]:
    """Every worker's heartbeat (one primary-key read); unreadable entries are skipped."""
    row = session.get(m.Setting, HEARTBEAT)
    out: dict[str, Beat] = {}
    for owner, doc in ((row.value or {}).get("workers", {}) if row else {}).items():
        with contextlib.suppress(KeyError, TypeError, ValueError):
            out[owner] = Beat.from_json(owner, doc)
    return out


def lease_holder(session: Session) -> str | None:
    """The owner of the re-planning lease (maybe expired), or None."""
    lock = session.get(m.Lock, LOCK)
    return lock.owner if lock is not None else None


def write_beat(engine: Engine, beat: Beat) -> None:
    """Store ``beat`` among the others in one short transaction."""
    with transaction(engine) as s:
        # FOR UPDATE: two workers beating at once on PostgreSQL keep both beats
        row = s.get(m.Setting, HEARTBEAT, with_for_update=True)
        workers = dict((row.value or {}).get("workers", {})) if row else {}
        keep: dict[str, Any] = {}
        for owner, doc in workers.items():
            try:
                recent = beat.wall - datetime.fromisoformat(doc["wall"]) < KEEP_BEATS
            except (KeyError, TypeError, ValueError):
                recent = False
            if recent and owner != beat.owner:
                keep[owner] = doc
        keep[beat.owner] = beat.to_json()
        if row is None:
            s.add(m.Setting(key=HEARTBEAT, value={"workers": keep}))
        else:
            row.value = {"workers": keep}  # a new object: the JSON column sees the change


class Heart:
    """Writes one worker's heartbeat: at each tick, and every ``interval`` during a solve.

    Thread-safe; a write that fails is logged (once per streak) and never raised.
    """

    def __init__(
        self, engine: Engine, owner: str, clock: Clock, interval: float = BEAT_SECONDS
    ) -> None:
        self.engine = engine
        self.owner = owner
        self.clock = clock
        self.interval = interval
        self.state = "idle"
        self.failures = 0
        self.error = ""
        self._lock = threading.Lock()
        self._writes = Streak("writing the worker heartbeat", quiet=True)
        self._leases = Streak("renewing the lease during the solve", quiet=True)

    def beat(self, state: str | None = None, since: datetime | None = None) -> bool:
        """Write the heartbeat in ``state`` (default: the last one); False when it failed."""
        if state is not None:
            self.state = state
        b = Beat(
            owner=self.owner,
            at=self.clock.now(),
            wall=datetime.now(),
            state=self.state,
            error=self.error,
            failures=self.failures,
            since=since,
        )
        with self._lock:
            try:
                write_beat(self.engine, b)
            except Exception as exc:
                self._writes.failed(exc)
                return False
            self._writes.ok()
            return True

    @contextlib.contextmanager
    def solving(self, lease_seconds: float | None = None) -> Iterator[None]:
        """Beat "solving" until the block ends, renewing the lease each time: a solve may
        take longer than the lease, and another worker must not take it meanwhile."""
        since = datetime.now()
        self.beat("solving", since)
        done = threading.Event()

        def keep() -> None:
            while not done.wait(self.interval):
                self.beat("solving", since)
                if lease_seconds is None:
                    continue
                try:
                    if not acquire(self.engine, self.owner, self.clock.now(), lease_seconds):
                        log.warning("another worker took the lease during the solve")
                    self._leases.ok()
                except Exception as exc:
                    self._leases.failed(exc)

        beater = threading.Thread(target=keep, name="natsched-heartbeat", daemon=True)
        beater.start()
        try:
            yield
        finally:
            done.set()
            # a beat written after the block would say "solving" once it is over
            beater.join()
            self.state = "idle"


# --- one worker's ticks ----------------------------------------------------------


class Replanner:
    """A worker's ticks on ``clock``: each one decides, re-plans when due, beats; none raises.

    A failed tick (database down, locked, a bug) is logged, shows in the
    heartbeat as "error" with its text and count, and the ticks after it
    wait ``backoff(failures)`` seconds before trying again.
    """

    def __init__(
        self,
        engine: Engine,
        settings: WorkerSettings,
        clock: Clock,
        owner: str | None = None,
        *,
        run: RunReplan = replan_here,
        heart: Heart | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.clock = clock
        self.owner = owner or owner_id()
        self.run = run
        self.heart = heart or Heart(engine, self.owner, clock)
        self.streak = Streak("re-planning tick")
        self._retry_at = 0.0
        # a scheduler started again may fire while the old one's tick still runs
        self._busy = threading.Lock()

    def tick(self, settings: WorkerSettings | None = None) -> ReplanOutcome | None:
        if settings is not None:
            self.settings = settings
        if not self._busy.acquire(blocking=False):
            return None
        try:
            return self._tick()
        except Exception:  # never into APScheduler (Ctrl-C still goes through)
            log.exception("re-planning tick crashed outside its guard")
            return None
        finally:
            self._busy.release()

    def _tick(self) -> ReplanOutcome | None:
        if time.monotonic() < self._retry_at:
            self.heart.beat("error")  # still alive, still failing
            return None
        try:
            out = tick(
                self.engine,
                self.clock.now(),
                self.settings,
                self.owner,
                heart=self.heart,
                run=self.run,
            )
        except Exception as exc:
            n = self.streak.failed(exc)
            self.heart.failures, self.heart.error = n, self.streak.last
            self._retry_at = time.monotonic() + backoff(n)
            self.heart.beat("error")
            return None
        self.streak.ok()
        self.heart.failures, self.heart.error = 0, ""
        self.heart.beat()
        return out


# --- APScheduler: the jobs live in memory, the loop is supervised --------------


class SafeJobStore(MemoryJobStore):
    """APScheduler's job store, guarded where its main loop would die.

    APScheduler 3 catches an error of ``get_due_jobs`` but not of
    ``update_job`` or ``get_next_run_time``: one such error ends its loop and
    the worker stops planning, with nothing said. The worker's only job is
    added at every start, so nothing needs a database here (which brought
    its own engine, with pysqlite's 5 s lock wait, and crashed the worker on
    "database is locked"); errors are still caught, logged once per streak,
    and answered with safe values (no job due now, look again soon).
    """

    def __init__(self, retry_seconds: float = 10.0) -> None:
        super().__init__()
        self.retry_seconds = retry_seconds
        self.streak = Streak("the scheduler's job store", quiet=True)

    def get_due_jobs(self, now: datetime) -> list[Any]:
        try:
            jobs: list[Any] = super().get_due_jobs(now)
        except Exception as exc:
            self.streak.failed(exc)
            return []
        self.streak.ok()
        return jobs

    def update_job(self, job: Any) -> None:
        try:
            super().update_job(job)
        except Exception as exc:
            self.streak.failed(exc)

    def get_next_run_time(self) -> datetime | None:
        try:
            return super().get_next_run_time()
        except Exception as exc:
            self.streak.failed(exc)
            # None would make the scheduler sleep until a job is added: never
            return datetime.now(UTC) + timedelta(seconds=self.retry_seconds)


class Supervisor:
    """Calls ``job`` every ``poll_seconds`` on APScheduler, and keeps doing so.

    ``run()`` blocks (``natsched worker``), ``start()`` runs it in a thread
    (the web process). If the scheduler's loop ends with an error, it is
    logged with its traceback and a new scheduler starts after a backoff
    (1 s, doubling, at most 60 s). ``shutdown()`` stops it.
    """

    def __init__(self, job: Callable[[], object], poll_seconds: float) -> None:
        self.job = job
        self.poll_seconds = poll_seconds
        self.streak = Streak("the re-planning scheduler")
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._sched: Any = None
        self._thread: threading.Thread | None = None

    def _call(self) -> None:
        if self._stop.is_set():
            self._halt()  # stopped before this scheduler had started
            return
        try:
            self.job()
        except Exception:  # the job guards itself; this is the last line
            log.exception("re-planning job failed")
        self.streak.ok()  # this scheduler works: the next failure starts from 1 s

    def _scheduler(self) -> Any:
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.blocking import BlockingScheduler

        retry = max(0.5, min(self.poll_seconds, 10.0))
        sched = BlockingScheduler(
            jobstores={"default": SafeJobStore(retry)},
            executors={"default": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
            jobstore_retry_interval=retry,
        )
        sched.add_job(
            self._call,
            "interval",
            seconds=self.poll_seconds,
            id="replan-tick",
            next_run_time=datetime.now(),
        )
        return sched

    def run(self) -> None:
        """Run until :meth:`shutdown` (or Ctrl-C, which propagates)."""
        while not self._stop.is_set():
            try:
                with self._lock:
                    if self._stop.is_set():
                        break
                    self._sched = self._scheduler()
                self._sched.start()  # returns when shut down
            except Exception as exc:
                failures = self.streak.failed(exc)
            else:
                if self._stop.is_set():
                    break
                failures = self.streak.failed(RuntimeError("the scheduler stopped by itself"))
            finally:
                self._halt()
            self._stop.wait(backoff(failures))

    def start(self) -> Supervisor:
        self._thread = threading.Thread(target=self.run, name="natsched-replanner", daemon=True)
        self._thread.start()
        return self

    def shutdown(self, wait: bool = True) -> None:
        self._stop.set()
        self._halt(wait)
        if wait and self._thread is not None:
            self._thread.join()

    def _halt(self, wait: bool = False) -> None:
        with self._lock:
            sched = self._sched
        if sched is None:
            return
        # not running yet, already stopped, or half started: each is fine here
        with contextlib.suppress(Exception):
            sched.shutdown(wait=wait)


# --- the plain arguments a job or a child process gets -------------------------


def settings_to_args(settings: WorkerSettings) -> dict[str, Any]:
    """``settings`` as plain values (every field, ``replan``'s nested), for a job or a child."""
    out: dict[str, Any] = {f.name: getattr(settings, f.name) for f in fields(settings)}
    out["replan"] = asdict(settings.replan)
    return out


def settings_from_args(a: dict[str, Any]) -> WorkerSettings:
    return WorkerSettings(**{**a, "replan": ReplanSettings(**a["replan"])})


def tick_job(db_url: str, settings: dict[str, Any], offset_seconds: float = 0.0) -> None:
    """One tick as a job of its own: plain arguments, a fresh engine; never raises.

    ``offset_seconds``: how far the worker's clock runs ahead of the machine's
    (a demo or a load test replaying another day).
    """
    try:
        engine = make_engine(db_url)
    except Exception:
        log.exception("re-planning tick: no engine for the database")
        return
    try:
        clock = Clock(offset=timedelta(seconds=offset_seconds))
        Replanner(engine, settings_from_args(settings), clock).tick()
    finally:
        engine.dispose()


def run(
    db_url: str,
    settings: WorkerSettings,
    poll_seconds: float = 10.0,
    clock: Clock | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Run the worker (``natsched worker``) on ``clock``'s time until Ctrl-C or ``stop``.

    A fixed clock is not supported: a worker's day runs on.
    """
    clock = clock or Clock()
    if clock.fixed is not None:
        raise ValueError("the worker's clock runs on; a fixed clock would never re-plan")
    engine = make_engine(db_url)
    worker = Replanner(engine, settings, clock)
    sup = Supervisor(worker.tick, poll_seconds)
    if stop is not None:

        def watch(ev: threading.Event) -> None:
            ev.wait()
            sup.shutdown(wait=False)

        threading.Thread(target=watch, args=(stop,), daemon=True).start()
    log.info("worker %s polling every %g s", worker.owner, poll_seconds)
    try:
        sup.run()
    finally:
        # whatever ended the run stays the error that is raised
        try:
            release(engine, worker.owner)
        except Exception:
            log.exception(
                "could not release the lease; it runs out in %g s", settings.lease_seconds
            )
        worker.heart.beat("stopped")
        engine.dispose()
