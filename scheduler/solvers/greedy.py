"""The baseline: what a careful coordinator does by hand.

Batches are taken earliest deadline first (heavier priority first on ties);
each goes to the allowed lab that returns its result earliest given what is
already booked, filling that lab's earliest free slots from the batch's
arrival. It is the yardstick the optimiser must beat, so it uses the full
capacity picture rather than a nearest-lab rule.
"""

from __future__ import annotations

import numpy as np

from scheduler.network import IntArray, Network
from scheduler.schedule import UNASSIGNED, Schedule


def edf_order(net: Network) -> IntArray:
    """Earliest deadline, then heavier weight, then earlier ready, then input order."""
    n = net.n_batches
    return np.lexsort((np.arange(n), net.ready_s, -net.weight, net.deadline_s)).astype(np.int64)


def fill_earliest(
    remaining: IntArray, lab: int, start_slot: int, tubes: int
) -> list[tuple[int, int]]:
    """Take ``tubes`` from the lab's earliest free slots at or after ``start_slot``.

    Mutates ``remaining``; the caller has checked that the tubes fit.
    """
    row = remaining[lab]
    out: list[tuple[int, int]] = []
    left = tubes
    for t in np.nonzero(row[start_slot:] > 0)[0] + start_slot:
        take = min(int(row[t]), left)
        row[t] -= take
        out.append((int(t), take))
        left -= take
        if left == 0:
            break
    if left:
        raise AssertionError("fill_earliest called for tubes that do not fit")
    return out


def earliest_finish(net: Network, remaining: IntArray, batch: int, labs: IntArray) -> IntArray:
    """Finishing slot of ``batch`` at each of ``labs`` on ``remaining`` capacity (T if never)."""
    n_t = net.n_slots
    a = net.arrival_slot[batch, labs]
    rows = remaining[labs]
    mask = np.arange(n_t)[None, :] >= a[:, None]
    cum = np.cumsum(np.where(mask, rows, 0), axis=1)
    enough = cum >= net.tubes[batch]
    fin = np.argmax(enough, axis=1)
    return np.where(enough.any(axis=1), fin, n_t).astype(np.int64)


def place(
    net: Network, remaining: IntArray, b: int, lab_of: IntArray, chunks: list[tuple[int, int, int]]
) -> bool:
    """Put batch ``b`` at the allowed lab with the earliest result, in its earliest free slots.

    Ties go to the shorter trip (boxes off the road sooner). Books the tubes in
    ``remaining``, records the lab and chunks; False when no lab can take it whole.
    """
    labs = np.nonzero(net.allowed[b])[0]
    if labs.size == 0:
        return False
    fin = earliest_finish(net, remaining, b, labs)
    feasible = fin < net.n_slots
    if not feasible.any():
        return False
    labs, fin = labs[feasible], fin[feasible]
    result = net.result_s(labs, fin)
    pick = int(np.lexsort((labs, net.travel[net.batch_site[b], labs], result))[0])
    lab = int(labs[pick])
    lab_of[b] = lab
    for t, k in fill_earliest(remaining, lab, int(net.arrival_slot[b, lab]), int(net.tubes[b])):
        chunks.append((b, t, k))
    return True


def greedy(net: Network, order: IntArray | None = None) -> Schedule:
    remaining = net.cap_left.copy()
    lab_of = np.full(net.n_batches, UNASSIGNED, dtype=np.int64)
    chunks: list[tuple[int, int, int]] = []
    for b in edf_order(net) if order is None else order:
        place(net, remaining, int(b), lab_of, chunks)
    return Schedule.from_lists(lab_of, chunks)


def complete(net: Network, schedule: Schedule) -> Schedule:
    """``schedule`` with its unassigned batches placed by the greedy rule on the capacity left.

    A warm start from the published plan lacks the batches that arrived since;
    they are placed before any search, so a short or starved search still
    returns a plan that holds them.
    """
    remaining = net.cap_left - schedule.load(net)
    lab_of = schedule.lab.copy()
    chunks = list(
        zip(
            schedule.chunk_batch.tolist(),
            schedule.chunk_slot.tolist(),
            schedule.chunk_tubes.tolist(),
            strict=True,
        )
    )
    missing = set(np.nonzero(lab_of == UNASSIGNED)[0].tolist())
    if not missing:
        return schedule
    for b in edf_order(net).tolist():
        if b in missing:
            place(net, remaining, int(b), lab_of, chunks)
    return Schedule.from_lists(lab_of, chunks)
