"""``python -m benchmarks.stress [--short] [--out build/stress/report.md]``.

A province morning against real servers on 127.0.0.1, driven by Locust
(``tests/support/locustfile.py``, headless, a process of its own), then
the faults; writes a Markdown report and ``report.json`` next to it, and
Locust's CSV files (``<config>_stats.csv``, ...) in the same folder.

The long form (default) seeds the ``province`` preset (107 counties stored
and a first plan published before; 50 county offices send their files
during the load) and runs, for ``--run-time`` seconds each:

- ``sqlite``: 200 coordinators, 5 headquarters users, the 50 offices against
  one ``natsched serve`` (waitress) with the worker in the web process;
- ``postgres``: the same against a private PostgreSQL cluster (initdb,
  pg_ctl, a free loopback port) with a separate ``natsched worker``;
- ``postgres-2web``: 800 coordinators against two gunicorn processes over
  ``webui.wsgi:app`` on that cluster, a separate worker, Redis for the
  login limiter when one answers on 127.0.0.1:6379;

then the scale table: p95 per route against 100, 200, 400 and 800
coordinators (other roles fixed) on ``sqlite``, ``--scale-run-time`` each.
``--short`` does the same on ``demo`` in a few minutes. Lines of
``build/stress/fuzz.jsonl`` (written by the fuzz tests) are quoted when the
file is there.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.support.faults import FaultResult, private_cluster, run_faults
from tests.support.locust_run import ROUTES, LoadRun, run_locust
from tests.support.server import (
    GUNICORN_THREADS,
    Server,
    Worker,
    World,
    clone_world,
    seed_world,
)

REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True)
class Form:
    preset: str
    counties: int  # files sent during the load
    preload: int  # files stored before it (the rest of the network's batches)
    lab_accounts: int
    ops: int
    first_plan: float  # seconds for the plan published before the load
    time_limit: float  # the re-plan's
    debounce: float
    coordinators: int  # the main configurations' (postgres-2web: the largest scale step)
    scale: tuple[int, ...]  # coordinators for the scale table
    threads: int | None  # waitress threads (None: what `natsched serve` chooses)
    spawn_rate: float


SHORT = Form("demo", 5, 1, 25, 1, 2.0, 3.0, 1.0, 10, (5, 10, 20, 25), 8, 10.0)
LONG = Form("province", 50, 107, 800, 5, 10.0, 30.0, 5.0, 200, (100, 200, 400, 800), None, 25.0)
CONFIGS = ("sqlite", "postgres", "postgres-2web")

DESCRIBE = {
    "sqlite": "SQLite, one `natsched serve` (waitress, {threads}), the worker in the web process",
    "postgres": "PostgreSQL (a private cluster), one `natsched serve` (waitress, {threads}), "
    "a separate `natsched worker`",
    "postgres-2web": "PostgreSQL (a private cluster), 2 gunicorn processes x {gthreads} threads "
    "(`webui.wsgi:app`), a separate `natsched worker`, limiter on {limiter}",
}


def machine() -> dict[str, Any]:
    ram = 0.0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "ram_gib": round(ram, 1),
        "python": platform.python_version(),
        "os": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def redis_answers(host: str = "127.0.0.1", port: int = 6379) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _seed(form: Form, folder: Path, db_url: str | None = None) -> tuple[World, float]:
    t0 = time.monotonic()
    world = seed_world(
        form.preset,
        folder,
        counties=form.counties,
        labs=form.lab_accounts,
        ops=form.ops,
        preload=form.preload,
        first_plan_seconds=form.first_plan,
        db_url=db_url,
    )
    return world, round(time.monotonic() - t0, 1)


@contextlib.contextmanager
def _servers(config: str, form: Form, world: World, name: str) -> Iterator[tuple[Server, Any]]:
    """The web process(es) of ``config`` and its worker (None: inside the web process)."""
    common: dict[str, Any] = {"time_limit": form.time_limit, "debounce": form.debounce}
    # the load sends X-Forwarded-For per user, as a reverse proxy would
    env: dict[str, str | None] = {"NATSCHED_PROXY_FIX": "1"}
    if config == "postgres-2web":
        if redis_answers():
            env["NATSCHED_RATELIMIT_STORAGE_URI"] = REDIS_URL
            env["NATSCHED_RATELIMIT_KEY_PREFIX"] = f"natsched-stress-{os.getpid()}-{name}"
        web = Server(world, web_processes=2, extra_env=env, log_name=f"{name}-web", **common)
    else:
        web = Server(
            world,
            worker=config == "sqlite",
            threads=form.threads,
            extra_env=env,
            log_name=f"{name}-web",
            **common,
        )
    with web:
        if config == "sqlite":
            yield web, None
            return
        with Worker(world, log_name=f"{name}-worker", **common) as worker:
            yield web, worker


def _one(
    config: str, form: Form, world: World, run: LoadRun, out_dir: Path, seeded: float
) -> dict[str, Any]:
    with _servers(config, form, world, run.name) as (web, worker):
        out = run_locust(web, run, out_dir, worker.proc if worker is not None else None)
        limiter = web.env.get("NATSCHED_RATELIMIT_STORAGE_URI", "memory:// (each process)")
    out["config"] = config
    threads = f"{form.threads} threads" if form.threads else "its default threads"
    out["describe"] = DESCRIBE[config].format(
        threads=threads, gthreads=GUNICORN_THREADS, limiter=limiter
    )
    out["seed_s"] = seeded
    out["replan_time_limit_s"] = form.time_limit
    out["offered_rps"] = round(run.coordinators / 10 + run.ops / 15, 1)
    return out


def run_all(
    form: Form,
    base: Path,
    out_dir: Path,
    configs: tuple[str, ...],
    run_time: float,
    scale_time: float,
    scale: bool,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The main configurations, then the scale table's runs; errors are reported, not raised."""
    loads: dict[str, Any] = {}
    main = {c: form.coordinators for c in configs}
    if "postgres-2web" in main:
        main["postgres-2web"] = form.scale[-1]

    def run_of(name: str, coordinators: int, seconds: float) -> LoadRun:
        return LoadRun(name, coordinators, form.counties, form.ops, seconds, form.spawn_rate)

    template: tuple[World, float] | None = None
    scale_rows: list[dict[str, Any]] = []
    if "sqlite" in configs or scale:
        template = _seed(form, base / "template")
    for config in configs:
        run = run_of(config, main[config], run_time)
        try:
            if config == "sqlite":
                assert template is not None
                world = clone_world(template[0], base / config)
                loads[config] = _one(config, form, world, run, out_dir, template[1])
            else:
                with private_cluster() as (url, _):
                    world, seeded = _seed(form, base / config, db_url=url)
                    loads[config] = _one(config, form, world, run, out_dir, seeded)
        except Exception as exc:
            loads[config] = {"config": config, "error": f"{type(exc).__name__}: {exc}"}
        print(f"{config}: {_brief(loads[config])}", flush=True)
    if scale and template is not None:
        for n in form.scale:
            name = f"scale-{n}"
            try:
                world = clone_world(template[0], base / name)
                row = _one("sqlite", form, world, run_of(name, n, scale_time), out_dir, 0.0)
            except Exception as exc:
                row = {"config": "sqlite", "error": f"{type(exc).__name__}: {exc}"}
            row["coordinators"] = n
            scale_rows.append(row)
            print(f"{name}: {_brief(row)}", flush=True)
    return loads, scale_rows


def _brief(d: dict[str, Any]) -> str:
    if "error" in d:
        return "did not run: " + d["error"]
    return (
        f"{d['requests']} requests, {d['rps']} /s, {d['errors']} errors, "
        f"{d['refused_logins']} refused logins, exactly once: {d['exactly_once']['ok']}"
    )


def _ms(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v / 1000:.2f} s" if v >= 1000 else f"{v:.0f} ms"


def _health(said: dict[str, Any] | None) -> str:
    if said is None:
        return "no health route"
    body = said["body"] if isinstance(said["body"], dict) else {}
    return f"`/api/v1/health` {said['http_status']}, worker {body.get('worker', '?')}"


def _yes(flag: bool) -> str:
    return "yes" if flag else "NO"


def _load_md(d: dict[str, Any]) -> list[str]:
    run = d["run"]
    eo = d["exactly_once"]
    out = [
        f"### {d['config']}: {run['coordinators']} coordinators",
        "",
        f"- {d['describe']}; re-plan time limit {d['replan_time_limit_s']} s; seeding took "
        f"{d['seed_s']} s",
        f"- users: {run['coordinators']} coordinators (refresh every 5-15 s), "
        f"{run['counties']} county offices (one commit each), {run['ops']} headquarters "
        f"(every 10-20 s), spawned {run['spawn_rate']:g}/s; offered about "
        f"{d['offered_rps']} requests/s once all are in",
        f"- {d['duration_s']} s, {d['requests']} requests, **{d['rps']} requests/s**; "
        f"errors **{d['errors']}** (of which shed with 503: {d['shed']} "
        f"{d['shed_by_route'] or ''}), refused logins **{d['refused_logins']}**",
        f"- uploads stored exactly once: **{_yes(eo['ok'])}** ({eo['files']} "
        f"files, {eo['file_rows']} rows in the files, {eo['stored_rows']} stored)"
        + "".join(f"; {p}" for p in eo["problems"]),
        f"- a re-plan made during the load and published: "
        f"**{_yes(d['plan_published_during_load'])}**"
        + (
            f", {d['first_published_s']} s after the load began (it ran {d['duration_s']} s)"
            if d["first_published_s"]
            else ""
        ),
        f"- re-planning worker alive at the end: **{_yes(d['worker']['alive'])}** "
        f"(process {'alive' if d['worker']['process_alive'] else 'dead'}; "
        f"{_health(d['worker']['health'])})",
        "",
        "| route | requests | failures | p50 | p95 | p99 | max |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for route, r in d["routes"].items():
        out.append(
            f"| {route} | {r['requests']} | {r['failures']} | {_ms(r['p50_ms'])} | "
            f"{_ms(r['p95_ms'])} | {_ms(r['p99_ms'])} | {_ms(r['max_ms'])} |"
        )
    t = d["total"]
    out.append(
        f"| **all** | {t['requests']} | {t['failures']} | {_ms(t['p50_ms'])} | "
        f"{_ms(t['p95_ms'])} | {_ms(t['p99_ms'])} | {_ms(t['max_ms'])} |"
    )
    if d["failures"]:
        out += ["", "Failures:", ""]
        out += [f"- {f['route']}: {f['error']} ({f['count']}x)" for f in d["failures"]]
    out += ["", "Re-plans during the load (seconds from its start):", ""]
    if not d["replans"]:
        out.append("- none started")
    for r in d["replans"]:
        out.append(
            f"- plan {r['plan_id']}: {r['batches']} batches, seen at {r['started_s']} s, "
            f"took {r['wall_s']} s, status `{r['status']}`, published {r['published']}"
            + (f" at {r['published_s']} s" if r["published_s"] is not None else "")
            + f" ({r['decision'] or r['error']})"
        )
    return [*out, ""]


def scale_md(rows: list[dict[str, Any]]) -> list[str]:
    """p95 per route against the number of coordinators."""
    out = [
        "| coordinators | requests/s | errors | refused logins | "
        + " | ".join(f"{r} p95" for r in ROUTES)
        + " | plan published |",
        "|---:|---:|---:|---:|" + "---:|" * len(ROUTES) + "---|",
    ]
    for row in rows:
        if "error" in row:
            out.append(f"| {row['coordinators']} | did not run: {row['error']} |")
            continue
        p95 = [_ms(row["routes"].get(r, {}).get("p95_ms")) for r in ROUTES]
        pub = f"{row['first_published_s']} s" if row["plan_published_during_load"] else "no"
        out.append(
            f"| {row['coordinators']} | {row['rps']} | {row['errors']} | "
            f"{row['refused_logins']} | " + " | ".join(p95) + f" | {pub} |"
        )
    return out


def markdown(data: dict[str, Any], fuzz: list[str]) -> str:
    mc = data["machine"]
    out = [
        f"# natsched stress report ({data['form']})",
        "",
        f"- when: {data['started']} (took {data['seconds']:.0f} s)",
        f"- machine: {mc['cpus']} CPUs, {mc['ram_gib']} GiB RAM, Python {mc['python']}, "
        f"{mc['os']}; load average at the start {mc['load_average_at_start']}",
        f"- command: `{data['command']}`",
        "- everything on 127.0.0.1; the load generator is Locust, headless, in a process "
        "of its own; latencies are Locust's (its percentiles keep 2 significant digits)",
        "",
        "## Load",
        "",
    ]
    for config, d in data["load"].items():
        if "error" in d:
            out += [f"### {config}", "", f"**did not run: {d['error']}**", ""]
        else:
            out += _load_md(d)
    if data["scale"]:
        s = data["scale"][0]
        run = s.get("run", {})
        out += [
            "## Scale: p95 against coordinators",
            "",
            f"{s.get('describe', 'sqlite')}; {run.get('counties')} county offices and "
            f"{run.get('ops')} headquarters users in each run, {run.get('run_time')} s each, "
            "a fresh copy of the seeded world each.",
            "",
            *scale_md(data["scale"]),
            "",
        ]
    out += ["## Faults", "", "| fault | what was done | what was checked | result |"]
    out.append("|---|---|---|---|")
    for f in data["faults"]:
        verdict = f["verdict"] + (": " + "; ".join(f["problems"]) if f["problems"] else "")
        out.append(
            f"| {f['name']} ({f['seconds']} s) | {f['done']} | {f['checked']} | **{verdict}** |"
        )
    if fuzz:
        out += ["", "## Fuzz findings (build/stress/fuzz.jsonl)", "", "```", *fuzz, "```"]
    out.append("")
    return "\n".join(out)


def _ok(d: dict[str, Any]) -> bool:
    return (
        "error" not in d
        and d["errors"] == 0
        and d["exactly_once"]["ok"]
        and d["worker"]["alive"]
        and d["plan_published_during_load"]
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.stress",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--short", action="store_true", help="the demo preset, a few minutes")
    ap.add_argument("--out", default="build/stress/report.md", help="the Markdown report")
    ap.add_argument("--no-faults", action="store_true", help="the load only")
    ap.add_argument("--no-scale", action="store_true", help="without the scale table's runs")
    ap.add_argument(
        "--config",
        action="append",
        choices=CONFIGS,
        help="a main configuration to run (repeat; default: all three; none with --scale-only)",
    )
    ap.add_argument("--scale-only", action="store_true", help="only the scale table's runs")
    ap.add_argument("--run-time", type=float, help="seconds per main run (180; short 45)")
    ap.add_argument("--scale-run-time", type=float, help="seconds per scale run (90; short 30)")
    ap.add_argument("--keep", action="store_true", help="keep the databases and server logs")
    args = ap.parse_args(argv)
    form = SHORT if args.short else LONG
    run_time = args.run_time or (45.0 if args.short else 180.0)
    scale_time = args.scale_run_time or (30.0 if args.short else 90.0)
    configs: tuple[str, ...] = () if args.scale_only else tuple(args.config or CONFIGS)
    if args.short and not args.config:
        configs = () if args.scale_only else ("sqlite",)
    started = datetime.now()
    t0 = time.monotonic()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    mc = machine()
    base = Path(tempfile.mkdtemp(prefix="natsched-stress-"))
    try:
        loads, scale_rows = run_all(
            form, base, out.parent, configs, run_time, scale_time, not args.no_scale
        )
        faults: list[FaultResult] = [] if args.no_faults else run_faults(base=base / "faults")
    finally:
        if args.keep:
            print(f"databases and logs kept in {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
    fuzz_file = out.parent / "fuzz.jsonl"
    fuzz = fuzz_file.read_text(errors="replace").splitlines()[:100] if fuzz_file.exists() else []
    data = {
        "form": "short" if args.short else "long",
        "started": started.isoformat(timespec="seconds"),
        "seconds": round(time.monotonic() - t0, 1),
        "command": " ".join(["python -m benchmarks.stress", *(argv or sys.argv[1:])]),
        "machine": mc,
        "settings": asdict(form),
        "load": loads,
        "scale": scale_rows,
        "faults": [f.to_dict() for f in faults],
        "fuzz_lines": len(fuzz),
    }
    out.write_text(markdown(data, fuzz), encoding="utf-8")
    out.with_suffix(".json").write_text(json.dumps(data, indent=2, default=str) + "\n")
    print(out.read_text())
    ok = all(_ok(d) for d in [*loads.values(), *scale_rows]) and all(
        f.verdict != "FAIL" for f in faults
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
