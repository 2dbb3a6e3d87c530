"""Options of the benchmark tiers.

Plain ``pytest`` (``make test``) runs only the smoke case; ``make bench``
passes ``--bench`` for the speed tier over the presets.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("natsched benchmarks")
    group.addoption("--bench", action="store_true", help="run the speed tier over the presets")
    group.addoption(
        "--bench-presets",
        default="county,city,province,surge",
        help="comma-separated presets for the speed tier",
    )
    group.addoption("--bench-time-limit", type=float, default=60.0, help="optimiser time limit (s)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "preset" in metafunc.fixturenames:
        presets = metafunc.config.getoption("--bench-presets").split(",")
        metafunc.parametrize("preset", [p.strip() for p in presets if p.strip()])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # the speed tier is opt-in: without --bench its cases are not even collected
    if config.getoption("--bench"):
        return
    keep = [i for i in items if i.get_closest_marker("bench") is None]
    deselected = [i for i in items if i.get_closest_marker("bench") is not None]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = keep


@pytest.fixture
def bench_time_limit(request: pytest.FixtureRequest) -> float:
    return float(request.config.getoption("--bench-time-limit"))
