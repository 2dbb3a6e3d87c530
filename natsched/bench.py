"""``natsched bench quick [PRESET] --time-limit 5 --out DIR``: a quick benchmark.

Generates a preset (``county`` by default), then times greedy, the SPEC lower
bound and the optimiser with a short time limit, and reports score, bound,
gap, improvement over greedy, seconds per phase and the peak resident memory
of the process. It is what the web UI's benchmark page starts (in its own
process, so that its memory is measured honestly and a crash stays a failed
job, not a dead web server).

Progress goes to stdout as one JSON object per line: ``{"event": "phase",
"phase": ..., "fraction": ...}`` while it runs, and ``{"event": "result",
"result": {...}}`` at the end. With ``--out DIR`` the result is also saved as
``DIR/quick_<at>_<tag>.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import secrets
import subprocess
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from scheduler.cli import add_command

#: the name of a saved quick run; the web UI serves and lists only such names
FILE_PATTERN = re.compile(r"^quick_\d{8}T\d{6}_[0-9a-f]{1,32}\.json$")

Emit = Callable[[dict[str, Any]], None]


def _finite(x: float | None) -> float | None:
    """JSON has no infinity: a gap over a zero bound is reported as unknown."""
    if x is None or not math.isfinite(x):
        return None
    return float(x)


def _commit(root: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    sha = out.stdout.strip()
    return sha if out.returncode == 0 and re.fullmatch(r"[0-9a-f]{7,40}", sha) else None


def peak_rss_mb() -> float:
    """This process's peak resident memory in MiB (OR-Tools' native memory included).

    ``VmHWM`` belongs to the process's own address space, so it starts afresh
    at ``exec``; ``ru_maxrss`` (the fallback) can carry the peak of the parent
    that started this process (e.g. a big web server) across ``vfork``+``exec``.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> dict[str, Any]:
    """The machine a run was measured on (saved with every benchmark result)."""
    from importlib.metadata import version

    from scheduler.solvers.speed import cpu_model

    cpu = cpu_model()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "ram_gib": round(mem, 1),
        "python": platform.python_version(),
        "ortools": version("ortools"),
    }


def file_name(at: datetime, tag: str) -> str:
    """``quick_<YYYYMMDDTHHMMSS>_<tag>.json`` (tag: hex, e.g. the job's id)."""
    if not re.fullmatch(r"[0-9a-f]{1,32}", tag):
        raise ValueError(f"tag must be 1-32 lowercase hex digits, not {tag!r}")
    return f"quick_{at.strftime('%Y%m%dT%H%M%S')}_{tag}.json"


def run(
    preset: str = "county",
    *,
    time_limit: float = 5.0,
    seed: int = 0,
    emit: Emit | None = None,
) -> dict[str, Any]:
    """Run the quick benchmark in this process and return its figures."""
    from scheduler.fixturegen import generate
    from scheduler.network import Network
    from scheduler.solve import solve
    from scheduler.solvers.bounds import lower_bound
    from scheduler.solvers.greedy import greedy

    say: Emit = emit or (lambda _e: None)
    seconds: dict[str, float] = {}
    start_all = time.perf_counter()

    say({"event": "phase", "phase": "generate", "fraction": 0.02})
    t0 = time.perf_counter()
    problem = generate(preset, seed if seed else None).problem
    seconds["generate"] = time.perf_counter() - t0

    say({"event": "phase", "phase": "greedy", "fraction": 0.08})
    t0 = time.perf_counter()
    net = Network.build(problem)
    greedy_score = float(greedy(net).cost(net))
    seconds["greedy"] = time.perf_counter() - t0

    say({"event": "phase", "phase": "bound", "fraction": 0.12})
    t0 = time.perf_counter()
    b = lower_bound(net)
    seconds["bound"] = time.perf_counter() - t0

    say({"event": "phase", "phase": "optimise", "fraction": 0.2})
    first: list[float] = []
    t0 = time.perf_counter()

    def on_progress(e: dict[str, float]) -> None:
        elapsed = time.perf_counter() - t0
        if not first:
            first.append(elapsed)
        frac = 0.2 + 0.75 * min(1.0, elapsed / time_limit) if time_limit > 0 else 0.5
        say(
            {
                "event": "phase",
                "phase": "optimise",
                "fraction": frac,
                "score": _finite(e.get("score")),
            }
        )

    res = solve(problem, time_limit=time_limit, seed=seed, progress=on_progress)
    seconds["optimise"] = time.perf_counter() - t0
    seconds["first_plan"] = first[0] if first else seconds["optimise"]
    seconds["total"] = time.perf_counter() - start_all

    # both are valid lower bounds on every plan's score: keep the tighter one
    bounds = [x for x in (b.value, res.bound) if x is not None]
    bound = max(bounds) if bounds else None
    method = b.method if bound == b.value else res.bound_method
    gap: float | None = None
    if bound is not None:
        gap = max(0.0, (res.score - bound) / bound) if bound > 0 else None
    ev = res.evaluation
    return {
        "kind": "quick",
        "preset": preset,
        "seed": seed,
        "time_limit": time_limit,
        "batches": len(problem.batches),
        "labs": len(problem.labs),
        "tubes": problem.total_tubes,
        "valid": ev.valid,
        "status": res.status,
        "score": _finite(res.score),
        "greedy": _finite(greedy_score),
        "bound": _finite(bound),
        "bound_method": method,
        "gap": _finite(gap),
        "improvement_over_greedy": _finite((greedy_score - res.score) / greedy_score)
        if greedy_score
        else 0.0,
        "on_time": {
            p: (k.tubes_on_time / k.tubes if k.tubes else None) for p, k in ev.per_priority.items()
        },
        "seconds": seconds,
        "solver_timings": {k: float(v) for k, v in res.timings.items()},
        "peak_rss_mb": peak_rss_mb(),
        "machine": machine(),
    }


def save(result: dict[str, Any], out: Path, at: datetime, tag: str) -> Path:
    """Write ``result`` to ``out/quick_<at>_<tag>.json`` (whole or not at all)."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / file_name(at, tag)
    tmp = out / f".{path.name}.tmp"
    tmp.write_text(json.dumps(result, indent=1, allow_nan=False), encoding="utf-8")
    os.replace(tmp, path)
    return path


def _cmd_quick(args: argparse.Namespace) -> int:
    at = datetime.fromisoformat(args.at) if args.at else datetime.now().replace(microsecond=0)
    tag = args.tag or secrets.token_hex(4)

    def emit(event: dict[str, Any]) -> None:
        print(json.dumps(event, allow_nan=False), flush=True)

    result = run(args.preset, time_limit=args.time_limit, seed=args.seed, emit=emit)
    result["at"] = at.isoformat(timespec="seconds")
    result["commit"] = _commit(Path(__file__).resolve().parent.parent)
    if args.out is not None:
        emit({"event": "phase", "phase": "save", "fraction": 0.98})
        result["file"] = file_name(at, tag)
        save(result, args.out, at, tag)
    emit({"event": "result", "result": result})
    return 0 if result["valid"] else 1


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``bench quick``."""

    b = sub.add_parser(
        "bench",
        help="benchmarks that ship with natsched (the web UI's benchmark page runs them)",
        description="Benchmarks that ship with the package; the studies live in benchmarks/.",
    )
    bs = b.add_subparsers(dest="bench_command", required=True)
    p = add_command(
        bs,
        "quick",
        "Generate a preset, then time greedy, the SPEC bound and the optimiser; progress "
        "and the result as JSON lines.",
        "natsched bench quick county --time-limit 5 --out build/bench/quick",
        _cmd_quick,
    )
    p.add_argument("preset", nargs="?", default="county", help="fixture preset (default county)")
    p.add_argument("--time-limit", type=float, default=5.0, help="seconds (default 5)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", type=Path, help="save the result as JSON in this folder")
    p.add_argument("--at", help="the run's time (ISO 8601); default: now")
    p.add_argument("--tag", help="hex suffix of the file name; default: random")
