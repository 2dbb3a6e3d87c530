"""What the optimiser does on an instance: its tunables and the strategy the facts call for.

:class:`OptParams` holds every tunable (as PyVRP's ``SolveParams``); tests
set its fields instead of patching constants. :func:`choose_strategy` is a
pure function of the instance's :class:`Facts` (sizes, load, warm start,
cores, time left and speed forecasts) and returns a named
:class:`Strategy`, which the phases of :mod:`scheduler.solvers.opt` follow.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

from scheduler.solvers.bounds import EXACT_ARC_LIMIT
from scheduler.solvers.guide import GUIDE_LAB_CHOICES
from scheduler.solvers.speed import Speeds


@dataclass(frozen=True)
class OptParams:
    """The optimiser's tunables."""

    #: labs per batch in local search
    candidate_labs: int = 12
    #: stop searching once the plan is this close to the bound (relative)
    gap_target: float = 1e-4
    #: share of greedy's tubes that are late above which a large instance is overloaded
    overload_late_share: float = 0.1
    #: SPEC arcs above which a network is large: its exact flow goes to the other core
    large_network_arcs: int = EXACT_ARC_LIMIT
    #: batches above which only the starts that usually win are built (each costs seconds)
    many_batches: int = 15_000
    #: share of the time left that column generation may start new rounds in
    bound_share: float = 0.3
    #: most rounds of column generation
    max_bound_rounds: int = 8
    #: share of the time left for the guiding flow over the nearest labs
    guide_share: float = 0.45
    #: labs per batch tried for the guiding flow
    guide_lab_choices: tuple[int, ...] = GUIDE_LAB_CHOICES
    #: a round of the restricted flow forecast above this share of the time left
    #: on a large network: the labs-pooled bound instead (OR-Tools cannot stop a flow)
    quick_share: float = 0.5
    #: the rounding re-solves the split batches once more while this share of the limit is left
    second_round_share: float = 0.3
    #: the exact flow may run in a forked process on the other core
    fork: bool = True
    #: with one worker the strong bound runs after the search, in this share of the limit ...
    strong_share: float = 0.05
    #: ... and at most this many seconds
    strong_max_seconds: float = 3.0
    #: share of a greedy run's limit the strong bound may take
    greedy_strong_share: float = 0.1
    #: the strong bound's process stops this long before the search, to be collected in time
    strong_margin: float = 0.3
    #: seconds the strong bound's process is waited for when the search ended early
    strong_wait: float = 1.0
    #: with one worker the wall clock stops a run only after this many times its limit
    #: plus ``wall_backstop_seconds``: a slower machine still finishes the same work
    wall_backstop_factor: float = 3.0
    wall_backstop_seconds: float = 10.0
    #: speeds for the forecasts; None: calibrated on this machine for timed runs
    #: and the nominal ones (the work clock's unit) for repeatable runs
    speeds: Speeds | None = None


class Name(Enum):
    """The strategies, named for what they do."""

    #: warm start with a move penalty: search from it only, no other starts, no ruin
    STABLE = "stable"
    #: many late tubes on a large network: weight-first greedy, labs-pooled bound
    OVERLOAD = "overload"
    #: a flow over each batch's nearest labs guides; the exact one bounds on the other core
    GUIDED_BY_NEAREST_LABS = "guided by nearest labs"
    #: one round of the restricted flow guides until the exact one, from the other core, does
    EXACT_FLOW_IN_BACKGROUND = "exact flow in background"
    #: a short limit on a large network: labs-pooled bound, greedy orders as starts
    QUICK_POOLED = "quick pooled"
    #: one worker: flows and rounds by forecast, the work clock, the strong bound after
    SINGLE_CORE = "single core"
    #: the SPEC flow here (full network or column generation) guides and bounds
    SPEC_FLOW_HERE = "SPEC flow here"


class Background(Enum):
    """What the exact flow on the other core is for."""

    NONE = "none"
    BOUND = "bound"  # its value only
    GUIDE = "guide"  # its value and its flow, searched from when it arrives


class Bounding(Enum):
    """The bound (and flow) solved in the main process."""

    SPEC_FLOW = "SPEC flow"  # full network, or column generation: it also guides
    LABS_POOLED_BY_PLACE = "labs pooled by place"  # grouped_bound, GROUP_SPLITS halvings
    LABS_POOLED = "labs pooled"  # grouped_bound, no halvings: a cheap stand-in


class Start(Enum):
    """Constructions the search may start from (the cheapest is kept)."""

    WEIGHT_FIRST = "weight first"  # greedy: weight, deadline, earliest possible result
    LEAST_SLACK = "least slack"
    DEADLINE = "deadline"
    FLOW_ORDER = "flow order"  # greedy by deadline, then the flow's last slot
    FLOW_THEN_WEIGHT = "flow then weight"
    ROUNDED_FLOW = "rounded flow"  # the flow itself, rounded (when it beats the incumbent)


class Finish(Enum):
    """What takes the time left after local search."""

    NONE = "none"
    CPSAT = "CP-SAT"  # the whole instance as one model: proves small ones optimal
    RUIN_RECREATE = "ruin and recreate"


@dataclass(frozen=True)
class Facts:
    """What the strategy depends on, measured or forecast before the bound."""

    #: arcs of the SPEC flow over the full network
    spec_arcs: int
    n_batches: int
    #: share of greedy's tubes that are late
    late_share: float
    #: a warm start with a move penalty
    stable: bool
    #: cores (0: all; 1: repeatable, on the work clock)
    workers: int
    #: a process can be forked for the exact flow (as far as the parameters know)
    can_fork: bool
    time_limit: float
    time_left: float
    #: forecast seconds of the exact flow on chains
    chain_flow_seconds: float
    #: forecast seconds of one round of the restricted flow
    round_seconds: float
    #: forecast seconds of the guiding flow per labs per batch (empty: not asked)
    guide_seconds: tuple[tuple[int, float], ...]
    #: the whole instance fits one CP-SAT model
    fits_cpsat: bool


@dataclass(frozen=True)
class Strategy:
    name: Name
    background: Background
    bounding: Bounding
    #: labs per batch of the guiding flow (0: none)
    guide_labs: int
    #: most rounds of column generation
    bound_rounds: int
    #: column generation may stop on the clock (not in a repeatable run)
    bound_timed: bool
    starts: tuple[Start, ...]
    finish: Finish
    #: the strong bound runs beside the search (else after it, in time kept from it)
    strong_beside: bool


def choose_strategy(facts: Facts, params: OptParams) -> Strategy:
    """The strategy for ``facts`` (pure: the same facts, the same strategy)."""
    single = facts.workers == 1
    large = facts.spec_arcs > params.large_network_arcs
    overloaded = large and facts.late_share > params.overload_late_share
    # a flow that cannot return in time would only hold memory (7.8 GB at
    # 100,000 batches) and the other core
    background = (
        large and facts.can_fork and not single and facts.chain_flow_seconds < facts.time_limit
    )
    guide = 0
    if background and not overloaded and not facts.stable:
        fits = [k for k, s in facts.guide_seconds if s <= params.guide_share * facts.time_left]
        guide = max(fits, default=0)
    if not background:
        kind = Background.NONE
    elif not overloaded and not facts.stable and guide == 0:
        kind = Background.GUIDE
    else:
        kind = Background.BOUND
    # the restricted flow (which OR-Tools cannot stop) would take the whole limit
    quick = large and not overloaded and facts.round_seconds > params.quick_share * facts.time_left
    if background:
        rounds = 1  # the exact bound is on its way: one round guides until it comes
    elif single:
        # rounds by forecast, not by the clock, so that every run does as many
        # (a network with no usable arc forecasts no time: one round)
        share = params.bound_share * facts.time_left
        rounds = int(np.clip(share // max(facts.round_seconds, 1e-3), 1, params.max_bound_rounds))
    else:
        rounds = params.max_bound_rounds
    if guide:
        bounding = Bounding.LABS_POOLED  # in case the exact flow fails
    elif overloaded or quick:
        bounding = Bounding.LABS_POOLED_BY_PLACE
    else:
        bounding = Bounding.SPEC_FLOW
    starts: tuple[Start, ...] = ()
    if overloaded and not facts.stable:
        # restricted flows are far from the optimum there and do not guide well
        starts = (Start.WEIGHT_FIRST,)
    elif not guide and not facts.stable:
        few = facts.n_batches > params.many_batches
        starts = (
            (() if quick else (Start.LEAST_SLACK,))
            + (() if few else (Start.DEADLINE, Start.FLOW_ORDER, Start.FLOW_THEN_WEIGHT))
            + (Start.ROUNDED_FLOW,)
        )
    if facts.stable:
        finish = Finish.NONE  # both would move batches for any gain, whatever the penalty
    elif facts.fits_cpsat:
        finish = Finish.CPSAT
    else:
        finish = Finish.RUIN_RECREATE
    if facts.stable:
        name = Name.STABLE
    elif overloaded:
        name = Name.OVERLOAD
    elif guide:
        name = Name.GUIDED_BY_NEAREST_LABS
    elif kind is Background.GUIDE:
        name = Name.EXACT_FLOW_IN_BACKGROUND
    elif quick:
        name = Name.QUICK_POOLED
    elif single:
        name = Name.SINGLE_CORE
    else:
        name = Name.SPEC_FLOW_HERE
    return Strategy(
        name=name,
        background=kind,
        bounding=bounding,
        guide_labs=guide,
        bound_rounds=rounds,
        bound_timed=not single,
        starts=starts,
        finish=finish,
        strong_beside=not single,
    )
