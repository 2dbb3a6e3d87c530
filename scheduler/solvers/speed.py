"""How fast a machine runs the steps whose time the optimiser forecasts.

Every speed the optimiser uses lives here, with where it was measured. The
*nominal* figures (:data:`NOMINAL`) were measured on the project's
development machine (2 cores, 2026-11; province, surge, city and county
presets). They are the unit of the work clock: a repeatable run
(``workers=1``) charges every step at these figures, never at measured
ones, so a seed gives the same plan on every machine.

A timed run chooses its path by forecasts of *this* machine: :func:`calibrated`
scales the nominal figures by factors a short probe measures (an OR-Tools
flow, a numpy and Python workload, the numba queue kernel; well under 2 s).
The factors are cached on disk per CPU model and library versions, in
``$NATSCHED_CACHE_DIR`` or ``$XDG_CACHE_HOME/natsched`` or
``~/.cache/natsched`` (``speed.json``). A cache that cannot be read or
written is ignored with a log line, never an error.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np

from scheduler.network import IntArray, Network

log = logging.getLogger(__name__)

#: bump when the probe changes: older cached factors are then measured again
PROBE_VERSION = 2
#: measured factors are kept within this range of the nominal machine
FACTOR_RANGE = (0.05, 20.0)


@dataclass(frozen=True)
class Speeds:
    """Rates of the steps the optimiser forecasts (units per second)."""

    #: exact chain flow, arcs solved (province: 8.1 M arcs in 30 s)
    chain_arcs: float = 250_000
    #: chain flow over each batch's best labs (province: 2.0-2.9 M arcs in 14-22 s;
    #: slower per arc than the full network's, whose spare arcs make it easier)
    guide_arcs: float = 130_000
    #: restricted flow of column generation, arcs solved and priced (province: 6 M in 11 s)
    restricted_arcs: float = 550_000
    #: flow arcs solved and priced, as the work clock charges them (province: 5.2 M in 16.5 s)
    flow_arcs: float = 300_000
    #: greedy, batches placed (8e-5 s each) and batch x lab cells scanned
    #: (province: 4.2 s, surge: 3.3 s)
    greedy_batches: float = 12_500
    greedy_cells: float = 10_000_000
    #: building the network, batch x lab cells (province: 21.6 M in 2.6 s)
    network_cells: float = 8_000_000
    #: turning a schedule into a plan and checking it, batches (0.6 s for 25,000,
    #: 1 s for 38,000), after a fixed 0.1 s
    check_batches: float = 25_000
    #: labqueue's work units of local search (6.2-11e8 measured)
    search_work: float = 7.5e8
    #: CP-SAT's deterministic work units with one worker (0.40-0.46 measured;
    #: a margin for busier machines)
    cpsat_work: float = 0.25

    def greedy_seconds(self, net: Network) -> float:
        """One greedy construction."""
        cells = net.n_batches * net.n_labs
        return net.n_batches / self.greedy_batches + cells / self.greedy_cells

    def setup_seconds(self, net: Network) -> float:
        """Building ``net`` and its greedy plan."""
        return net.n_batches * net.n_labs / self.network_cells + self.greedy_seconds(net)

    def check_seconds(self, n_batches: int) -> float:
        """Turning the schedule into a plan and checking it."""
        return 0.1 + n_batches / self.check_batches

    def flow_seconds(self, arcs: int, rounds: int = 1) -> float:
        """``rounds`` flows of ``arcs`` arcs, solved and priced."""
        return rounds * arcs / self.flow_arcs

    def chain_flow_seconds(self, net: Network, finish: IntArray) -> float:
        """A rough forecast of the exact chain flow's time.

        Its arcs are about one per usable (batch, lab) pair plus the slots
        between arrival and earliest finish.
        """
        usable = net.allowed & (finish < net.n_slots)
        waits = np.where(usable, finish - net.arrival_slot, 0).sum()
        return float(usable.sum() + waits) / self.chain_arcs

    def scaled(self, factors: Factors) -> Speeds:
        """These speeds on a machine ``factors`` times as fast."""
        return replace(
            self,
            chain_arcs=self.chain_arcs * factors.flow,
            guide_arcs=self.guide_arcs * factors.flow,
            restricted_arcs=self.restricted_arcs * factors.flow,
            flow_arcs=self.flow_arcs * factors.flow,
            greedy_batches=self.greedy_batches * factors.numpy,
            greedy_cells=self.greedy_cells * factors.numpy,
            network_cells=self.network_cells * factors.numpy,
            check_batches=self.check_batches * factors.numpy,
            search_work=self.search_work * factors.search,
            cpsat_work=self.cpsat_work * factors.search,
        )


#: the development machine's speeds: the work clock's unit
NOMINAL = Speeds()


@dataclass(frozen=True)
class Factors:
    """This machine's speed over the nominal one (2.0: twice as fast), per kind of work."""

    flow: float = 1.0  # OR-Tools' min-cost flow
    numpy: float = 1.0  # numpy arrays and Python loops (network, greedy, check)
    search: float = 1.0  # the numba queue kernel and the search's Python


#: seconds the probe's parts take on the development machine (2 cores, AMD EPYC,
#: 2026-12-08, idle: the least of three best-of-6 runs), where the nominal speeds
#: hold: there the factors are 1 and a timed run forecasts at the nominal speeds
REFERENCE_SECONDS = Factors(flow=0.0253, numpy=0.0292, search=0.0161)
#: load average per core above which a probe counts as measured on a busy machine:
#: its factors are provisional and measured again once the machine is quieter
BUSY_LOAD = 0.5


def _best_of(work: object, repeats: int) -> float:
    assert callable(work)
    work()  # warm up: imports, compiled code loaded from numba's cache
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - t0)
    return best


def _probe_flow() -> None:
    from scheduler.solvers.flow import transport

    rng = np.random.default_rng(7)
    n_b, n_nodes, per = 2_000, 400, 12
    tubes = rng.integers(1, 30, n_b).astype(np.int64)
    arc_batch = np.repeat(np.arange(n_b, dtype=np.int64), per)
    arc_node = rng.integers(0, n_nodes, n_b * per).astype(np.int64)
    arc_cost = rng.integers(1, 500, n_b * per).astype(np.float64)
    cap = np.full(n_nodes, int(tubes.sum()) // n_nodes, dtype=np.int64)
    transport(tubes, np.full(n_b, 2_000.0), arc_batch, arc_node, arc_cost, cap)


def _probe_numpy() -> None:
    rng = np.random.default_rng(7)
    a = rng.integers(0, 1_000, (400, 500))
    b = rng.random((400, 500))
    order = np.lexsort((b.ravel(), a.ravel()))
    acc = np.zeros(1_000)
    np.add.at(acc, a.ravel()[order], b.ravel()[order])
    total = 0.0
    for row in a[:, :50].tolist():  # the Python loops of greedy and the check
        for x in row:
            total += x * 0.5
    np.minimum(a[:, None, :10], a[None, :, :10]).sum()


def _probe_search() -> None:
    from scheduler.solvers.labqueue import fill_queue, price_kernel

    rng = np.random.default_rng(7)
    n_b, n_t = 400, 96
    cap = rng.integers(0, 60, n_t).astype(np.int64)
    arrival = rng.integers(0, n_t // 2, (n_b, 1)).astype(np.int64)
    tubes = rng.integers(1, 40, n_b).astype(np.int64)
    queue = np.argsort(arrival[:, 0], kind="stable").astype(np.int64)
    result_base = (np.arange(n_t, dtype=np.float64) + 1) * 3600.0
    weight = rng.integers(1, 4, n_b).astype(np.float64)
    deadline = rng.integers(0, n_t, n_b).astype(np.float64) * 3600.0
    zeros = np.zeros(n_b)
    suffix = np.zeros(n_b + 1)
    for i in range(n_b * 8):
        i %= n_b
        price_kernel(
            cap, 0, queue, 0, i, int(queue[i]), (i * 7) % n_b, 0, arrival, tubes,
            result_base, weight, deadline, zeros, 10.0, zeros + 1e6, 0.0, suffix, 1e18,
        )  # fmt: skip
    order = queue.tolist()
    for _ in range(40):
        fill_queue(cap.tolist(), order, arrival[order, 0].tolist(), tubes[order].tolist(), n_t)


def probe(repeats: int = 4) -> Factors:
    """This machine's factors over the nominal one, measured now (about 1 s)."""
    lo, hi = FACTOR_RANGE
    measured = Factors(
        flow=_best_of(_probe_flow, repeats),
        numpy=_best_of(_probe_numpy, repeats),
        search=_best_of(_probe_search, repeats),
    )
    ref = asdict(REFERENCE_SECONDS)
    return Factors(
        **{
            f.name: float(np.clip(ref[f.name] / max(getattr(measured, f.name), 1e-9), lo, hi))
            for f in fields(Factors)
        }
    )


def cache_dir() -> Path:
    """Where the measured factors are kept."""
    env = os.environ.get("NATSCHED_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "natsched"


def cpu_model() -> str:
    """The CPU's model name (Linux), else what the platform says."""
    cpu = platform.processor() or platform.machine() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            return next(
                (line.split(":", 1)[1].strip() for line in info if line.startswith("model name")),
                cpu,
            )
    except OSError:
        return cpu


def machine_key() -> str:
    """What the factors depend on: the CPU and the versions of the code that runs."""
    from importlib.metadata import version

    cpu = cpu_model()
    py = ".".join(map(str, sys.version_info[:3]))
    return (
        f"{cpu}|cores {os.cpu_count()}|python {py}|ortools {version('ortools')}"
        f"|numba {version('numba')}|probe {PROBE_VERSION}"
    )


_measured: dict[str, Factors] = {}


def load_per_core() -> float:
    """The last minute's load average per core (0 where the platform has none)."""
    try:
        return os.getloadavg()[0] / max(os.cpu_count() or 1, 1)
    except OSError:
        return 0.0


def _stale(entry: dict[str, object], load: float) -> bool:
    """Measured on a busier machine than this one is now: worth measuring again.

    Other work only slows the probe, so a busy probe underrates the machine,
    and a cache written then would keep timed runs on cautious paths for good.
    """
    then = entry.get("load")
    if not isinstance(then, (int, float)):
        return False
    return then > BUSY_LOAD and load < then / 2


def _faster(old: Factors | None, new: Factors) -> Factors:
    """Per kind of work, the faster of two measurements (load only ever slows one)."""
    if old is None:
        return new
    return Factors(
        **{f.name: max(getattr(old, f.name), getattr(new, f.name)) for f in fields(Factors)}
    )


def _read_cache(path: Path, key: str) -> tuple[dict[str, object], Factors | None]:
    """The cache's entries, and this machine's factors when it holds sound ones."""
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}, None
    except (OSError, ValueError) as exc:
        log.info("speed cache %s ignored: %s", path, exc)
        return {}, None
    if not isinstance(cached, dict):
        log.info("speed cache %s ignored: not a JSON object", path)
        return {}, None
    entry = cached.get(key)
    if entry is None:
        return cached, None
    lo, hi = FACTOR_RANGE
    try:
        factors = Factors(**{f.name: float(entry[f.name]) for f in fields(Factors)})
        if not all(lo <= v <= hi for v in asdict(factors).values()):
            raise ValueError(f"factors outside {FACTOR_RANGE}")
    except (TypeError, KeyError, ValueError) as exc:
        log.info("speed cache %s: entry for this machine ignored: %s", path, exc)
        return cached, None
    return cached, factors


def machine_factors(directory: Path | None = None) -> Factors:
    """This machine's factors: from the cache (``directory`` or :func:`cache_dir`), else probed."""
    key = machine_key()
    if directory is None and key in _measured:
        return _measured[key]
    path = (cache_dir() if directory is None else directory) / "speed.json"
    cached, factors = _read_cache(path, key)
    load = load_per_core()
    entry = cached.get(key)
    if factors is None or (isinstance(entry, dict) and _stale(entry, load)):
        t0 = time.perf_counter()
        measured = probe()
        log.info(
            "speed probe (%.2f s, load %.2f a core): flow x%.2f, numpy x%.2f, search x%.2f "
            "of the nominal machine",
            time.perf_counter() - t0,
            load,
            measured.flow,
            measured.numpy,
            measured.search,
        )
        factors = _faster(factors, measured)
        cached[key] = {**asdict(factors), "load": round(load, 3)}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(cached, indent=1), encoding="utf-8")
            tmp.replace(path)
        except OSError as exc:
            log.info("speed cache %s not written: %s", path, exc)
    if directory is None:
        _measured[key] = factors
    return factors


def calibrated() -> Speeds:
    """The nominal speeds scaled to this machine (probed once, then cached)."""
    return NOMINAL.scaled(machine_factors())
