"""Composable stopping rules, called with the incumbent cost; True means stop.

A wall clock (:class:`MaxRuntime`) stops a search wherever it finds it, so
two runs differ; a :class:`WorkClock` measures time by the work done and
stops a seeded single-core search at the same point on every run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol


class StoppingCriterion(Protocol):
    def __call__(self, best_cost: float) -> bool: ...


class MaxRuntime:
    def __init__(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("seconds must be >= 0")
        self.seconds = seconds
        self.start = time.perf_counter()

    def __call__(self, best_cost: float) -> bool:
        return time.perf_counter() - self.start >= self.seconds

    @property
    def remaining(self) -> float:
        return max(0.0, self.seconds - (time.perf_counter() - self.start))

    @property
    def wall_remaining(self) -> float:
        return self.remaining

    @property
    def expired(self) -> bool:
        return self.remaining <= 0

    def charge(self, what: str, seconds: float) -> None:
        """A forecast of a step's time: the wall clock measured it already."""


class WorkClock(MaxRuntime):
    """Seconds as the work done measures them, with the wall clock as a backstop.

    ``work()`` counts the search's work so far (a deterministic count);
    ``per_second`` converts it to seconds of a reference machine, and
    :meth:`charge` adds the forecast seconds of steps that count no work
    (flows, constructions; :attr:`charges` keeps them by step). Decisions
    taken on :attr:`remaining` are then the same on every run. The wall clock
    (``wall_seconds``) still stops the search if this machine is slower than
    the reference; :attr:`wall_stopped` then says that the run may not repeat.
    """

    def __init__(
        self,
        seconds: float,
        work: Callable[[], float],
        per_second: float,
        wall_seconds: float | None = None,
    ) -> None:
        super().__init__(seconds)
        self.work = work
        self.per_second = per_second
        self.wall = MaxRuntime(seconds if wall_seconds is None else wall_seconds)
        self.charges: dict[str, float] = {}
        self.wall_stopped = False

    def charge(self, what: str, seconds: float) -> None:
        self.charges[what] = self.charges.get(what, 0.0) + max(0.0, seconds)

    @property
    def elapsed(self) -> float:
        return sum(self.charges.values()) + self.work() / self.per_second

    def __call__(self, best_cost: float) -> bool:
        if self.elapsed >= self.seconds:
            return True
        if self.wall(best_cost):
            self.wall_stopped = True
            return True
        return False

    @property
    def remaining(self) -> float:
        return max(0.0, self.seconds - self.elapsed)

    @property
    def wall_remaining(self) -> float:
        return self.wall.remaining

    @property
    def expired(self) -> bool:
        return self.remaining <= 0 or self.wall_stopped


class MaxIterations:
    def __init__(self, iterations: int) -> None:
        if iterations < 0:
            raise ValueError("iterations must be >= 0")
        self.iterations = iterations
        self.count = 0

    def __call__(self, best_cost: float) -> bool:
        self.count += 1
        return self.count > self.iterations


class MultipleCriteria:
    """Stops when any of its criteria does."""

    def __init__(self, criteria: list[StoppingCriterion]) -> None:
        self.criteria = criteria

    def __call__(self, best_cost: float) -> bool:
        # evaluate all so that each keeps its own count
        return any([c(best_cost) for c in self.criteria])


class TargetGap:
    """Stops once the incumbent is within ``gap`` (relative) of a proven bound."""

    def __init__(self, bound: float, gap: float) -> None:
        self.bound = bound
        self.gap = gap

    def __call__(self, best_cost: float) -> bool:
        if self.bound <= 0:
            return best_cost <= 0
        return (best_cost - self.bound) / self.bound <= self.gap
