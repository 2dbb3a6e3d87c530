"""Speed tier: each preset's generation, bound, greedy and optimiser, timed and checked.

Results are checked as well as timed: every plan is valid and
bound <= optimiser <= greedy. Figures go to ``benchmark.extra_info`` so that
saved runs (``--benchmark-autosave``) compare score as well as time.
"""

from __future__ import annotations

import pytest

from benchmarks.run_one import peak_rss_mb
from scheduler.fixturegen import generate
from scheduler.network import Network
from scheduler.solve import solve
from scheduler.solvers.bounds import lower_bound
from scheduler.solvers.greedy import greedy


def _check_and_record(benchmark, problem, res, greedy_score: float) -> None:
    assert res.evaluation.valid
    assert res.bound is not None and res.bound <= res.score + 1e-6
    assert res.score <= greedy_score + 1e-6
    ev = res.evaluation
    benchmark.extra_info.update(
        {
            "score": res.score,
            "bound": res.bound,
            "bound_method": res.bound_method,
            "gap": res.gap,
            "greedy": greedy_score,
            "improvement_over_greedy": (greedy_score - res.score) / greedy_score,
            "on_time": {
                p: (k.tubes_on_time / k.tubes if k.tubes else None)
                for p, k in ev.per_priority.items()
            },
            "batches": len(problem.batches),
            "labs": len(problem.labs),
            "peak_rss_mb": peak_rss_mb(),
            "timings": res.timings,
        }
    )


def test_smoke(benchmark):
    """A tiny run of the whole pipeline on every `make test`, so the tiers cannot rot."""
    problem = generate("county").problem
    net = Network.build(problem)
    g = greedy(net).cost(net)
    res = benchmark.pedantic(
        solve, args=(problem,), kwargs={"time_limit": 2.0, "seed": 1}, rounds=1, iterations=1
    )
    _check_and_record(benchmark, problem, res, g)


@pytest.fixture(scope="module")
def instances() -> dict:
    return {}


def _problem(instances: dict, preset: str):
    if preset not in instances:
        instances[preset] = generate(preset).problem
    return instances[preset]


@pytest.mark.bench
def test_speed(benchmark, bench_time_limit, preset, instances):
    """The optimiser on one preset, timed, with its figures in extra_info."""
    problem = _problem(instances, preset)
    net = Network.build(problem)
    g = greedy(net).cost(net)
    res = benchmark.pedantic(
        solve,
        args=(problem,),
        kwargs={"time_limit": bench_time_limit, "seed": 1},
        rounds=1,
        iterations=1,
    )
    _check_and_record(benchmark, problem, res, g)


@pytest.mark.bench
@pytest.mark.parametrize("phase", ["generate", "greedy", "bound"])
def test_phase(benchmark, phase, preset, instances):
    """Generation, greedy and the bound alone, per preset."""
    if phase == "generate":
        fx = benchmark.pedantic(generate, args=(preset,), rounds=1, iterations=1)
        instances[preset] = fx.problem
        benchmark.extra_info["batches"] = len(fx.problem.batches)
    else:
        net = Network.build(_problem(instances, preset))
        if phase == "greedy":
            s = benchmark.pedantic(greedy, args=(net,), rounds=3, iterations=1)
            assert s.is_feasible(net)
            benchmark.extra_info["score"] = s.cost(net)
        else:
            b = benchmark.pedantic(lower_bound, args=(net,), rounds=1, iterations=1)
            benchmark.extra_info.update({"bound": b.value, "method": b.method})
    benchmark.extra_info["peak_rss_mb"] = peak_rss_mb()
