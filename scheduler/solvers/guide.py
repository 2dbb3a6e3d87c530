"""The guiding flow: the SPEC flow over each batch's best labs, to start plans from.

On large networks the exact flow takes most of a minute; over each batch's
nearest labs the same flow is often as good a guide in half the time. Its
optimum over fewer labs is no bound, so it is a :class:`~scheduler.solvers.flow.Flow`
and never a :class:`~scheduler.solvers.bounds.Bound`.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from scheduler.network import BoolArray, IntArray, Network
from scheduler.solvers.flow import Flow, candidate_labs, chain_flow

log = logging.getLogger(__name__)

#: labs per batch tried for the guiding flow, most first
GUIDE_LAB_CHOICES = (64, 48, 32, 24)


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
    top = candidate_labs(net, finish, max(choices))
    n_b = net.n_batches
    lens = np.fromiter((len(c) for c in top), dtype=np.int64, count=n_b)
    pb = np.repeat(np.arange(n_b, dtype=np.int64), lens)
    pl = np.fromiter((lab for c in top for lab in c), dtype=np.int64, count=int(lens.sum()))
    rank = np.arange(pb.size, dtype=np.int64) - np.repeat(np.cumsum(lens) - lens, lens)
    # one entry arc per pair and one direct arc per slot before its earliest finish
    per_pair = 1 + finish[pb, pl] - net.arrival_slot[pb, pl]
    for k in sorted(choices, reverse=True):
        take = rank < k
        if per_pair[take].sum() / arcs_per_second <= seconds:
            mask = np.zeros((n_b, net.n_labs), dtype=bool)
            mask[pb[take], pl[take]] = True
            return mask
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
