"""Faults at bad moments, and what must hold afterwards.

Each fault returns a :class:`FaultResult`: what was done, what was checked,
PASS/FAIL. The checks, after every fault: nothing committed is lost (a stored
upload keeps all its rows), nothing half-written is visible (no sample counts
without their stored upload, no plan rows of an unfinished plan, no row of a
killed transaction), the published plan is the same one, row for row, and
re-planning goes on afterwards.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection, Engine

from scheduler.replan.core import ReplanSettings, published, replan
from scheduler.replan.executors import InProcessExecutor, SolveRequest
from scheduler.result import Result
from scheduler.store import models as m
from scheduler.store.db import transaction
from tests.support.server import (
    Client,
    Server,
    World,
    clone_world,
    login,
    post_upload,
    seed_world,
)


@dataclass
class FaultResult:
    name: str
    done: str
    checked: str
    passed: bool
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    skipped: bool = False

    @property
    def verdict(self) -> str:
        return "SKIP" if self.skipped else ("PASS" if self.passed else "FAIL")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "done": self.done,
            "checked": self.checked,
            "verdict": self.verdict,
            "problems": self.problems,
            "seconds": round(self.seconds, 1),
        }


# --------------------------------------------------------------------------- checks


def published_fingerprint(engine: Engine) -> tuple[int | None, str]:
    """The published plan's id and a digest of its rows."""
    with transaction(engine) as s:
        pub = published(s)
        if pub is None:
            return None, ""
        rows = sorted((r.batch_id, r.lab_id, r.slot_start.isoformat(), r.tubes) for r in pub.rows)
        return pub.id, hashlib.sha256(repr(rows).encode()).hexdigest()


def _orphans(c: Connection) -> list[str]:
    orphans = c.scalar(
        select(func.count())
        .select_from(m.SampleCount)
        .where(m.SampleCount.upload_id.not_in(select(m.Upload.id)))
    )
    return [f"{orphans} sample counts of no upload"] if orphans else []


def integrity(engine: Engine) -> list[str]:
    """What must hold in the store at any time after a crash; returns the problems."""
    out: list[str] = []
    with engine.connect() as c:
        if engine.dialect.name == "sqlite":
            res = c.execute(text("PRAGMA integrity_check")).scalar()
            if res != "ok":
                out.append(f"sqlite integrity_check: {res}")
        for uid, rows_stored, outcome in c.execute(
            select(m.Upload.id, m.Upload.rows_stored, m.Upload.outcome)
        ):
            n = c.scalar(
                select(func.count())
                .select_from(m.SampleCount)
                .where(m.SampleCount.upload_id == uid)
            )
            if outcome in ("stored", "partial") and n != rows_stored:
                out.append(f"upload {uid}: says {rows_stored} rows, {n} stored")
            if outcome not in ("stored", "partial") and n:
                out.append(f"upload {uid} ({outcome}) has {n} sample counts")
        out += _orphans(c)
        pubs = c.scalar(
            select(func.count()).select_from(m.PlanVersion).where(m.PlanVersion.published)
        )
        if (pubs or 0) > 1:
            out.append(f"{pubs} published plans")
        for vid, status in c.execute(
            select(m.PlanVersion.id, m.PlanVersion.status).where(
                m.PlanVersion.status.in_(("running", "failed"))
            )
        ):
            n = c.scalar(
                select(func.count()).select_from(m.PlanRow).where(m.PlanRow.plan_id == vid)
            )
            if n:
                out.append(f"plan {vid} ({status}) has {n} rows")
    return out


def exactly_once(world: World, counties: list[str]) -> dict[str, Any]:
    """One stored upload per county file, no duplicates, row counts equal the files'."""
    problems: list[str] = []
    engine = world.engine()
    try:
        with engine.connect() as c:
            for code in counties:
                ups = c.execute(
                    select(m.Upload.id, m.Upload.outcome, m.Upload.rows_stored).where(
                        m.Upload.county_code == code, m.Upload.mode == "commit"
                    )
                ).all()
                stored = [u for u in ups if u.outcome in ("stored", "partial")]
                counts = c.scalar(
                    select(func.count())
                    .select_from(m.SampleCount)
                    .where(m.SampleCount.county_code == code)
                )
                want = world.rows[code]
                if len(stored) != 1:
                    problems.append(f"{code}: {len(stored)} stored uploads")
                    continue
                uid, _, rows_stored = stored[0]
                of_upload = c.scalar(
                    select(func.count())
                    .select_from(m.SampleCount)
                    .where(m.SampleCount.upload_id == uid)
                )
                if not (rows_stored == of_upload == counts == want):
                    problems.append(
                        f"{code}: file {want} rows, upload says {rows_stored}, "
                        f"stored {of_upload} for it, {counts} for the county"
                    )
            problems += _orphans(c)
            total_rows = c.scalar(
                select(func.count())
                .select_from(m.SampleCount)
                .where(m.SampleCount.county_code.in_(counties))
            )
    finally:
        engine.dispose()
    return {
        "ok": not problems,
        "files": len(counties),
        "file_rows": sum(world.rows[c] for c in counties),
        "stored_rows": total_rows,
        "problems": problems,
    }


_TEMPLATE: dict[Path, World] = {}


def _fresh(name: str, base: Path) -> World:
    """A copy of the fault world: demo, one county stored and planned, five to upload."""
    if base not in _TEMPLATE:
        _TEMPLATE[base] = seed_world(
            "demo", base / "template", counties=5, labs=5, preload=1, first_plan_seconds=2.0
        )
    return clone_world(_TEMPLATE[base], base / name)


def _wait(cond: Callable[[], bool], timeout: float, step: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return cond()


# --------------------------------------------------------------------------- faults


def kill_web_during_upload(base: Path, delays: tuple[float, ...] = (0.1, 2.0)) -> FaultResult:
    """kill -9 the web process while it takes an upload; restart; send the file again."""
    t0 = time.monotonic()
    world = _fresh("web-kill", base)
    engine = world.engine()
    problems: list[str] = []
    committed = 0
    codes = list(world.files)[: len(delays)]
    pending: str | None = None  # killed under this upload: send it again first
    try:
        before = published_fingerprint(engine)
        for code in [*codes, None]:
            srv = Server(world, debounce=3600, log_name=f"web-kill-{code}")
            try:
                srv.start()
                if pending is not None:
                    # the same file again: stored once, whatever happened before the kill
                    with engine.connect() as c:
                        stored = c.scalar(
                            select(func.count())
                            .select_from(m.Upload)
                            .where(m.Upload.county_code == pending, m.Upload.outcome == "stored")
                        )
                    committed += bool(stored)
                    client = Client(srv.port, timeout=60)
                    status, body = post_upload(
                        client, world.tokens[pending], pending, world.files[pending]
                    )
                    client.close()
                    want = 200 if stored else 201
                    if status != want:
                        problems.append(
                            f"re-send {pending}: {status} (wanted {want}) {body[:200]!r}"
                        )
                if code is None:
                    break
                client = Client(srv.port, timeout=30)
                th = threading.Thread(
                    target=_swallow,
                    args=(
                        lambda c=client, k=code: post_upload(c, world.tokens[k], k, world.files[k]),
                    ),
                    daemon=True,
                )
                th.start()
                time.sleep(delays[codes.index(code)])
                srv.kill9()
                th.join(30)
                client.close()
                pending = code
            finally:
                srv.stop()
            problems += [f"after kill ({code}): {p}" for p in integrity(engine)]
            if published_fingerprint(engine) != before:
                problems.append(f"after kill ({code}): the published plan changed")
        once = exactly_once(world, codes)
        problems += once["problems"]
        problems += integrity(engine)
    finally:
        engine.dispose()
    return FaultResult(
        "kill -9 web process during upload",
        f"{len(delays)} uploads, web process SIGKILLed {', '.join(f'{d:g}' for d in delays)} s "
        f"after the request started ({committed} had committed before the kill); "
        "restarted and the same files sent again",
        "integrity (every stored upload has all its rows, no orphan rows), published plan "
        "unchanged, re-send answers 200 duplicate / 201 stored, each file stored exactly once "
        "with its row count",
        not problems,
        problems,
        time.monotonic() - t0,
    )


def _swallow(fn: Callable[[], object]) -> None:
    with contextlib.suppress(Exception):  # the server was killed under it: expected
        fn()


def kill_worker_during_solve(base: Path, solve_limit: float = 30.0) -> FaultResult:
    """kill -9 the web process (its in-process worker) mid-solve; restart; it re-plans."""
    t0 = time.monotonic()
    world = _fresh("worker-kill", base)
    engine = world.engine()
    problems: list[str] = []
    dead: list[int] = []
    code = next(iter(world.files))
    env = {"NATSCHED_REPLAN_MOVE_PENALTY": "0"}  # use the whole time limit
    try:
        before = published_fingerprint(engine)
        srv = Server(
            world,
            time_limit=solve_limit,
            debounce=0,
            lease=4,
            extra_env=env,
            log_name="worker-kill",
        )
        try:
            srv.start()
            client = Client(srv.port, timeout=60)
            status, _ = post_upload(client, world.tokens[code], code, world.files[code])
            client.close()
            if status != 201:
                problems.append(f"upload before the solve: {status}")

            def running() -> list[int]:
                with engine.connect() as c:
                    return list(
                        c.scalars(select(m.PlanVersion.id).where(m.PlanVersion.status == "running"))
                    )

            if not _wait(lambda: bool(running()), 30):
                problems.append("no solve started: " + srv.tail(500))
            time.sleep(2.0)  # in the middle of the solve
            dead = running()
            if not dead:
                problems.append("the solve ended before the kill: nothing was interrupted")
            srv.kill9()
        finally:
            srv.stop()
        problems += [f"after kill: {p}" for p in integrity(engine)]
        if published_fingerprint(engine) != before:
            problems.append("after kill: the published plan changed")
        # restart with a short limit: once the dead lease runs out, it plans again
        with Server(world, time_limit=2, debounce=0, lease=4, log_name="worker-kill-again") as s2:
            ok = _wait(lambda: published_fingerprint(engine)[0] not in (None, before[0]), 60, 0.5)
            if not ok:
                problems.append("no new plan published after the restart: " + s2.tail(800))
        with transaction(engine) as s:
            for vid in dead:
                v = s.get(m.PlanVersion, vid)
                if v is None or v.status != "failed" or "interrupted" not in (v.error or ""):
                    problems.append(f"dead solve {vid} not marked failed/interrupted")
        problems += integrity(engine)
    finally:
        engine.dispose()
    return FaultResult(
        "kill -9 worker during solve",
        f"upload asked for a re-plan ({solve_limit:g} s limit); the web process with its "
        f"in-process worker SIGKILLed 2 s into solve {dead}; restarted (lease 4 s)",
        "published plan unchanged row for row, the dead solve has no rows, after restart it "
        "is marked failed/interrupted and a new plan is published",
        not problems,
        problems,
        time.monotonic() - t0,
    )


HOLDER = """
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
c.execute("BEGIN IMMEDIATE")
c.execute("INSERT INTO audit_log (at, user, action, target, detail) "
          "VALUES ('2022-01-09 08:00:00', 'stress-holder', 'half-written', '', '{}')")
print("locked", flush=True)
time.sleep(600)
"""


def sqlite_lock_killed(base: Path, hold: float = 3.0) -> FaultResult:
    """Another process holds SQLite's write lock mid-transaction, then is killed -9."""
    t0 = time.monotonic()
    world = _fresh("sqlite-lock", base)
    engine = world.engine()
    problems: list[str] = []
    code = next(iter(world.files))
    db_path = world.db_url.removeprefix("sqlite:///")
    result: dict[str, Any] = {}
    try:
        before = published_fingerprint(engine)
        with Server(world, debounce=3600, log_name="sqlite-lock") as srv:
            lab = world.labs[0]
            reader = Client(srv.port, timeout=30)
            if login(reader, f"lab-{lab}") != 302:  # a login writes: before the lock
                problems.append("login failed")
            holder = subprocess.Popen(
                [sys.executable, "-c", HOLDER, db_path], stdout=subprocess.PIPE
            )
            try:
                line = holder.stdout.readline() if holder.stdout else b""
                if line.strip() != b"locked":
                    problems.append(f"holder did not lock: {line!r}")
                # readers go on (WAL) while the write lock is held
                r0 = time.monotonic()
                status, _ = reader.request("GET", f"/lab/{lab}/")
                result["read_s"] = time.monotonic() - r0
                reader.close()
                if status != 200:
                    problems.append(f"lab page while locked: {status}")

                def send() -> None:
                    client = Client(srv.port, timeout=60)
                    u0 = time.monotonic()
                    try:
                        result["status"], result["body"] = post_upload(
                            client, world.tokens[code], code, world.files[code]
                        )
                    finally:
                        result["upload_s"] = time.monotonic() - u0
                        client.close()

                th = threading.Thread(target=send, daemon=True)
                th.start()
                time.sleep(hold)
                if not th.is_alive():
                    problems.append(f"upload finished while the lock was held: {result}")
                os.kill(holder.pid, signal.SIGKILL)
                holder.wait(10)
                th.join(45)
            finally:
                if holder.poll() is None:
                    holder.kill()
                    holder.wait(10)
                if holder.stdout:
                    holder.stdout.close()
        if result.get("status") != 201:
            problems.append(
                f"upload after the lock: {result.get('status')} {result.get('body', b'')[:200]!r}"
            )
        with engine.connect() as c:
            ghost = c.scalar(
                select(func.count())
                .select_from(m.AuditLog)
                .where(m.AuditLog.user == "stress-holder")
            )
        if ghost:
            problems.append("the killed transaction's row is visible")
        if published_fingerprint(engine) != before:
            problems.append("the published plan changed")
        problems += exactly_once(world, [code])["problems"]
        problems += integrity(engine)
    finally:
        engine.dispose()
    return FaultResult(
        "SQLite write lock held by another process, killed mid-transaction",
        f"a process took the write lock (BEGIN IMMEDIATE + an insert) for {hold:g} s and was "
        f"SIGKILLed; meanwhile a lab page (read {result.get('read_s', float('nan')):.2f} s) "
        f"and an upload (waited, answered in {result.get('upload_s', float('nan')):.1f} s)",
        "reads not blocked, the upload waits and then stores (201) exactly once, the killed "
        "transaction's row is not visible, published plan unchanged, integrity",
        not problems,
        problems,
        time.monotonic() - t0,
    )


class _Raises:
    def solve(self, request: SolveRequest) -> Result:
        raise RuntimeError("solver crashed (stress test)")


class _Overruns:
    """Solves, then keeps the caller waiting past the time limit."""

    def __init__(self, factor: float) -> None:
        self.factor = factor
        self.started = threading.Event()

    def solve(self, request: SolveRequest) -> Result:
        self.started.set()
        res = InProcessExecutor().solve(request)
        time.sleep(request.time_limit * self.factor)
        return res


def solver_fails(base: Path, limit: float = 2.0) -> FaultResult:
    """A solver that raises, then one that overruns its time limit; then a normal re-plan."""
    t0 = time.monotonic()
    world = _fresh("solver", base)
    engine = world.engine()
    problems: list[str] = []
    settings = ReplanSettings(time_limit=limit)
    now = world.plan_start + timedelta(minutes=5)
    overrun_s = 0.0
    try:
        before = published_fingerprint(engine)
        out = replan(engine, now, settings=settings, executor=_Raises())
        if out.published or "crashed" not in out.reason:
            problems.append(f"raising solver: {out}")
        if published_fingerprint(engine) != before:
            problems.append("raising solver: the published plan changed")
        problems += [f"after raise: {p}" for p in integrity(engine)]
        # an overrun: the published plan stays readable and writes go on meanwhile
        slow = _Overruns(3.0)
        box: dict[str, Any] = {}

        def run() -> None:
            s0 = time.monotonic()
            box["out"] = replan(
                engine, now + timedelta(minutes=1), settings=settings, executor=slow
            )
            box["s"] = time.monotonic() - s0

        th = threading.Thread(target=run, daemon=True)
        th.start()
        slow.started.wait(30)
        time.sleep(limit * 1.5)  # past the time limit, still solving
        if published_fingerprint(engine) != before:
            problems.append("overrun: the published plan changed mid-solve")
        from scheduler.ingest.upload import IngestSettings, upload

        code = next(iter(world.files))
        with transaction(engine) as s:  # a write goes on while the solve overruns
            rep = upload(
                s,
                world.files[code].read_bytes(),
                world.files[code].name,
                code,
                user="stress",
                now=now,
                mode="commit",
                settings=IngestSettings(max_future_hours=48),
            )
        if rep.status != "stored":
            problems.append(f"upload during the overrun: {rep.status}")
        th.join(limit * 10 + 60)
        overrun_s = box.get("s", float("nan"))
        over = box.get("out")
        if over is None:
            problems.append("overrunning solve never ended")
        problems += [f"after overrun: {p}" for p in integrity(engine)]
        # re-planning resumes: the upload changed the inputs, so a plan is published
        out3 = replan(engine, now + timedelta(minutes=2), settings=settings)
        if not out3.published:
            problems.append(f"re-plan after the faults not published: {out3.reason}")
        after = published_fingerprint(engine)
        if after[0] != out3.version_id:
            problems.append("the published plan is not the last re-plan's")
        problems += exactly_once(world, [code])["problems"]
        problems += integrity(engine)
    finally:
        engine.dispose()
    return FaultResult(
        "solver raises / exceeds its time limit",
        f"re-plan with a solver that raises; one that returns {overrun_s:.1f} s after a "
        f"{limit:g} s limit (an upload committed meanwhile); then a normal re-plan",
        "failed solve stored as failed with the reason and no rows, published plan unchanged "
        "during both, the write during the overrun committed, the next re-plan publishes",
        not problems,
        problems,
        time.monotonic() - t0,
    )


class NoPostgres(RuntimeError):
    """No PostgreSQL server programs (initdb, pg_ctl) on this machine."""


def _pg_program(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if found is None:
        raise NoPostgres(f"{name} not found (PostgreSQL's server programs are not installed)")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def private_cluster() -> Iterator[tuple[str, Callable[[], float]]]:
    """A PostgreSQL cluster of its own on 127.0.0.1, for faults nobody else may feel.

    Yields its URL and a function that restarts it (``pg_ctl restart -m fast``,
    which ends every connection) and returns the seconds it took. Run as root,
    the server runs as the ``postgres`` account, as PostgreSQL requires. The
    cluster and its files are gone afterwards.
    """
    initdb, pg_ctl = _pg_program("initdb"), _pg_program("pg_ctl")
    root = os.geteuid() == 0
    data = Path(tempfile.mkdtemp(prefix="natsched-pg-"))
    port = _free_port()
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1"

    def run(*args: str) -> None:
        cmd = shlex.join(args)
        argv = ["su", "postgres", "-c", cmd] if root else ["sh", "-c", cmd]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {(done.stderr or done.stdout).strip()[-400:]}")

    try:
        if root:
            shutil.chown(data, "postgres")
        data.chmod(0o700)
        run(initdb, "-D", str(data / "db"), "-A", "trust", "-U", "postgres", "-E", "UTF8")
        log = str(data / "server.log")
        run(pg_ctl, "-D", str(data / "db"), "-l", log, "-o", options, "-w", "-t", "60", "start")

        def restart() -> float:
            t0 = time.monotonic()
            run(
                pg_ctl, "-D", str(data / "db"), "-l", log, "-o", options,
                "-m", "fast", "-w", "-t", "60", "restart",
            )  # fmt: skip
            return time.monotonic() - t0

        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", restart
    finally:
        with contextlib.suppress(Exception):
            run(pg_ctl, "-D", str(data / "db"), "-m", "immediate", "-w", "stop")
        shutil.rmtree(data, ignore_errors=True)


def postgres_restart(base: Path) -> FaultResult:
    """PostgreSQL restarted while an upload's transaction is open.

    On a private cluster (:func:`private_cluster`), so a restart never breaks
    anyone else's connections.
    """
    t0 = time.monotonic()
    name = "PostgreSQL restart mid-transaction"
    problems: list[str] = []
    info: dict[str, Any] = {}
    try:
        with private_cluster() as (url, restart):
            _restart_during_upload(base, url, restart, problems, info)
    except NoPostgres as exc:
        return FaultResult(name, "not run", str(exc), True, [], time.monotonic() - t0, True)
    except Exception as exc:
        problems.append(f"{type(exc).__name__}: {exc}")
    return FaultResult(
        name,
        "upload sent, a private PostgreSQL cluster restarted "
        f"(-m fast, {info.get('restart_s', float('nan')):.1f} s) 0.3 s later; that upload "
        f"answered {info.get('during')} (stored: {info.get('stored_before')}); "
        f"{info.get('failed_after')} requests failed after the restart before it recovered",
        "integrity, published plan unchanged, the interrupted file re-sent (200 duplicate / "
        "201 stored) and another stored, each exactly once with its rows",
        not problems,
        problems,
        time.monotonic() - t0,
    )


def _restart_during_upload(
    base: Path,
    url: str,
    restart: Callable[[], float],
    problems: list[str],
    info: dict[str, Any],
) -> None:
    world = seed_world(
        "demo",
        base / "pg",
        counties=2,
        labs=5,
        preload=1,
        first_plan_seconds=2.0,
        db_url=url,
    )
    engine = world.engine()
    a, b = list(world.files)[:2]
    try:
        before = published_fingerprint(engine)
        engine.dispose()
        with Server(world, debounce=3600, log_name="pg-restart") as srv:
            box: dict[str, Any] = {}

            def send() -> None:
                client = Client(srv.port, timeout=60)
                try:
                    box["status"], _ = post_upload(client, world.tokens[a], a, world.files[a])
                except Exception as exc:
                    box["status"] = type(exc).__name__
                finally:
                    client.close()

            th = threading.Thread(target=send, daemon=True)
            th.start()
            time.sleep(0.3)
            info["restart_s"] = restart()
            th.join(60)
            info["during"] = box.get("status")
            # the server must recover: count the requests that fail before it does
            failed = 0
            client = Client(srv.port, timeout=60)
            for _ in range(10):
                status, _ = client.request("GET", "/login")
                if status == 200:
                    break
                failed += 1
            stored = False
            with world.engine().connect() as c:
                stored = bool(
                    c.scalar(
                        select(func.count())
                        .select_from(m.Upload)
                        .where(m.Upload.county_code == a, m.Upload.outcome == "stored")
                    )
                )
            resend: list[int] = []
            for code, want in ((a, 200 if stored else 201), (b, 201)):
                for _ in range(5):
                    status, _ = post_upload(client, world.tokens[code], code, world.files[code])
                    if status < 500:
                        break
                    failed += 1
                resend.append(status)
                if status != want:
                    problems.append(f"upload {code} after restart: {status} (wanted {want})")
            client.close()
            info["failed_after"] = failed
            info["stored_before"] = stored
        engine = world.engine()
        problems += integrity(engine)
        if published_fingerprint(engine) != before:
            problems.append("the published plan changed")
        problems += exactly_once(world, [a, b])["problems"]
    finally:
        engine.dispose()


SHORT: tuple[Callable[[Path], FaultResult], ...] = (
    kill_web_during_upload,
    kill_worker_during_solve,
    sqlite_lock_killed,
    solver_fails,
    postgres_restart,
)


def run_faults(base: Path | None = None) -> list[FaultResult]:
    """Every fault in turn; each in its own database under ``base``."""
    own = base is None
    root = Path(tempfile.mkdtemp(prefix="natsched-faults-")) if base is None else base
    results: list[FaultResult] = []
    try:
        for fault in SHORT:
            try:
                results.append(fault(root))
            except Exception as exc:
                results.append(
                    FaultResult(
                        fault.__name__, "crashed", "", False, [f"{type(exc).__name__}: {exc}"]
                    )
                )
    finally:
        if own:
            shutil.rmtree(root, ignore_errors=True)
    return results
