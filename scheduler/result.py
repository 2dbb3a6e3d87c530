"""What a solve returns: the plan and honest figures about it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scheduler.domain import Plan
from scheduler.evaluate import Evaluation


@dataclass(frozen=True)
class Result:
    """Outcome of :func:`scheduler.solve`.

    ``status`` is ``"optimal"`` when the score meets the bound (within
    rounding), ``"feasible"`` when the solver finished its search without
    proving that, and ``"time_limit"`` when it stopped on the clock.
    ``bound`` is a valid lower bound on every valid plan's score; ``gap`` is
    ``(score - bound) / bound``.
    """

    solver: str
    status: str
    plan: Plan
    score: float
    bound: float | None
    bound_method: str | None
    evaluation: Evaluation
    timings: dict[str, float] = field(default_factory=dict)
    seed: int = 0
    log: tuple[dict[str, float], ...] = ()
    #: the same call with the same seed gives this plan again (greedy; the
    #: optimiser with one worker, stopped by its work budget)
    repeatable: bool = False

    @property
    def gap(self) -> float | None:
        if self.bound is None:
            return None
        if self.bound <= 0:
            return 0.0 if self.score <= 0 else float("inf")
        return max(0.0, (self.score - self.bound) / self.bound)

    @property
    def runtime(self) -> float:
        return sum(self.timings.values())

    def is_feasible(self) -> bool:
        return self.evaluation.valid

    def to_dict(self) -> dict[str, Any]:
        return {
            "solver": self.solver,
            "status": self.status,
            "score": self.score,
            "bound": self.bound,
            "bound_method": self.bound_method,
            "gap": self.gap,
            "seed": self.seed,
            "repeatable": self.repeatable,
            "timings": dict(self.timings),
            "runtime": self.runtime,
            "evaluation": self.evaluation.to_dict(),
        }
