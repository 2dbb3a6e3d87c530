"""choose_strategy: every branch from facts alone, no instance and no patching."""

from __future__ import annotations

from dataclasses import replace

import pytest

from scheduler.solvers.strategy import (
    Background,
    Bounding,
    Facts,
    Finish,
    Name,
    OptParams,
    Start,
    choose_strategy,
)

PARAMS = OptParams()
LARGE = PARAMS.large_network_arcs + 1
ALL_STARTS = (
    Start.LEAST_SLACK,
    Start.DEADLINE,
    Start.FLOW_ORDER,
    Start.FLOW_THEN_WEIGHT,
    Start.ROUNDED_FLOW,
)
# a city-sized instance with all cores and a minute: the SPEC flow here
SMALL = Facts(
    spec_arcs=2_000_000,
    n_batches=5_000,
    late_share=0.02,
    stable=False,
    workers=0,
    can_fork=True,
    time_limit=60.0,
    time_left=58.0,
    chain_flow_seconds=8.0,
    round_seconds=3.6,
    guide_seconds=(),
    fits_cpsat=False,
)
# a province-sized one: the guiding flow over 64 labs is forecast at 40 s, over 48 at 25 s
PROVINCE = replace(
    SMALL,
    spec_arcs=8_100_000,
    n_batches=38_000,
    chain_flow_seconds=32.0,
    round_seconds=10.9,
    guide_seconds=((64, 40.0), (48, 25.0), (32, 18.0), (24, 14.0)),
)

CASES = {
    "small, all cores": (SMALL, {"name": Name.SPEC_FLOW_HERE, "bound_rounds": 8}),
    "small, CP-SAT fits": (
        replace(SMALL, fits_cpsat=True),
        {"name": Name.SPEC_FLOW_HERE, "finish": Finish.CPSAT},
    ),
    "small, one worker: rounds by forecast": (
        replace(SMALL, workers=1),
        # 0.3 * 58 s // 3.6 s = 4 rounds, not on the clock
        {"name": Name.SINGLE_CORE, "bound_rounds": 4, "bound_timed": False},
    ),
    "one worker, no usable arc: one round": (
        replace(SMALL, workers=1, round_seconds=0.0, time_left=0.0),
        {"name": Name.SINGLE_CORE, "bound_rounds": 1},
    ),
    "one worker, plenty of time: at most the rounds allowed": (
        replace(SMALL, workers=1, time_left=3600.0),
        {"bound_rounds": PARAMS.max_bound_rounds},
    ),
    "many batches: the starts that usually win": (
        replace(SMALL, n_batches=PARAMS.many_batches + 1),
        {"starts": (Start.LEAST_SLACK, Start.ROUNDED_FLOW)},
    ),
    "stable warm start": (
        replace(SMALL, stable=True),
        {"name": Name.STABLE, "starts": (), "finish": Finish.NONE},
    ),
    "province: nearest labs guide": (
        PROVINCE,
        # 0.45 * 58 s = 26.1 s: 48 labs fit, 64 do not
        {
            "name": Name.GUIDED_BY_NEAREST_LABS,
            "guide_labs": 48,
            "background": Background.BOUND,
            "bounding": Bounding.LABS_POOLED,
            "bound_rounds": 1,
            "starts": (),
        },
    ),
    "province, shorter limit: the exact flow guides from the other core": (
        replace(PROVINCE, time_limit=40.0, time_left=28.0),
        # 0.45 * 28 s = 12.6 s: no guiding flow fits; one round guides meanwhile
        {
            "name": Name.EXACT_FLOW_IN_BACKGROUND,
            "guide_labs": 0,
            "background": Background.GUIDE,
            "bounding": Bounding.SPEC_FLOW,
            "bound_rounds": 1,
            "starts": ALL_STARTS[:1] + ALL_STARTS[4:],
        },
    ),
    "province, short limit: pooled bound, greedy orders": (
        replace(PROVINCE, time_limit=20.0, time_left=15.0),
        # the exact flow (32 s) cannot return; a restricted round (10.9 s) is over half of 15 s
        {
            "name": Name.QUICK_POOLED,
            "background": Background.NONE,
            "bounding": Bounding.LABS_POOLED_BY_PLACE,
            "starts": (Start.ROUNDED_FLOW,),
            "bound_rounds": 8,
        },
    ),
    "province, overloaded": (
        replace(PROVINCE, late_share=0.3),
        {
            "name": Name.OVERLOAD,
            "background": Background.BOUND,
            "bounding": Bounding.LABS_POOLED_BY_PLACE,
            "guide_labs": 0,
            "starts": (Start.WEIGHT_FIRST,),
        },
    ),
    "overloaded but small: not overload mode": (
        replace(SMALL, late_share=0.3),
        {"name": Name.SPEC_FLOW_HERE, "starts": ALL_STARTS},
    ),
    "province, stable: the exact flow only bounds": (
        replace(PROVINCE, stable=True),
        {"name": Name.STABLE, "background": Background.BOUND, "guide_labs": 0, "starts": ()},
    ),
    "province, no fork: column generation here": (
        replace(PROVINCE, can_fork=False),
        {"name": Name.SPEC_FLOW_HERE, "background": Background.NONE, "bound_rounds": 8},
    ),
    "province, one worker: nothing beside the search": (
        replace(PROVINCE, workers=1),
        {
            "name": Name.SINGLE_CORE,
            "background": Background.NONE,
            "strong_beside": False,
            "bound_rounds": 1,  # 0.3 * 58 // 10.9
        },
    ),
    "province, one worker, overloaded": (
        replace(PROVINCE, workers=1, late_share=0.3),
        {"name": Name.OVERLOAD, "background": Background.NONE, "strong_beside": False},
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_choose_strategy(case):
    facts, expected = CASES[case]
    strategy = choose_strategy(facts, PARAMS)
    got = {key: getattr(strategy, key) for key in expected}
    assert got == expected
    # the same facts, the same strategy
    assert choose_strategy(facts, PARAMS) == strategy


def test_parameters_move_the_choice():
    # a lower overload share makes the province overloaded; fewer guide choices guide less
    assert choose_strategy(PROVINCE, replace(PARAMS, overload_late_share=0.01)).name is (
        Name.OVERLOAD
    )
    only_64 = replace(PARAMS, guide_lab_choices=(64,))
    facts = replace(PROVINCE, guide_seconds=PROVINCE.guide_seconds[:1])
    assert choose_strategy(facts, only_64).name is Name.EXACT_FLOW_IN_BACKGROUND
    wider = replace(PARAMS, guide_share=0.9)  # 0.9 * 58 s: the 64-lab flow fits
    assert choose_strategy(PROVINCE, wider).guide_labs == 64
