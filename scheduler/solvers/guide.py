"""The guiding flow: the SPEC flow over each batch's best labs, to start plans from.

On large networks the exact flow takes most of a minute; over each batch's
nearest labs the same flow is often as good a guide in half the time. Its
optimum over fewer labs is no bound, so it is a :class:`~scheduler.solvers.flow.Flow`
and never a :class:`~scheduler.solvers.bounds.Bound`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from scheduler.network import BoolArray, IntArray, Network
from scheduler.solvers.flow import Flow, candidate_labs, chain_flow

log = logging.getLogger(__name__)

#: labs per batch tried for the guiding flow, most first
GUIDE_LAB_CHOICES = (64, 48, 32, 24)


@dataclass(frozen=True)
class GuideOptions:
    """Each batch's best-case labs, ranked, to give the guiding flow the best ``K`` of."""

    n_batches: int
    n_labs: int
    pair_batch: IntArray
    pair_lab: IntArray
    rank: IntArray  # of the lab among its batch's best-case labs (0: best)
    #: arcs of the chain flow per pair: one entry arc, one per slot before the earliest finish
    pair_arcs: IntArray

    def arcs(self, k: int) -> int:
        """Arcs of the guiding flow over each batch's best ``k`` labs."""
        return int(self.pair_arcs[self.rank < k].sum())

    def pairs(self, k: int) -> BoolArray:
        """The (batch, lab) pairs (B x L) of each batch's best ``k`` labs."""
        take = self.rank < k
        mask = np.zeros((self.n_batches, self.n_labs), dtype=bool)
        mask[self.pair_batch[take], self.pair_lab[take]] = True
        return mask


def guide_options(net: Network, finish: IntArray, most: int) -> GuideOptions:
    """Up to ``most`` best-case labs per batch, ranked."""
    top = candidate_labs(net, finish, most)
    n_b = net.n_batches
    lens = np.fromiter((len(c) for c in top), dtype=np.int64, count=n_b)
    pb = np.repeat(np.arange(n_b, dtype=np.int64), lens)
    pl = np.fromiter((lab for c in top for lab in c), dtype=np.int64, count=int(lens.sum()))
    rank = np.arange(pb.size, dtype=np.int64) - np.repeat(np.cumsum(lens) - lens, lens)
    per_pair = 1 + finish[pb, pl] - net.arrival_slot[pb, pl]
    return GuideOptions(n_b, net.n_labs, pb, pl, rank, per_pair)


def guide_labs(
    net: Network,
    finish: IntArray,
    seconds: float,
    *,
    arcs_per_second: float,
    choices: tuple[int, ...] = GUIDE_LAB_CHOICES,
) -> BoolArray | None:
    """Each batch's ``K`` best-case labs (B x L), for the largest ``K`` whose flow fits.

    ``K`` is the largest of ``choices`` whose SPEC flow over those pairs
    (:func:`guide_flow`) is forecast, at ``arcs_per_second``, to take at most
    ``seconds``; None when not even the smallest does.
    """
    options = guide_options(net, finish, max(choices))
    for k in sorted(choices, reverse=True):
        if options.arcs(k) / arcs_per_second <= seconds:
            return options.pairs(k)
    return None


def guide_flow(net: Network, finish: IntArray, pairs: BoolArray) -> Flow:
    """The SPEC flow over the (batch, lab) ``pairs`` (:func:`guide_labs`), to guide plans.

    On the province preset the 48 best labs per batch already carry an optimal
    flow of the full network, in half its time (the full one has 8 M arcs),
    and plans searched from it end lower than from a time-expanded restricted
    flow.
    """
    t0 = time.perf_counter()
    flow = chain_flow(net, finish, pairs, potentials=False, decompose=True)
    log.info(
        "guiding flow over up to %d labs per batch: %d arcs, %.1f s",
        int(pairs.sum(axis=1).max(initial=0)),
        flow.size,
        time.perf_counter() - t0,
    )
    return flow
