"""The exact SPEC bound on the other core: the chain flow over the full network, forked.

On the province and surge presets it takes most of a minute. OR-Tools holds
the GIL while it solves a flow, so a thread would stall the search; a
process uses the second core instead.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from typing import Any

from scheduler.network import IntArray, Network
from scheduler.solvers.bounds import EXACT_CHAIN_METHOD, Bound
from scheduler.solvers.flow import Flow, chain_flow

log = logging.getLogger(__name__)


def _background_bounds(
    net: Network, finish: IntArray, conn: Any, decompose: bool
) -> None:  # pragma: no cover - runs in the child
    """Child process body of :class:`BackgroundBound`."""
    try:
        flow = chain_flow(net, finish, potentials=False, decompose=decompose)
        conn.send((flow.optimum, EXACT_CHAIN_METHOD, True, flow if decompose else None))
    except Exception:  # any failure just means no better bound
        pass
    finally:
        conn.close()


class BackgroundBound:
    """The exact SPEC bound over the full network on chains, in a forked process.

    It takes most of a minute on the surge and province presets. OR-Tools
    holds the GIL while it solves a flow, so a thread would stall the search;
    a process uses the second core instead. With ``decompose`` the optimal
    flow comes back too (:attr:`flow`), to guide plans. :meth:`ready` tells
    without blocking whether it has arrived; :meth:`result` waits at most
    ``timeout`` seconds for it, then stops the process (the protocol allows
    several ever better bounds, the last one final). Where a process cannot
    be forked (no ``fork``, or inside a daemon process) nothing starts and
    :meth:`result` returns None.
    """

    def __init__(self, net: Network, finish: IntArray, *, decompose: bool = False) -> None:
        self._proc: Any = None
        self._conn: Any = None
        self._best: Bound | None = None
        self._done = False
        #: the optimal flow of the full network, once received (with ``decompose``)
        self.flow: Flow | None = None
        self._started = time.perf_counter()
        try:
            ctx = multiprocessing.get_context("fork")
            recv, send = ctx.Pipe(duplex=False)
            proc = ctx.Process(
                target=_background_bounds, args=(net, finish, send, decompose), daemon=True
            )
            proc.start()
        except (ValueError, AssertionError, OSError) as exc:
            log.info("no bound in the background: %s", exc)
            return
        send.close()
        self._proc, self._conn = proc, recv

    def _receive(self, timeout: float) -> None:
        """Take what the child sent within ``timeout`` seconds."""
        end = time.perf_counter() + max(0.0, timeout)
        try:
            while not self._done and self._conn.poll(max(0.0, end - time.perf_counter())):
                value, method, final, flow = self._conn.recv()
                if self._best is None or value > self._best.value:
                    self._best = Bound(
                        value=float(value),
                        method=str(method),
                        exact=bool(final),
                        arcs=flow.size if flow is not None else 0,
                        seconds=time.perf_counter() - self._started,
                    )
                if flow is not None:
                    self.flow = flow
                self._done = bool(final)
        except (EOFError, OSError):
            self._done = True

    def ready(self) -> bool:
        """Whether the final result has arrived (never blocks)."""
        if self._proc is None:
            return False
        self._receive(0.0)
        return self._done

    @property
    def started(self) -> bool:
        return self._proc is not None

    def result(self, timeout: float) -> Bound | None:
        """The best bound received within ``timeout`` seconds; the process is then stopped."""
        if self._proc is None:
            return self._best
        try:
            self._receive(timeout)
        finally:
            if self._proc.is_alive():
                self._proc.terminate()
            self._proc.join(5)
            self._conn.close()
            self._proc = None
        return self._best
