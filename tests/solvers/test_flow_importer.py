"""Flows apart from bounds: one module talks to OR-Tools' min-cost flow."""

from __future__ import annotations

import re
from pathlib import Path

import scheduler

FLOW_SOLVER = re.compile(r"\bmin_cost_flow\b|\bSimpleMinCostFlow\b")


def test_only_the_flow_module_imports_the_min_cost_flow_solver():
    root = Path(scheduler.__file__).parent
    users = {
        path.relative_to(root).as_posix()
        for path in root.rglob("*.py")
        if any(
            FLOW_SOLVER.search(line) and ("import" in line or "SimpleMinCostFlow(" in line)
            for line in path.read_text(encoding="utf-8").splitlines()
        )
    }
    assert users == {"solvers/flow.py"}


def test_a_guiding_flow_is_not_a_bound():
    from scheduler.solvers.bounds import Bound
    from scheduler.solvers.flow import Flow

    # no value, method or exactness to report: a Flow cannot stand for a Bound
    assert not issubclass(Flow, Bound) and not issubclass(Bound, Flow)
    assert {"value", "method", "exact"}.isdisjoint(Flow.__dataclass_fields__)
