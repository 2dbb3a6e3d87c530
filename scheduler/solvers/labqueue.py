"""One lab's queue: batches in a processing order, filled into free capacity.

Given the batches sent to a lab and an order, each batch in turn takes the
earliest capacity left at or after its arrival. A batch's cost depends only on
its last slot, so the order is the only decision left once labs are chosen.
Plain Python lists: a lab holds tens of batches and 24-96 slots, where list
arithmetic beats numpy's per-call overhead. Local search prices hundreds of
thousands of queue changes, so its pricing (:func:`price_kernel`) is the same fill
compiled with numba; :func:`fill_queue` stays the plain reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from scheduler.network import Network


@dataclass
class LabData:
    """Per-lab constants the queue needs, extracted once from the network."""

    cap: list[int]  # capacity left after backlog, per slot
    result_base: list[float]  # result time (s) of a batch whose last slot is t


class CostModel:
    """Per-batch cost as a function of (lab, last slot), in plain floats."""

    def __init__(self, net: Network) -> None:
        self.net = net
        self.n_slots = net.n_slots
        self.slot_s = net.slot_s
        #: work done pricing and refilling queues, in WORK_* units (deterministic)
        self.work = 0
        self.tubes = net.tubes.tolist()
        self.weight = net.weight.tolist()
        self.collected = net.collected_s.tolist()
        self.deadline = net.deadline_s.tolist()
        self.late_factor = net.late_factor
        self.run = net.run_s.tolist()
        self.arrival_slot = net.arrival_slot
        self.unassigned = (
            net.tubes * net.cost_per_tube(np.arange(net.n_batches), net.unassigned_result_s)
        ).tolist()
        self.labs = [
            LabData(
                cap=net.cap_left[lab].tolist(),
                result_base=[
                    float((t + 1) * net.slot_s + self.run[lab]) for t in range(self.n_slots)
                ],
            )
            for lab in range(net.n_labs)
        ]

    def cost(self, b: int, lab: int, last_slot: int) -> float:
        """SPEC cost of batch ``b`` finishing in ``last_slot`` at ``lab``."""
        if last_slot >= self.n_slots:
            return float(self.unassigned[b])
        r = (last_slot + 1) * self.slot_s + self.run[lab]
        late = r - self.deadline[b]
        v = r - self.collected[b]
        if late > 0:
            v += self.late_factor * late
        return self.weight[b] * self.tubes[b] * v / 3600.0


#: what :func:`price_kernel` returns for the last slot when it stopped early
PRUNED = -2

#: positions between the saved states of a queue's fill (see ``fill_queue``'s ``record``)
SNAPSHOT_EVERY = 8

# Work units (about nanoseconds here) that ``CostModel.work`` counts: a
# priced move costs a call and its queue entries, a refill its Python loop
# over the queue. They make time a deterministic quantity (``WorkClock``).
WORK_PRICE_CALL = 4_000
WORK_PRICE_ENTRY = 15
WORK_REFILL_CALL = 20_000
WORK_REFILL_ENTRY = 1_500


def fill_queue(
    cap: list[int],
    order: list[int],
    arrival: list[int],
    tubes: list[int],
    n_slots: int,
    first_free: int = 0,
    record: list[tuple[list[int], int]] | None = None,
) -> list[int]:
    """Last slot of each batch in ``order`` (``n_slots`` when it does not fit).

    ``arrival[i]`` and ``tubes[i]`` belong to ``order[i]``. Batches that do not
    fit take nothing, so the ones after them are unaffected. ``cap`` is the
    free capacity to start from (not changed) and ``first_free`` a slot before
    which it is all zero. With ``record``, the state before every
    ``SNAPSHOT_EVERY``-th batch is appended to it, so a queue that shares a
    prefix with this one can be filled from there.
    """
    free = list(cap)
    out: list[int] = []
    # First slot that may still hold capacity: skipping exhausted prefixes keeps
    # a long queue linear rather than quadratic in the slots.
    for i in range(len(order)):
        if record is not None and i % SNAPSHOT_EVERY == 0:
            record.append((list(free), first_free))
        need = tubes[i]
        t = arrival[i]
        if t < first_free:
            t = first_free
        avail = 0
        end = t
        while end < n_slots and avail < need:
            avail += free[end]
            end += 1
        if avail < need:
            out.append(n_slots)
            continue
        last = end - 1
        while t <= last:
            take = free[t] if free[t] < need else need
            free[t] -= take
            need -= take
            t += 1
        out.append(last)
        while first_free < n_slots and free[first_free] == 0:
            first_free += 1
    return out


def fill_chunks(
    cap: list[int], order: list[int], arrival: list[int], tubes: list[int]
) -> list[tuple[int, int, int]]:
    """The ``(batch, slot, tubes)`` chunks of :func:`fill_queue` (fitting batches only)."""
    free = list(cap)
    chunks: list[tuple[int, int, int]] = []
    for i, b in enumerate(order):
        need = tubes[i]
        t = arrival[i]
        if sum(free[t:]) < need:
            continue
        while need:
            if free[t]:
                take = min(free[t], need)
                free[t] -= take
                need -= take
                chunks.append((b, t, take))
            t += 1
    return chunks


@numba.njit(cache=True, nogil=True)
def price_kernel(  # pragma: no cover - compiled; checked against fill_queue in tests
    free0: np.ndarray,
    first_free: int,
    queue: np.ndarray,
    start: int,
    remove_at: int,
    insert_batch: int,
    insert_at: int,
    lab: int,
    arrival: np.ndarray,
    tubes: np.ndarray,
    result_base: np.ndarray,
    weight: np.ndarray,
    deadline: np.ndarray,
    collected: np.ndarray,
    late_factor: float,
    unassigned: np.ndarray,
    total: float,
    suffix: np.ndarray,
    limit: float,
) -> tuple[float, int]:
    """:func:`fill_queue` of a lab's queue changed by one move, with its SPEC cost.

    The queue is ``queue`` without the batch at ``remove_at`` (-1: none), then
    with ``insert_batch`` put at ``insert_at`` of what is left (-1: none), so
    the moves of local search need no new list. Filling starts at position
    ``start`` of the changed queue from the state ``free0``/``first_free`` with
    ``total`` already counted; costs are summed in queue order like
    :meth:`CostModel.cost`, so results are bit-identical. Returns the cost and
    the inserted batch's last slot (``n_slots``: it does not fit; -1: none).

    A pure insertion only delays the batches after it (they find less
    capacity), so ``suffix[i]``, the unchanged queue's cost from position
    ``i`` on, plus the cost so far bounds the result from below; once that
    reaches ``limit`` the fill stops and returns it with ``PRUNED``. A batch
    that stops fitting frees capacity for later ones, which ends the argument.
    """
    n_slots = free0.shape[0]
    free = free0.copy()
    n = queue.shape[0]
    if remove_at >= 0:
        n -= 1
    if insert_at >= 0:
        n += 1
    inserted_last = -1
    prune = remove_at < 0 and insert_at >= 0
    for v in range(start, n):
        if insert_at >= 0 and v == insert_at:
            b = insert_batch
        else:
            i = v - 1 if insert_at >= 0 and v > insert_at else v
            if remove_at >= 0 and i >= remove_at:
                i += 1
            b = queue[i]
        need = tubes[b]
        t = arrival[b, lab]
        if t < first_free:
            t = first_free
        avail = 0
        end = t
        while end < n_slots and avail < need:
            avail += free[end]
            end += 1
        if avail < need:
            total += unassigned[b]
            if v == insert_at:
                inserted_last = n_slots
            prune = False
            continue
        last = end - 1
        while t <= last:
            take = free[t] if free[t] < need else need
            free[t] -= take
            need -= take
            t += 1
        if v == insert_at:
            inserted_last = last
        while first_free < n_slots and free[first_free] == 0:
            first_free += 1
        r = result_base[last]
        late = r - deadline[b]
        c = r - collected[b]
        if late > 0:
            c += late_factor * late
        total += weight[b] * tubes[b] * c / 3600.0
        if prune and v >= insert_at and total + suffix[v] > limit:
            return total + suffix[v], PRUNED
    return total, inserted_last
