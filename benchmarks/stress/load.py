"""The load: county offices upload at once while coordinators refresh their lab's page.

Threads with ``http.client``, one keep-alive connection and cookie set per
simulated user. County offices send their file once to ``POST /api/v1/uploads``
(bearer token, ``mode=commit``); coordinators log in through the ``/login``
form (CSRF token read from the page) and then GET ``/lab/<lab_id>/`` until
the time is up. Every request's latency is recorded under its kind.
"""

from __future__ import annotations

import http.client
import random
import re
import statistics
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import func, select

from benchmarks.stress.server import HOST, PASSWORD, Server, World
from scheduler.store import models as m
from scheduler.store.db import transaction

CSRF = re.compile(rb'name="csrf_token"[^>]*value="([^"]+)"')


class Client:
    """One simulated user: a keep-alive connection and its cookies."""

    def __init__(self, port: int, timeout: float = 120.0, keepalive: bool = True) -> None:
        self.port = port
        self.timeout = timeout
        self.keepalive = keepalive
        self.cookies: dict[str, str] = {}
        self.conn: http.client.HTTPConnection | None = None

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        h = dict(headers or {})
        if not self.keepalive:
            h["Connection"] = "close"
        if self.cookies:
            h["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body=body, headers=h)
                resp = self.conn.getresponse()
                data = resp.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # the server closed an idle keep-alive connection: reconnect once
                self.close()
                if attempt or method != "GET":
                    raise
                continue
            for k, v in resp.getheaders():
                if k.lower() == "set-cookie":
                    name, _, rest = v.partition("=")
                    self.cookies[name.strip()] = rest.split(";", 1)[0]
            if not self.keepalive or resp.getheader("Connection", "").lower() == "close":
                self.close()
            return resp.status, data
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def multipart(fields: dict[str, str], filename: str, data: bytes) -> tuple[bytes, str]:
    """A multipart/form-data body with ``fields`` and one file as ``file``."""
    boundary = "natsched" + uuid.uuid4().hex
    parts: list[bytes] = []
    for k, v in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        )
    ctype = (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        if filename.endswith(".xlsx")
        else "text/csv"
    )
    parts.append(
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{filename}"\r\nContent-Type: {ctype}\r\n\r\n'
        ).encode()
        + data
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def post_upload(client: Client, token: str, county: str, path: Path) -> tuple[int, bytes]:
    body, ctype = multipart({"county": county, "mode": "commit"}, path.name, path.read_bytes())
    return client.request(
        "POST",
        "/api/v1/uploads",
        body=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": ctype},
    )


def login(client: Client, username: str, password: str = PASSWORD) -> int:
    status, page = client.request("GET", "/login")
    if status != 200:
        return status
    found = CSRF.search(page)
    token = found.group(1).decode() if found else ""
    body = urlencode({"csrf_token": token, "username": username, "password": password})
    status, _ = client.request(
        "POST",
        "/login",
        body=body.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    return status


@dataclass
class Recorder:
    """Latencies (seconds) and statuses by request kind; thread-safe."""

    lat: dict[str, list[float]] = field(default_factory=dict)
    status: dict[str, Counter[str]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, seconds: float, status: int | str, ok: bool) -> None:
        with self.lock:
            self.lat.setdefault(kind, []).append(seconds)
            self.status.setdefault(kind, Counter())[str(status)] += 1
            if not ok:
                self.errors.append(f"{kind}: {status}")

    def timed(self, kind: str, ok_statuses: tuple[int, ...], fn: Any) -> tuple[int, bytes]:
        t0 = time.perf_counter()
        try:
            status, data = fn()
        except Exception as exc:  # a dropped connection or a timeout is an error
            self.add(kind, time.perf_counter() - t0, type(exc).__name__, False)
            return -1, b""
        self.add(kind, time.perf_counter() - t0, status, status in ok_statuses)
        return status, data


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    xs = sorted(values)
    k = max(0, min(len(xs) - 1, round(q / 100 * (len(xs) - 1))))
    return xs[k]


def summarise(values: list[float]) -> dict[str, float]:
    return {
        "count": len(values),
        "p50_ms": round(percentile(values, 50) * 1000, 1),
        "p95_ms": round(percentile(values, 95) * 1000, 1),
        "p99_ms": round(percentile(values, 99) * 1000, 1),
        "mean_ms": round(statistics.fmean(values) * 1000, 1) if values else float("nan"),
        "max_ms": round(max(values) * 1000, 1) if values else float("nan"),
    }


@dataclass
class LoadSpec:
    uploaders: int
    coordinators: int
    duration: float  # seconds the coordinators keep refreshing
    think: tuple[float, float] = (0.5, 1.5)  # seconds between a coordinator's refreshes
    replan_wait: float = 120.0  # after the load, how long to wait for the re-plan to end
    # keep-alive: each user holds a connection (waitress accepts 100 by default);
    # without, a connection per request, as behind a proxy that pools them
    keepalive: bool = True


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
        for vid, status, _pub in rows:
            info = self.seen.setdefault(vid, {"first_seen": now, "status": status})
            if status != "running" and "ended" not in info:
                info["ended"] = now
            info["status"] = status

    def running(self) -> bool:
        return any(i["status"] == "running" for i in self.seen.values())

    def report(self, t0: float) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        with transaction(self.engine) as s:
            for v in s.scalars(
                select(m.PlanVersion)
                .where(m.PlanVersion.id > self.before)
                .order_by(m.PlanVersion.id)
            ):
                seen = self.seen.get(v.id, {})
                ended = seen.get("ended")
                first = seen.get("first_seen")
                out.append(
                    {
                        "plan_id": v.id,
                        "status": v.status,
                        "published": bool(v.published),
                        "batches": (v.figures or {}).get("batches"),
                        "decision": (v.figures or {}).get("decision"),
                        "score": v.score,
                        "error": v.error,
                        "started_s": round(first - t0, 1) if first is not None else None,
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
            orphans = c.scalar(
                select(func.count())
                .select_from(m.SampleCount)
                .where(m.SampleCount.upload_id.not_in(select(m.Upload.id)))
            )
            if orphans:
                problems.append(f"{orphans} sample counts of no upload")
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


def run_load(server: Server, spec: LoadSpec) -> dict[str, Any]:
    """Run the load against a started server; returns the figures."""
    world = server.world
    rec = Recorder()
    counties = list(world.files)[: spec.uploaders]
    labs = world.labs
    go = threading.Barrier(spec.uploaders + spec.coordinators + 1)
    end_at = [0.0]
    upload_results: dict[str, int] = {}

    def uploader(code: str) -> None:
        client = Client(server.port, keepalive=spec.keepalive)
        try:
            go.wait(60)
            status, _ = rec.timed(
                "upload",
                (201,),
                lambda: post_upload(client, world.tokens[code], code, world.files[code]),
            )
            upload_results[code] = status
        finally:
            client.close()

    def coordinator(i: int) -> None:
        lab = labs[i % len(labs)]
        client = Client(server.port, keepalive=spec.keepalive)
        rnd = random.Random(i)
        try:
            go.wait(60)
            time.sleep(rnd.uniform(0, spec.think[1]))  # not all in the same millisecond
            status, _ = rec.timed("login", (302,), lambda: (login(client, f"lab-{lab}"), b""))
            if status != 302:
                return
            while time.monotonic() < end_at[0]:
                rec.timed("lab_page", (200,), lambda: client.request("GET", f"/lab/{lab}/"))
                time.sleep(rnd.uniform(*spec.think))
        finally:
            client.close()

    threads = [threading.Thread(target=uploader, args=(c,), daemon=True) for c in counties]
    threads += [
        threading.Thread(target=coordinator, args=(i,), daemon=True)
        for i in range(spec.coordinators)
    ]
    watch = ReplanWatch(world)
    watch.start()
    for t in threads:
        t.start()
    started_at = datetime.now()
    try:
        go.wait(60)
        t0 = time.monotonic()
        end_at[0] = t0 + spec.duration
        for t in threads:
            t.join(max(1.0, end_at[0] + 180 - time.monotonic()))
        elapsed = time.monotonic() - t0
        # the uploads asked for a re-plan: let it finish (bounded)
        deadline = time.monotonic() + spec.replan_wait
        while time.monotonic() < deadline:
            watch.poll()
            if watch.seen and not watch.running():
                break
            time.sleep(1.0)
        replans = watch.report(t0)
    finally:
        watch.close()
    total = sum(len(v) for v in rec.lat.values())
    per_kind = {k: summarise(v) for k, v in sorted(rec.lat.items())}
    overall = summarise([x for v in rec.lat.values() for x in v])
    statuses = {k: dict(v) for k, v in rec.status.items()}
    return {
        "started": started_at.isoformat(timespec="seconds"),
        "preset": world.preset,
        "uploaders": len(counties),
        "coordinators": spec.coordinators,
        "labs": len(labs),
        "duration_s": round(elapsed, 1),
        "think_s": list(spec.think),
        "keepalive": spec.keepalive,
        "requests": total,
        "rps": round(total / elapsed, 1) if elapsed else 0.0,
        "per_kind": per_kind,
        "overall": overall,
        "statuses": statuses,
        "errors": len(rec.errors),
        "error_kinds": dict(Counter(rec.errors)),
        "exactly_once": exactly_once(world, counties),
        "replans": replans,
        "alive_threads": sum(t.is_alive() for t in threads),
    }
