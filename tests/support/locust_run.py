"""Locust, headless, against a started server; its CSV read back into figures.

The load generator is ``python -m locust`` in a process of its own (Locust
runs on gevent and patches the standard library; it must never share the
server's interpreter, nor this one's). Meanwhile a thread here watches the
plans table, so the figures say whether a re-plan ran and was published
during the load and how long after its start, and at the end whether the
re-planning worker is still alive.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from scheduler.store import models as m
from scheduler.store.db import transaction
from tests.support.faults import exactly_once
from tests.support.server import ROOT, Server, World, health

LOCUSTFILE = Path(__file__).with_name("locustfile.py")

#: Locust's request names, as the report shows them
ROUTES = ("GET /login", "POST /login", "GET /lab/[id]/", "GET /ops/", "POST /api/v1/uploads")


@dataclass(frozen=True)
class LoadRun:
    """One Locust run: how many users of each role, for how long."""

    name: str  # the CSV files' prefix under the output folder
    coordinators: int
    counties: int = 50
    ops: int = 5
    run_time: float = 180.0  # seconds
    spawn_rate: float = 25.0  # users started per second (cold logins as people arrive)
    replan_wait: float = 240.0  # after the load, how long a running re-plan may take to end

    @property
    def users(self) -> int:
        return self.coordinators + self.counties + self.ops


class ReplanWatch(threading.Thread):
    """Watches the plans table from outside: when each re-plan ran, how it ended."""

    def __init__(self, world: World) -> None:
        super().__init__(daemon=True)
        self.engine = world.engine()
        self.stop_event = threading.Event()
        self.seen: dict[int, dict[str, Any]] = {}
        with self.engine.connect() as c:  # a solve already running counts as during the load
            self.before = (
                c.scalar(
                    select(func.max(m.PlanVersion.id)).where(m.PlanVersion.status != "running")
                )
                or 0
            )

    def run(self) -> None:
        while not self.stop_event.wait(0.5):
            self.poll()

    def poll(self) -> None:
        try:
            with self.engine.connect() as c:
                rows = c.execute(
                    select(m.PlanVersion.id, m.PlanVersion.status, m.PlanVersion.published).where(
                        m.PlanVersion.id > self.before
                    )
                ).all()
        except Exception:  # a busy database: look again later
            return
        now = time.monotonic()
        for vid, status, pub in rows:
            info = self.seen.setdefault(vid, {"first_seen": now, "status": status})
            if status != "running" and "ended" not in info:
                info["ended"] = now
            if pub and "published_at" not in info:
                info["published_at"] = now
            info["status"] = status

    def running(self) -> bool:
        return any(i["status"] == "running" for i in self.seen.values())

    def report(self, t0: float) -> list[dict[str, Any]]:
        def since(key: str, info: dict[str, Any]) -> float | None:
            return round(info[key] - t0, 1) if key in info else None

        out: list[dict[str, Any]] = []
        with transaction(self.engine) as s:
            for v in s.scalars(
                select(m.PlanVersion)
                .where(m.PlanVersion.id > self.before)
                .order_by(m.PlanVersion.id)
            ):
                seen = self.seen.get(v.id, {})
                ended, first = seen.get("ended"), seen.get("first_seen")
                out.append(
                    {
                        "plan_id": v.id,
                        "status": v.status,
                        # published at some time: it may have been replaced since
                        "published": bool(v.published) or "published_at" in seen,
                        "batches": (v.figures or {}).get("batches"),
                        "decision": (v.figures or {}).get("decision"),
                        "score": v.score,
                        "error": v.error,
                        "started_s": since("first_seen", seen),
                        "published_s": since("published_at", seen),
                        "wall_s": round(ended - first, 1)
                        if ended is not None and first is not None
                        else None,
                    }
                )
        return out

    def close(self) -> None:
        self.stop_event.set()
        self.join(5)
        self.engine.dispose()


def _num(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None  # "N/A": no request of that kind


def read_stats(prefix: Path) -> dict[str, Any]:
    """``<prefix>_stats.csv`` and ``_failures.csv``: per-route figures and the failures."""
    routes: dict[str, dict[str, Any]] = {}
    total: dict[str, Any] = {}
    with open(f"{prefix}_stats.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            d = {
                "requests": int(row["Request Count"]),
                "failures": int(row["Failure Count"]),
                "p50_ms": _num(row["50%"]),
                "p95_ms": _num(row["95%"]),
                "p99_ms": _num(row["99%"]),
                "max_ms": _num(row["Max Response Time"]),
                "rps": round(float(row["Requests/s"]), 2),
            }
            if row["Name"] == "Aggregated":
                total = d
            else:
                routes[f"{row['Type']} {row['Name']}"] = d
    failures: list[dict[str, Any]] = []
    fail_csv = Path(f"{prefix}_failures.csv")
    if fail_csv.exists():
        with fail_csv.open(newline="", encoding="utf-8") as f:
            failures = [
                {
                    "route": f"{r['Method']} {r['Name']}",
                    "error": r["Error"],
                    "count": int(r["Occurrences"]),
                }
                for r in csv.DictReader(f)
            ]
    return {"routes": routes, "total": total, "failures": failures}


def worker_alive(server: Server, worker_proc: subprocess.Popen[bytes] | None) -> dict[str, Any]:
    """Is the re-planning worker alive: its process, and the health route's word where there is one.

    The in-process worker lives and dies with the web process; a separate one
    is its own process.
    """
    proc = worker_proc if worker_proc is not None else server.proc
    alive = proc is not None and proc.poll() is None
    said = health(server.port)
    if said is not None:  # the health route's own word on the worker (its heartbeat)
        body = said["body"] if isinstance(said["body"], dict) else {}
        beat = body.get("worker") if isinstance(body.get("worker"), dict) else {}
        alive = alive and said["http_status"] == 200 and not beat.get("stale", False)
    return {
        "process_alive": proc is not None and proc.poll() is None,
        "health": said,
        "alive": alive,
    }


def run_locust(
    server: Server,
    run: LoadRun,
    out_dir: Path,
    worker_proc: subprocess.Popen[bytes] | None = None,
) -> dict[str, Any]:
    """Run Locust headless against ``server`` (started); returns the figures.

    ``worker_proc`` is a separate re-planning worker's process, ``None`` when
    the worker runs in the web process.
    """
    world = server.world
    out_dir.mkdir(parents=True, exist_ok=True)
    counties = sorted(world.files)[: run.counties]
    if len(counties) < run.counties:
        raise ValueError(f"the world has {len(world.files)} county files, run asks {run.counties}")
    accounts = world.write_accounts(world.folder / f"{run.name}-accounts.json")
    prefix = out_dir / run.name
    extra = out_dir / f"{run.name}_extra.json"
    for old in out_dir.glob(f"{run.name}_*.csv"):
        old.unlink()
    extra.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless"]
    cmd += ["-u", str(run.users), "-r", str(run.spawn_rate), "--run-time", f"{run.run_time:g}s"]
    cmd += ["--host", server.url, "--csv", str(prefix), "--only-summary"]
    cmd += ["--loglevel", "WARNING", "--exit-code-on-error", "0"]
    env = {
        **os.environ,
        "NATSCHED_STRESS_WORLD": str(accounts),
        "NATSCHED_STRESS_USERS": f"{run.coordinators},{run.counties},{run.ops}",
        "NATSCHED_STRESS_EXTRA": str(extra),
    }
    watch = ReplanWatch(world)
    watch.start()
    started = datetime.now()
    log = out_dir / f"{run.name}-locust.log"
    try:
        t0 = time.monotonic()
        with log.open("wb") as out:
            done = subprocess.run(
                cmd,
                env=env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=run.run_time + 300,
            )
        elapsed = time.monotonic() - t0
        # the uploads asked for a re-plan: let a running one end (bounded)
        deadline = time.monotonic() + run.replan_wait
        while time.monotonic() < deadline:
            watch.poll()
            if watch.seen and not watch.running():
                break
            time.sleep(1.0)
        replans = watch.report(t0)
    finally:
        watch.close()
    if not Path(f"{prefix}_stats.csv").exists():
        tail = log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"locust wrote no statistics (exit {done.returncode}): {tail}")
    stats = read_stats(prefix)
    more: dict[str, Any] = {}
    if extra.exists():
        more = json.loads(extra.read_text(encoding="utf-8"))
    published = [r for r in replans if r["published"]]
    return {
        "run": asdict(run),
        "started": started.isoformat(timespec="seconds"),
        "preset": world.preset,
        "duration_s": round(elapsed, 1),
        "locust_exit": done.returncode,
        "requests": stats["total"].get("requests", 0),
        "rps": stats["total"].get("rps", 0.0),
        "errors": stats["total"].get("failures", 0),
        "refused_logins": more.get("refused_logins"),
        "shed": more.get("shed"),
        "shed_by_route": more.get("shed_by_route", {}),
        "routes": stats["routes"],
        "total": stats["total"],
        "failures": stats["failures"],
        "statuses": more.get("statuses", {}),
        "users_started": more.get("users", {}),
        "exactly_once": exactly_once(world, counties),
        "replans": replans,
        "plan_published_during_load": bool(published),
        "first_published_s": published[0]["published_s"] if published else None,
        "worker": worker_alive(server, worker_proc),
    }
