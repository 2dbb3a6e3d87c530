"""``python -m benchmarks.stress [--short] [--out build/stress/report.md]``.

Runs the load (county uploads, coordinators refreshing, a re-plan) and the
faults against real ``natsched serve`` processes on 127.0.0.1, and writes a
Markdown report and ``report.json`` next to it. The long form (default) loads
the ``province`` preset: 50 county offices, 200 coordinators; ``--short``
loads ``demo`` in well under a minute. Lines of ``build/stress/fuzz.jsonl``
(written by the fuzz tests) are quoted when the file is there.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from benchmarks.stress.faults import FaultResult, private_cluster, run_faults
from benchmarks.stress.load import LoadSpec, run_load
from benchmarks.stress.server import Server, Worker, seed_world


@dataclass(frozen=True)
class Form:
    preset: str
    counties: int  # files sent during the load
    preload: int  # files stored before it (the rest of the network's batches)
    lab_accounts: int
    spec: LoadSpec
    time_limit: float
    debounce: float
    threads: int


SHORT = Form("demo", 6, 0, 25, LoadSpec(6, 20, 10.0, (0.5, 1.5), 60.0), 3.0, 1.0, 8)
LONG = Form("province", 50, 107, 50, LoadSpec(50, 200, 120.0, (0.5, 1.5), 240.0), 30.0, 5.0, 16)


CONN = {True: "one kept-alive connection per user", False: "a connection per request"}


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
    }


def run_load_form(form: Form, base: Path, db_url: str | None = None) -> dict[str, Any]:
    """The load on SQLite with the in-process worker, or on ``db_url`` with a separate one."""
    t0 = time.monotonic()
    world = seed_world(
        form.preset,
        base / "load",
        counties=form.counties,
        labs=form.lab_accounts,
        preload=form.preload,
        db_url=db_url,
    )
    seeded = time.monotonic() - t0
    separate = db_url is not None
    with (
        Server(
            world,
            worker=not separate,
            time_limit=form.time_limit,
            debounce=form.debounce,
            threads=form.threads,
            log_name="load-server",
        ) as srv,
        Worker(world, time_limit=form.time_limit, debounce=form.debounce, log_name="load-worker")
        if separate
        else contextlib.nullcontext(),
    ):
        out = run_load(srv, form.spec)
    out["database"] = "PostgreSQL (a private cluster)" if separate else "SQLite"
    out["worker"] = "a separate `natsched worker` process" if separate else "in the web process"
    out["seed_s"] = round(seeded, 1)
    out["replan_time_limit_s"] = form.time_limit
    out["server_threads"] = form.threads
    out["preloaded_counties"] = form.preload
    return out


def _ms(d: dict[str, Any]) -> str:
    return f"{d['count']} | {d['p50_ms']} | {d['p95_ms']} | {d['p99_ms']} | {d['max_ms']}"


def markdown(data: dict[str, Any], fuzz: list[str]) -> str:
    mc, load, faults = data["machine"], data["load"], data["faults"]
    out = [
        f"# natsched stress report ({data['form']})",
        "",
        f"- when: {data['started']} (took {data['seconds']:.0f} s)",
        f"- machine: {mc['cpus']} CPUs, {mc['ram_gib']} GiB RAM, Python {mc['python']}, {mc['os']}",
        f"- command: `{data['command']}`",
        "- everything on 127.0.0.1: one `python -m scheduler serve` (waitress) process on "
        f"{load.get('database', 'SQLite')}, the re-planning worker "
        f"{load.get('worker', 'in the web process')}",
        "",
        "## Load",
        "",
    ]
    if "error" in load:
        out += [f"**the load did not run: {load['error']}**", ""]
    else:
        eo = load["exactly_once"]
        out += [
            f"- preset `{load['preset']}`: {load['uploaders']} county offices upload at once "
            f"(`POST /api/v1/uploads`, mode=commit, bearer token) while "
            f"{load['coordinators']} coordinators (own sessions, {load['labs']} lab accounts, "
            f"logged in through `/login`) refresh `/lab/<id>/` every "
            f"{load['think_s'][0]}-{load['think_s'][1]} s "
            f"({CONN[bool(load.get('keepalive', True))]}); "
            f"{load['preloaded_counties']} more counties stored before",
            f"- server threads {load['server_threads']}, re-plan time limit "
            f"{load['replan_time_limit_s']} s, seeding took {load['seed_s']} s",
            f"- duration {load['duration_s']} s, requests {load['requests']}, "
            f"**{load['rps']} requests/s**",
            f"- errors: **{load['errors']}** {load['error_kinds'] or ''}; statuses: "
            + ", ".join(
                f"{k} {dict(sorted(v.items()))}" for k, v in sorted(load["statuses"].items())
            ),
            f"- uploads stored exactly once: **{'yes' if eo['ok'] else 'NO'}** "
            f"({eo['files']} files, {eo['file_rows']} rows in the files, "
            f"{eo['stored_rows']} rows stored)" + "".join(f"; {p}" for p in eo["problems"]),
            "",
            "| request | count | p50 ms | p95 ms | p99 ms | max ms |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for kind, d in load["per_kind"].items():
            out.append(f"| {kind} | {_ms(d)} |")
        out.append(f"| **all** | {_ms(load['overall'])} |")
        out += ["", "Re-plans during the load (seconds from the start of the load):", ""]
        if not load["replans"]:
            out.append("- none started")
        for r in load["replans"]:
            out.append(
                f"- plan {r['plan_id']}: {r['batches']} batches, started at {r['started_s']} s, "
                f"took {r['wall_s']} s, status `{r['status']}`, published {r['published']} "
                f"({r['decision'] or r['error']}), score {r['score']}"
            )
    out += ["", "## Faults", "", "| fault | what was done | what was checked | result |"]
    out.append("|---|---|---|---|")
    for f in faults:
        verdict = f["verdict"] + (": " + "; ".join(f["problems"]) if f["problems"] else "")
        out.append(
            f"| {f['name']} ({f['seconds']} s) | {f['done']} | {f['checked']} | **{verdict}** |"
        )
    if fuzz:
        out += ["", "## Fuzz findings (build/stress/fuzz.jsonl)", "", "```"]
        out += fuzz
        out += ["```"]
    out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.stress", description=__doc__)
    ap.add_argument("--short", action="store_true", help="the demo preset, about a minute")
    ap.add_argument("--out", default="build/stress/report.md", help="the Markdown report")
    ap.add_argument("--no-faults", action="store_true", help="the load only")
    ap.add_argument(
        "--postgres",
        action="store_true",
        help="the load on PostgreSQL (a private cluster) with a separate worker process",
    )
    ap.add_argument("--keep", action="store_true", help="keep the databases and server logs")
    ap.add_argument(
        "--close-connections",
        action="store_true",
        help="a connection per request instead of one kept-alive connection per user",
    )
    args = ap.parse_args(argv)
    form = SHORT if args.short else LONG
    if args.close_connections:
        form = replace(form, spec=replace(form.spec, keepalive=False))
    started = datetime.now()
    t0 = time.monotonic()
    base = Path(tempfile.mkdtemp(prefix="natsched-stress-"))
    try:
        try:
            if args.postgres:
                with private_cluster() as (url, _):
                    load: dict[str, Any] = run_load_form(form, base, db_url=url)
            else:
                load = run_load_form(form, base)
        except Exception as exc:
            load = {"error": f"{type(exc).__name__}: {exc}"}
        faults: list[FaultResult] = [] if args.no_faults else run_faults(base=base / "faults")
    finally:
        if args.keep:
            print(f"databases and logs kept in {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fuzz_file = out.parent / "fuzz.jsonl"
    fuzz = fuzz_file.read_text(errors="replace").splitlines()[:100] if fuzz_file.exists() else []
    data = {
        "form": ("short" if args.short else "long") + (", PostgreSQL" if args.postgres else ""),
        "started": started.isoformat(timespec="seconds"),
        "seconds": round(time.monotonic() - t0, 1),
        "command": " ".join(["python -m benchmarks.stress", *(argv or sys.argv[1:])]),
        "machine": machine(),
        "settings": asdict(form),
        "load": load,
        "faults": [f.to_dict() for f in faults],
        "fuzz_lines": len(fuzz),
    }
    out.write_text(markdown(data, fuzz), encoding="utf-8")
    out.with_suffix(".json").write_text(json.dumps(data, indent=2, default=str) + "\n")
    print(out.read_text())
    ok = (
        "error" not in load
        and load["errors"] == 0
        and load["exactly_once"]["ok"]
        and all(f.verdict != "FAIL" for f in faults)
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
