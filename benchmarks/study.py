"""Quality tier and scaling study: ``python -m benchmarks.study quality|scaling``.

Each case runs in its own process (``benchmarks.run_one``) so that its memory
is measured honestly and a failure stays one row of the table. Outputs go to
``build/bench/``: a Markdown and a CSV table, PNG and SVG plots, and
``index.json`` listing every run (read by the web UI's benchmark page).
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

OUT = Path("build/bench")
QUALITY_PRESETS = ("city", "province", "surge")
QUALITY_SEEDS = (1, 2)
QUALITY_LIMITS = (10.0, 60.0)
SCALING_SIZES = (1_000, 5_000, 20_000, 50_000, 100_000)


def run_case(
    preset: str, time_limit: float, seed: int, batches: int | None = None
) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks.run_one", preset, "--time-limit", str(time_limit)]
    cmd += ["--seed", str(seed)]
    if batches is not None:
        cmd += ["--batches", str(batches)]
    t0 = time.perf_counter()
    timeout = time_limit * 6 + 900
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        # a case that overruns is a finding for the table, not the end of the study
        return {
            "preset": preset,
            "seed": seed,
            "time_limit": time_limit,
            "batches": batches,
            "error": f"did not finish within {timeout:.0f} s",
            "wall": time.perf_counter() - t0,
        }
    if proc.returncode not in (0, 1) or not proc.stdout.strip():
        return {
            "preset": preset,
            "seed": seed,
            "time_limit": time_limit,
            "batches": batches,
            "error": (proc.stderr.strip().splitlines() or ["no output"])[-1],
            "wall": time.perf_counter() - t0,
        }
    row: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    row["wall"] = time.perf_counter() - t0
    return row


def _fmt(x: Any, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def write_table(rows: list[dict[str, Any]], name: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    cols = [
        "preset",
        "seed",
        "time_limit",
        "batches",
        "labs",
        "greedy",
        "score",
        "bound",
        "gap",
        "closed",
        "improvement_over_greedy",
        "first_plan_s",
        "solve_s",
        "peak_rss_mb",
        "peak_rss_children_mb",
        "bound_method",
        "error",
    ]
    flat = []
    for r in rows:
        s = r.get("seconds", {})
        flat.append(
            {
                **{c: r.get(c) for c in cols},
                "first_plan_s": s.get("first_plan"),
                "solve_s": s.get("solve"),
            }
        )
    with (OUT / f"{name}.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=cols)
        w.writeheader()
        w.writerows(flat)
    m = rows[0].get("machine", {}) if rows else {}
    lines = [
        f"# natsched {name} benchmark",
        "",
        f"Machine: {m.get('cpus')} cores ({m.get('cpu')}), {m.get('ram_gib')} GiB RAM, "
        f"Python {m.get('python')}, OR-Tools {m.get('ortools')}. "
        f"Command: `make bench-{name}`.",
        "",
        "| preset | seed | limit s | batches | labs | greedy | optimiser | bound | gap | "
        "closed | first plan s | peak MB (+ child) | bound method |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in flat:
        if r.get("error"):
            lines.append(
                f"| {r['preset']} | {r['seed']} | {r['time_limit']} | {r['batches']} | "
                f"failed: {r['error']} ||||||||"
            )
            continue
        lines.append(
            f"| {r['preset']} | {r['seed']} | {r['time_limit']:g} | {r['batches']:,} "
            f"| {r['labs']} | {r['greedy']:,.0f} | {r['score']:,.0f} "
            f"| {_fmt(r['bound'], ',.0f')} | "
            f"{_fmt(r['gap'], '.2%')} | {_fmt(r['closed'], '.0%')} | {r['first_plan_s']:.1f} | "
            f"{r['peak_rss_mb']:,.0f} (+ {r.get('peak_rss_children_mb') or 0:,.0f}) | "
            f"{r['bound_method']} |"
        )
    (OUT / f"{name}.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def plot_quality(rows: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in rows if "error" not in r]
    fig, ax = plt.subplots(figsize=(6, 4))
    for preset in sorted({r["preset"] for r in ok}):
        limits = sorted({r["time_limit"] for r in ok if r["preset"] == preset})
        # mean over seeds per time limit
        gaps = [
            100
            * float(
                np.mean(
                    [r["gap"] or 0 for r in ok if r["preset"] == preset and r["time_limit"] == t]
                )
            )
            for t in limits
        ]
        ax.plot(limits, gaps, "o-", label=preset)
    ax.set_xlabel("time limit (s)")
    ax.set_ylabel("gap to bound (%), mean over seeds")
    ax.set_title("Gap against time")
    ax.legend()
    _save(fig, "gap_vs_time")
    fig, ax = plt.subplots(figsize=(6, 4))
    presets = sorted({r["preset"] for r in ok})
    width = 0.25
    for k, prio in enumerate(("urgent", "high", "routine")):
        vals = [
            100 * float(np.mean([r["on_time"][prio] or 0 for r in ok if r["preset"] == p]))
            for p in presets
        ]
        ax.bar(np.arange(len(presets)) + (k - 1) * width, vals, width, label=prio)
    ax.set_xticks(np.arange(len(presets)), presets)
    ax.set_ylabel("tubes on time (%)")
    ax.set_title("On-time rate per preset")
    ax.legend()
    _save(fig, "ontime")


def plot_scaling(rows: list[dict[str, Any]]) -> dict[str, float]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in rows if "error" not in r]
    exps: dict[str, float] = {}
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label in (
        ("first_plan", "first valid plan"),
        ("flow", "bound / flow"),
        ("network", "network"),
    ):
        pts = [(r["batches"], r["seconds"].get(key)) for r in ok if r["seconds"].get(key)]
        if len(pts) < 2:
            continue
        x, y = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
        exps[key] = float(np.polyfit(x, y, 1)[0])
        ax.loglog(
            [p[0] for p in pts], [p[1] for p in pts], "o-", label=f"{label} (~n^{exps[key]:.2f})"
        )
    ax.set_xlabel("batches")
    ax.set_ylabel("seconds")
    ax.set_title("Solve time against batches")
    ax.legend()
    _save(fig, "time_vs_batches")
    pts = [(r["batches"], r["peak_rss_mb"]) for r in ok]
    if len(pts) >= 2:
        exps["peak_rss_mb"] = float(
            np.polyfit(np.log([p[0] for p in pts]), np.log([p[1] for p in pts]), 1)[0]
        )
    return exps


def _save(fig: Any, name: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    for ext in ("png", "svg"):
        fig.savefig(OUT / f"{name}.{ext}")


def _index(kind: str, rows: list[dict[str, Any]], extra: dict[str, Any] | None = None) -> None:
    path = OUT / "index.json"
    index = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"runs": []}
    index["runs"].append(
        {"kind": kind, "at": time.strftime("%Y-%m-%dT%H:%M:%S"), "rows": rows, **(extra or {})}
    )
    path.write_text(json.dumps(index, indent=1), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("kind", choices=("quality", "scaling"))
    ap.add_argument("--quick", action="store_true", help="a small matrix for development")
    ap.add_argument(
        "--preset", action="append", choices=QUALITY_PRESETS, help="only these (repeatable)"
    )
    ap.add_argument("--limit", action="append", type=float, help="only these time limits (s)")
    args = ap.parse_args(argv)
    rows: list[dict[str, Any]] = []
    if args.kind == "quality":
        presets = args.preset or (("city",) if args.quick else QUALITY_PRESETS)
        seeds = QUALITY_SEEDS[:1] if args.quick else QUALITY_SEEDS
        limits = args.limit or ((10.0,) if args.quick else QUALITY_LIMITS)
        for preset in presets:
            for seed in seeds:
                for limit in limits:
                    print(f"quality: {preset} seed {seed} limit {limit:g} s", flush=True)
                    rows.append(run_case(preset, limit, seed))
        write_table(rows, "quality")
        plot_quality(rows)
        _index("quality", rows)
    else:
        sizes = SCALING_SIZES[:2] if args.quick else SCALING_SIZES
        for n in sizes:
            print(f"scaling: {n:,} batches", flush=True)
            rows.append(run_case("province", 30.0, 1, batches=n))
        write_table(rows, "scaling")
        exps = plot_scaling(rows)
        text = "\n".join(
            f"- {k}: {'peak memory' if k == 'peak_rss_mb' else 'time'} grows as batches^{v:.2f}"
            for k, v in exps.items()
        )
        with (OUT / "scaling.md").open("a", encoding="utf-8") as fh:
            fh.write("\nFitted growth exponents (least squares on log-log):\n\n" + text + "\n")
        _index("scaling", rows, {"exponents": exps})
    print((OUT / f"{args.kind}.md").read_text(encoding="utf-8"))
    bad = [r for r in rows if "error" in r or not r.get("valid", False)]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
