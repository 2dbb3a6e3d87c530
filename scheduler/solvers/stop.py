"""Composable stopping rules, called with the incumbent cost; True means stop.

Tests stop on iterations (deterministic); the CLI stops on runtime.
"""

from __future__ import annotations

import time
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


class MaxIterations:
    def __init__(self, iterations: int) -> None:
        if iterations < 0:
            raise ValueError("iterations must be >= 0")
        self.iterations = iterations
        self.count = 0

    def __call__(self, best_cost: float) -> bool:
        self.count += 1
        return self.count > self.iterations


class NoImprovement:
    """Stops after ``iterations`` calls without a strictly better cost."""

    def __init__(self, iterations: int) -> None:
        self.iterations = iterations
        self.best = float("inf")
        self.since = 0

    def __call__(self, best_cost: float) -> bool:
        if best_cost < self.best:
            self.best, self.since = best_cost, 0
        else:
            self.since += 1
        return self.since > self.iterations


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
