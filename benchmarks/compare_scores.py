"""Fail when a speed-tier run's plan scores regress: ``python -m benchmarks.compare_scores DIR``.

pytest-benchmark compares times; plan quality lives in each case's
``extra_info["score"]``. This compares the newest saved run in DIR with the
one before it, case by case, and exits 1 when any score grew by more than
``--limit`` (default 10 %).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def scores(path: Path) -> dict[str, float]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return {
        b["fullname"]: float(b["extra_info"]["score"])
        for b in data.get("benchmarks", [])
        if "score" in b.get("extra_info", {})
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("storage", type=Path)
    ap.add_argument("--limit", type=float, default=0.10)
    args = ap.parse_args(argv)
    runs = sorted(args.storage.glob("*/*.json"), key=lambda p: p.name)
    if len(runs) < 2:
        print("score comparison: fewer than two saved runs, nothing to compare")
        return 0
    old, new = scores(runs[-2]), scores(runs[-1])
    worse = []
    for name, score in sorted(new.items()):
        if name in old and old[name] > 0:
            change = (score - old[name]) / old[name]
            print(f"{name}: score {old[name]:,.1f} -> {score:,.1f} ({change:+.1%})")
            if change > args.limit:
                worse.append(name)
    if worse:
        print(f"score regression over {args.limit:.0%}: {', '.join(worse)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
