"""Speed forecasts: the nominal figures, this machine's factors and their cache."""

from __future__ import annotations

import json
import logging

import pytest

from scheduler.solvers.speed import (
    FACTOR_RANGE,
    NOMINAL,
    Factors,
    machine_factors,
    machine_key,
)


def test_factors_scale_each_kind_of_work():
    fast = NOMINAL.scaled(Factors(flow=2.0, numpy=4.0, search=0.5))
    assert fast.chain_arcs == 2 * NOMINAL.chain_arcs
    assert fast.guide_arcs == 2 * NOMINAL.guide_arcs
    assert fast.network_cells == 4 * NOMINAL.network_cells
    assert fast.check_batches == 4 * NOMINAL.check_batches
    assert fast.search_work == 0.5 * NOMINAL.search_work
    assert NOMINAL.scaled(Factors()) == NOMINAL


def test_the_probe_is_cached_per_machine_and_read_back(tmp_path):
    first = machine_factors(tmp_path)
    lo, hi = FACTOR_RANGE
    for value in (first.flow, first.numpy, first.search):
        assert lo <= value <= hi
    stored = json.loads((tmp_path / "speed.json").read_text())
    assert set(stored) == {machine_key()}
    # what is in the cache is what is used: no second probe
    stored[machine_key()] = {"flow": 3.0, "numpy": 0.5, "search": 2.0}
    (tmp_path / "speed.json").write_text(json.dumps(stored))
    assert machine_factors(tmp_path) == Factors(flow=3.0, numpy=0.5, search=2.0)


@pytest.mark.parametrize("bad", ["not json", '{"x": 1}', "[]", '{"%s": {"flow": "fast"}}'])
def test_a_corrupt_cache_is_measured_again_and_replaced(tmp_path, caplog, bad):
    path = tmp_path / "speed.json"
    path.write_text(bad.replace("%s", machine_key()))
    with caplog.at_level(logging.INFO, logger="scheduler.solvers.speed"):
        got = machine_factors(tmp_path)
    assert isinstance(got.flow, float)
    assert machine_key() in json.loads(path.read_text())


def test_an_unwritable_cache_is_only_logged(tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with caplog.at_level(logging.INFO, logger="scheduler.solvers.speed"):
        got = machine_factors(blocker / "natsched")  # a directory under a file
    assert isinstance(got.flow, float)
    assert "not written" in caplog.text


def _cache_with(tmp_path, **entry):
    (tmp_path / "speed.json").write_text(json.dumps({machine_key(): entry}))


def test_a_probe_from_a_busy_machine_is_measured_again_when_it_is_quiet(tmp_path, monkeypatch):
    from scheduler.solvers import speed

    measured = Factors(flow=1.5, numpy=0.4, search=1.0)
    monkeypatch.setattr(speed, "probe", lambda: measured)
    # written at a load of 1.8 a core: provisional; now the machine is idle
    _cache_with(tmp_path, flow=0.6, numpy=0.7, search=1.2, load=1.8)
    monkeypatch.setattr(speed, "load_per_core", lambda: 0.1)
    got = machine_factors(tmp_path)
    # per kind of work the faster of the two: load only ever slows a probe
    assert got == Factors(flow=1.5, numpy=0.7, search=1.2)
    stored = json.loads((tmp_path / "speed.json").read_text())[machine_key()]
    assert stored == {"flow": 1.5, "numpy": 0.7, "search": 1.2, "load": 0.1}


@pytest.mark.parametrize(("then", "now"), [(0.2, 0.0), (1.8, 1.2), (None, 0.0)])
def test_a_quiet_or_no_quieter_probe_is_kept(tmp_path, monkeypatch, then, now):
    from scheduler.solvers import speed

    def no_probe() -> Factors:
        raise AssertionError("probed again")

    monkeypatch.setattr(speed, "probe", no_probe)
    monkeypatch.setattr(speed, "load_per_core", lambda: now)
    entry = {"flow": 0.6, "numpy": 0.7, "search": 1.2}
    if then is not None:
        entry["load"] = then
    _cache_with(tmp_path, **entry)
    assert machine_factors(tmp_path) == Factors(flow=0.6, numpy=0.7, search=1.2)
