"""Options of the benchmark tiers.

Plain ``pytest`` (``make test``) runs only the smoke case; ``make bench``
passes ``--bench`` for the speed tier over the presets.
"""

from __future__ import annotations

import pytest

#: the presets whose figures are in benchmarks/baseline_scores.json
BASELINE_PRESETS = "county,city"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("natsched benchmarks")
    group.addoption("--bench", action="store_true", help="run the speed tier over the presets")
    group.addoption(
        "--bench-presets",
        default=BASELINE_PRESETS,
        help="comma-separated presets for the speed tier (province and surge take minutes; "
        "add them to the baseline file before gating on them)",
    )
    group.addoption(
        "--bench-iterations",
        type=int,
        default=100,
        help="ruin-and-recreate rounds of the timed search: a fixed amount of work",
    )
    group.addoption(
        "--bench-rounds",
        type=int,
        default=3,
        help="times the search is run; the fastest is gated (a busy machine slows some)",
    )


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
def bench_iterations(request: pytest.FixtureRequest) -> int:
    return int(request.config.getoption("--bench-iterations"))


@pytest.fixture
def bench_rounds(request: pytest.FixtureRequest) -> int:
    return int(request.config.getoption("--bench-rounds"))
