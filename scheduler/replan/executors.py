"""Where solves run. In-process now; a distributed executor can replace it
without touching the re-planning logic, which only sees this interface."""

from __future__ import annotations

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
