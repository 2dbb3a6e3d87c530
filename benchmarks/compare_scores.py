"""Gate a speed-tier run: ``python -m benchmarks.compare_scores DIR [--baseline FILE]``.

pytest-benchmark saves each run under DIR (``--benchmark-autosave``). The
newest run is checked

- against the committed baseline (``benchmarks/baseline_scores.json``): a
  plan score (``score``) more than the baseline's tolerance above its figure,
  or a bound (``bound``) that much below, fails; a case with no figures there
  fails too, so that nothing passes unchecked;
- against the run before it, on the same machine: a score more than
  ``--score-limit`` above, or a time more than ``--time-limit`` slower,
  fails. A case's time is its ``work_cpu_seconds`` when it records one (the
  search: its CPU time without the clocked strong bound), else the fastest
  of its rounds (CPU time under ``make bench``).

Every timed case is work of fixed size (``benchmarks/test_speed.py``), so a
slower time is slower code, not a different time limit.

Refresh the baseline after a change that moves the figures on purpose: run
``make bench`` on the presets to record, then
``python -m benchmarks.compare_scores build/bench/speed --update-baseline``,
and commit the file with the reason in the message. Cases of other presets
already in the file are kept.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

DEFAULT_BASELINE = Path(__file__).with_name("baseline_scores.json")
DEFAULT_TOLERANCE = 0.01
ABOUT = (
    "Speed-tier scores and bounds that make bench must keep within the tolerance "
    "(a share). Refresh: make bench, then python -m benchmarks.compare_scores "
    "build/bench/speed --update-baseline, and commit with the reason."
)
#: figures where lower is better; the others (bounds) are better higher
LOWER_IS_BETTER = {"score": True, "bound": False}


@dataclass(frozen=True)
class Case:
    figures: dict[str, float]
    seconds: float | None


def load_run(path: Path) -> dict[str, Case]:
    """Each case of a saved run: its score and bound, and its time."""
    data = json.loads(path.read_text(encoding="utf-8"))
    out: dict[str, Case] = {}
    for b in data.get("benchmarks", []):
        extra = b.get("extra_info", {})
        figures = {k: float(extra[k]) for k in LOWER_IS_BETTER if extra.get(k) is not None}
        seconds = extra.get("work_cpu_seconds", b.get("stats", {}).get("min"))
        out[b["fullname"]] = Case(figures, None if seconds is None else float(seconds))
    return out


def _off(name: str, value: float, ref: float, limit: float) -> float | None:
    """How far ``value`` is worse than ``ref`` (a share of it) when that exceeds ``limit``."""
    if ref == 0:
        return None if value == ref else float("inf")
    change = (value - ref) / abs(ref)
    worse = change if LOWER_IS_BETTER[name] else -change
    return worse if worse > limit else None


def against_baseline(new: dict[str, Case], baseline: dict) -> list[str]:
    tol = float(baseline.get("tolerance", DEFAULT_TOLERANCE))
    cases = baseline.get("cases", {})
    bad = []
    for name, case in sorted(new.items()):
        if not case.figures:
            continue
        ref = cases.get(name)
        if ref is None:
            bad.append(f"{name}: no baseline figures (see --update-baseline)")
            continue
        for key, value in sorted(case.figures.items()):
            if key not in ref:
                bad.append(f"{name}: no baseline {key} (see --update-baseline)")
                continue
            print(f"{name}: {key} {value:,.1f}, baseline {ref[key]:,.1f}")
            off = _off(key, value, float(ref[key]), tol)
            if off is not None:
                bad.append(f"{name}: {key} {value:,.1f} is {off:.2%} worse than the baseline")
    return bad


def against_previous(
    new: dict[str, Case], old: dict[str, Case], score_limit: float, time_limit: float
) -> list[str]:
    bad = []
    for name, case in sorted(new.items()):
        before = old.get(name)
        if before is None:
            continue
        for key, value in sorted(case.figures.items()):
            if key in before.figures:
                off = _off(key, value, before.figures[key], score_limit)
                if off is not None:
                    bad.append(f"{name}: {key} {off:.1%} worse than the previous run")
        if case.seconds is not None and before.seconds:
            change = (case.seconds - before.seconds) / before.seconds
            print(f"{name}: {before.seconds:.3f} s -> {case.seconds:.3f} s ({change:+.1%})")
            if change > time_limit:
                bad.append(f"{name}: {change:.1%} slower than the previous run")
    return bad


def update_baseline(path: Path, new: dict[str, Case]) -> None:
    doc = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    doc.setdefault("about", ABOUT)
    doc.setdefault("tolerance", DEFAULT_TOLERANCE)
    cases = doc.setdefault("cases", {})
    for name, case in new.items():
        if case.figures:
            cases[name] = case.figures
    doc["cases"] = dict(sorted(cases.items()))
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("storage", type=Path, help="pytest-benchmark's storage folder")
    ap.add_argument("--baseline", type=Path, default=DEFAULT_BASELINE)
    ap.add_argument("--score-limit", type=float, default=0.10)
    ap.add_argument("--time-limit", type=float, default=0.10)
    ap.add_argument(
        "--update-baseline",
        action="store_true",
        help="write the newest run's figures into the baseline file instead of checking",
    )
    args = ap.parse_args(argv)
    runs = sorted(args.storage.glob("*/*.json"), key=lambda p: p.name)
    if not runs:
        print(f"no saved speed-tier run under {args.storage}: nothing was measured")
        return 1
    new = load_run(runs[-1])
    if args.update_baseline:
        update_baseline(args.baseline, new)
        print(f"baseline {args.baseline} updated from {runs[-1]}")
        return 0
    if not args.baseline.exists():
        print(f"no baseline file {args.baseline} (see --update-baseline)")
        return 1
    bad = against_baseline(new, json.loads(args.baseline.read_text(encoding="utf-8")))
    if len(runs) >= 2:
        bad += against_previous(new, load_run(runs[-2]), args.score_limit, args.time_limit)
    else:
        print("first saved run: times are compared from the next one on")
    for line in bad:
        print(f"FAIL {line}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
