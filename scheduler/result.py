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
    ``(score - bound) / bound``. ``bound`` is always SPEC §3's bound (or a
    weaker valid one, see ``bound_method``); ``bound_strong`` is a stronger
    valid bound beside it (each batch whole at one lab, charged at its last
    slot), never below ``bound``, and ``gap_strong`` the gap to it.
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
    bound_strong: float | None = None
    bound_strong_method: str | None = None

    @property
    def gap(self) -> float | None:
        return _gap(self.score, self.bound)

    @property
    def gap_strong(self) -> float | None:
        return _gap(self.score, self.bound_strong)

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
            "bound_strong": self.bound_strong,
            "bound_strong_method": self.bound_strong_method,
            "gap_strong": self.gap_strong,
            "seed": self.seed,
            "repeatable": self.repeatable,
            "timings": dict(self.timings),
            "runtime": self.runtime,
            "evaluation": self.evaluation.to_dict(),
        }


def _gap(score: float, bound: float | None) -> float | None:
    """``(score - bound) / bound``, 0 at a zero bound met, inf at one not met."""
    if bound is None:
        return None
    if bound <= 0:
        return 0.0 if score <= 0 else float("inf")
    return max(0.0, (score - bound) / bound)
