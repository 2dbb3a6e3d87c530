"""A warm start from an older plan: batches that arrived since are planned at once."""

from __future__ import annotations

from dataclasses import replace

from scheduler.evaluate import evaluate
from scheduler.solve import solve
from tests.support.builders import random_problem


def test_new_batches_are_placed_even_when_the_search_gets_no_time():
    problem = random_problem(3, n_batches=40, n_labs=4)
    older = replace(problem, batches=problem.batches[:20])
    first = solve(older, time_limit=2, seed=0).plan
    # a starved re-plan (a loaded machine): the search stops at once
    res = solve(problem, time_limit=0.0, seed=0, initial_plan=first, move_penalty=100.0)
    assert evaluate(problem, res.plan).valid
    greedy = solve(problem, solver="greedy").plan
    planned = set(res.plan.lab_of())
    assert len(planned) >= len(greedy.lab_of()) - 2, "new batches were left unplanned"
    # what the older plan held stays where it was
    now = res.plan.lab_of()
    assert all(now.get(b) == lab for b, lab in first.lab_of().items())
