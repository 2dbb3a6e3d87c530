"""One benchmark case in its own process: ``python -m benchmarks.run_one PRESET``.

Prints one JSON line with times per phase, the plan's figures and the peak
resident memory of the process (OR-Tools' native memory included), so that
a case that crashes or runs out of memory cannot take a whole study down.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from dataclasses import replace
from typing import Any

import numpy as np

from natsched.bench import machine
from scheduler.domain import Problem
from scheduler.fixturegen import generate
from scheduler.network import Network
from scheduler.solve import solve
from scheduler.solvers.greedy import greedy


def scaled(problem: Problem, n_batches: int, seed: int) -> Problem:
    """``problem`` with ``n_batches`` batches drawn from its own (repeated, renamed).

    Capacity grows with demand, so the instance stays as loaded as the
    original: each lab's throughput (and backlog) is multiplied, and the
    network of labs stays the province's. (Repeating the labs instead would
    grow the batch x lab arrays with the square of the size, which says more
    about the copies than about a province.)
    """
    rng = np.random.default_rng(seed)
    src = problem.batches
    pick = rng.integers(0, len(src), n_batches)
    batches = tuple(replace(src[i], batch_id=f"{src[i].batch_id}#{k}") for k, i in enumerate(pick))
    factor = n_batches / len(src)
    labs = tuple(
        replace(
            lab,
            capacity_per_hour=max(1, round(lab.capacity_per_hour * factor)),
            backlog_tubes=round(lab.backlog_tubes * factor),
        )
        for lab in problem.labs
    )
    return replace(problem, batches=batches, labs=labs)


def peak_rss_mb() -> float:
    # ru_maxrss is KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_rss_children_mb() -> float:
    """Largest peak of the child processes waited for (the background exact flow).

    A forked child shares the parent's pages until either writes them, so the
    sum of both peaks overstates what the two used together.
    """
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def run_case(
    preset: str, *, time_limit: float, seed: int = 0, batches: int | None = None
) -> dict[str, Any]:
    t0 = time.perf_counter()
    problem = generate(preset, seed if seed else None).problem
    if batches is not None:
        problem = scaled(problem, batches, seed)
    t_gen = time.perf_counter() - t0
    t0 = time.perf_counter()
    net = Network.build(problem)
    g = greedy(net)
    greedy_score = g.cost(net)
    t_greedy = time.perf_counter() - t0
    first: list[float] = []
    start = time.perf_counter()
    res = solve(
        problem,
        time_limit=time_limit,
        seed=seed,
        progress=lambda e: first.append(time.perf_counter() - start) if not first else None,
    )
    t_solve = time.perf_counter() - start
    ev = res.evaluation
    bound = res.bound or 0.0
    closed = (greedy_score - res.score) / (greedy_score - bound) if greedy_score > bound else 1.0
    return {
        "preset": preset,
        "seed": seed,
        "time_limit": time_limit,
        "batches": len(problem.batches),
        "labs": len(problem.labs),
        "tubes": problem.total_tubes,
        "valid": ev.valid,
        "score": res.score,
        "greedy": greedy_score,
        "bound": res.bound,
        "bound_method": res.bound_method,
        "gap": res.gap,
        "improvement_over_greedy": (greedy_score - res.score) / greedy_score if greedy_score else 0,
        "closed": closed,
        "status": res.status,
        "on_time": {
            p: (k.tubes_on_time / k.tubes if k.tubes else None) for p, k in ev.per_priority.items()
        },
        "seconds": {
            "generate": t_gen,
            "greedy": t_greedy,
            "solve": t_solve,
            "first_plan": first[0] if first else t_solve,
            **res.timings,
        },
        "peak_rss_mb": peak_rss_mb(),
        "peak_rss_children_mb": peak_rss_children_mb(),
        "machine": machine(),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("preset")
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batches", type=int, help="resample to this many batches (scaling study)")
    args = ap.parse_args(argv)
    out = run_case(args.preset, time_limit=args.time_limit, seed=args.seed, batches=args.batches)
    print(json.dumps(out))
    return 0 if out["valid"] else 1


if __name__ == "__main__":
    sys.exit(main())
