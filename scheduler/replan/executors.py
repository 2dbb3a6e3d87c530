"""Where solves run. In-process now; a distributed executor can replace it
without touching the re-planning logic, which only sees this interface."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from scheduler.domain import Plan, Problem
from scheduler.result import Result


@dataclass(frozen=True)
class SolveRequest:
    problem: Problem
    time_limit: float
    seed: int
    initial_plan: Plan | None = None
    move_penalty: float = 0.0
    workers: int = 0


class Executor(Protocol):
    def solve(self, request: SolveRequest) -> Result: ...


class InProcessExecutor:
    """Runs :func:`scheduler.solve` in the calling process."""

    def solve(self, request: SolveRequest) -> Result:
        from scheduler.solve import solve

        return solve(
            request.problem,
            time_limit=request.time_limit,
            seed=request.seed,
            initial_plan=request.initial_plan,
            move_penalty=request.move_penalty,
            workers=request.workers,
        )


def _solve_in_child(request: SolveRequest) -> Result:
    # module level, so a spawned process can unpickle it by name
    return InProcessExecutor().solve(request)


class ParallelExecutor:
    """Runs several solves at once, each in its own spawned process.

    ``spawn`` rather than fork: the caller may hold threads (the web app, a
    worker) and a forked copy of a threaded process can deadlock. With
    ``workers=1`` in each request the solves are repeatable, so running them
    here or one after another in-process gives the same results.
    ``jobs`` is the number of processes (0: one per core); with 1, or one
    request, everything runs in the calling process.
    """

    def __init__(self, jobs: int = 0) -> None:
        import os

        self.jobs = jobs if jobs > 0 else max(1, os.cpu_count() or 1)

    def solve(self, request: SolveRequest) -> Result:
        return self.solve_many([request])[0]

    def solve_many(self, requests: Sequence[SolveRequest]) -> list[Result]:
        """The results of ``requests``, in their order."""
        if self.jobs == 1 or len(requests) <= 1:
            return [InProcessExecutor().solve(r) for r in requests]
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(self.jobs, len(requests)), mp_context=ctx) as ex:
            return list(ex.map(_solve_in_child, requests))
