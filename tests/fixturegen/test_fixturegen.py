"""The Henan fixture generator (issue #3): calibration, coverage, determinism."""

from __future__ import annotations

import filecmp
from pathlib import Path

import numpy as np
import pytest

from natsched.fixtures import add_parser
from scheduler.batching import counts_to_batches
from scheduler.domain import LAB_KINDS, Problem
from scheduler.fixturegen import PRESETS, generate, nominal_capacity, pressure, write_fixture
from scheduler.fixturegen.generator import Fixture, lab_kind_counts
from scheduler.fixturegen.uploads import read_uploads
from scheduler.geography import (
    PUBLISHED_LABS_CDC,
    PUBLISHED_LABS_MEDICAL,
    PUBLISHED_LABS_THIRD_PARTY,
    PUBLISHED_LABS_TOTAL,
)
from scheduler.network import Network, travel_minutes_matrix
from scheduler.spec_io import load_instance

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ("demo", "county")


@pytest.fixture(scope="module")
def fixtures() -> dict[str, Fixture]:
    return {name: generate(name) for name in PRESETS}


def within(value: float, target: float, tol: float = 0.10) -> bool:
    return abs(value - target) <= tol * target


def test_province_calibration(fixtures: dict[str, Fixture]) -> None:
    pr = fixtures["province"].problem
    kinds = lab_kind_counts(pr)
    assert len(pr.labs) == PUBLISHED_LABS_TOTAL
    # mapping: medical institutions = hospital + designated_hospital + mobile
    medical = kinds["hospital"] + kinds["designated_hospital"] + kinds["mobile"]
    assert within(medical, PUBLISHED_LABS_MEDICAL)
    assert within(kinds["cdc"], PUBLISHED_LABS_CDC)
    assert within(kinds["third_party"], PUBLISHED_LABS_THIRD_PARTY)
    assert 6_000_000 <= nominal_capacity(pr) <= 7_000_000
    assert within(nominal_capacity(pr, "4101"), 1_200_000)
    # the population bands: >8 M 0.5 M, 5-8 M 0.3 M, <5 M 0.2 M (met, with headroom)
    assert nominal_capacity(pr, "4113") >= 500_000  # Nanyang 9.7 M
    assert nominal_capacity(pr, "4103") >= 300_000  # Luoyang 7.1 M
    assert nominal_capacity(pr, "4106") >= 200_000  # Hebi 1.6 M
    assert 2_500 <= len(pr.sites) <= 3_500
    assert 15_000 <= len(pr.batches) <= 30_000


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_shows_every_feature(fixtures: dict[str, Fixture], name: str) -> None:
    pr = fixtures[name].problem
    assert set(lab_kind_counts(pr)) == set(LAB_KINDS)
    assert all(n > 0 for n in lab_kind_counts(pr).values())
    assert any(b.isolation for b in pr.batches)
    iso_sites = {b.site_id for b in pr.batches if b.isolation and b.priority == "urgent"}
    assert iso_sites, "fever clinics / isolation points"
    assert any(0 < lab.open_hour < lab.close_hour < 24 for lab in pr.labs), "day-only lab"
    assert any(lab.backlog_tubes > 0 for lab in pr.labs)
    assert any(b.ready_at < pr.config.plan_start for b in pr.batches), "boxes already waiting"
    assert pr.outages
    for lab in pr.labs:
        # a PCR run with extraction and review: 2 h (single-tube lines) to 4.5 h
        assert 120 <= lab.run_minutes <= 270


@pytest.mark.parametrize("name", list(PRESETS))
def test_isolation_batches_have_an_allowed_lab(fixtures: dict[str, Fixture], name: str) -> None:
    pr = fixtures[name].problem
    if len(pr.batches) * len(pr.labs) <= 2_000_000:
        assert Network.build(pr).allowed.any(axis=1).all()
        return
    # big presets: the same test on the site x lab matrix (every batch of the
    # site is ready well before the horizon ends)
    travel = travel_minutes_matrix(pr)
    reach = travel <= pr.config.travel.max_travel_minutes
    iso_ok = np.array([lab.isolation_ok for lab in pr.labs])
    site_index = pr.site_index
    iso_sites = sorted({site_index[b.site_id] for b in pr.batches if b.isolation})
    assert (reach[iso_sites] & iso_ok[None, :]).any(axis=1).all()
    assert reach.any(axis=1).all()
    last_ready = max(b.ready_at for b in pr.batches)
    assert last_ready < pr.config.horizon_end


def test_scales(fixtures: dict[str, Fixture]) -> None:
    sizes = {
        n: (len(f.problem.sites), len(f.problem.labs), len(f.problem.batches))
        for n, f in fixtures.items()
    }
    assert 40 <= sizes["county"][0] <= 60 and 4 <= sizes["county"][1] <= 8
    assert 350 <= sizes["county"][2] <= 650
    assert sizes["demo"][1] == 25 and 800 <= sizes["demo"][2] <= 1_200
    assert 250 <= sizes["city"][0] <= 350 and 90 <= sizes["city"][1] <= 120
    assert 4_000 <= sizes["city"][2] <= 6_000
    assert 5_500 <= sizes["surge"][0] <= 6_500 and 130 <= sizes["surge"][1] <= 170
    assert 32_000 <= sizes["surge"][2] <= 48_000


def test_surge_demand_exceeds_on_time_capacity(fixtures: dict[str, Fixture]) -> None:
    surge = fixtures["surge"].problem
    p = pressure(surge)
    # more tubes than every lab together can turn round by the latest deadline
    assert p.ratio >= 1.2, p
    assert p.shortfall > 100_000
    people = sum(b.people or 0 for b in surge.batches)
    assert within(people, 11_760_000, 0.15)
    # the screening's deadline: results by 09:00 next day
    assert any(b.deadline is not None and b.deadline.hour == 9 for b in surge.batches)
    for name in ("county", "demo", "city", "province"):
        assert pressure(fixtures[name].problem).ratio < 0.8, name


def test_deterministic_for_a_seed(tmp_path: Path) -> None:
    a = write_fixture(generate("demo", 5), tmp_path / "a")
    b = write_fixture(generate("demo", 5), tmp_path / "b")
    c = write_fixture(generate("demo", 6), tmp_path / "c")
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert any(f.suffix == ".xlsx" for f in files)
    for f in files:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
    assert (a / "batches.csv").read_bytes() != (c / "batches.csv").read_bytes()


@pytest.mark.parametrize("name", COMMITTED)
def test_committed_fixtures_match_the_generator(tmp_path: Path, name: str) -> None:
    fresh = write_fixture(generate(name), tmp_path / name)
    committed = ROOT / "fixtures" / name
    fresh_files = sorted(p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file())
    committed_files = sorted(p.relative_to(committed) for p in committed.rglob("*") if p.is_file())
    assert fresh_files == committed_files
    for f in fresh_files:
        assert filecmp.cmp(fresh / f, committed / f, shallow=False), (
            f"fixtures/{name}/{f} drifted: rerun `natsched fixtures generate {name} "
            f"fixtures/{name}`"
        )


@pytest.mark.parametrize("name", list(PRESETS))
def test_written_instance_loads_and_uploads_reproduce_batches(
    tmp_path: Path, fixtures: dict[str, Fixture], name: str
) -> None:
    fx = fixtures[name]
    folder = write_fixture(fx, tmp_path / name)
    loaded = load_instance(folder)
    assert isinstance(loaded, Problem)
    assert loaded.batches == fx.problem.batches
    assert loaded.labs == fx.problem.labs
    uploads = read_uploads(folder / "uploads")
    assert list(uploads) == sorted(fx.uploads)
    rows = [r for code in sorted(uploads) for r in uploads[code]]
    assert tuple(counts_to_batches(rows)) == loaded.batches
    sites = {r.site_id: (r.county_code, r.site_name, r.lat, r.lon) for r in rows}
    assert {s.site_id: (s.county_code, s.name, s.lat, s.lon) for s in loaded.sites} == sites
    kinds = {p.suffix for p in (folder / "uploads").iterdir()}
    if len(uploads) >= 4:
        assert kinds == {".csv", ".xlsx"}
        raw = [(folder / "uploads" / f"{c}.csv") for c in sorted(uploads)]
        assert any(not _is_utf8(p) for p in raw if p.exists()), "a GB18030 file"


def _is_utf8(path: Path) -> bool:
    try:
        path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def test_counts_to_batches_rule() -> None:
    from datetime import datetime

    from scheduler.batching import UploadRow

    row = UploadRow(
        "410102",
        "S410102-0007",
        "x",
        34.7,
        113.6,
        datetime(2022, 1, 9, 9),
        datetime(2022, 1, 9, 10),
        "community",
        10,
        2_345,
    )
    other = UploadRow(
        "410102",
        "S410102-0007",
        "x",
        34.7,
        113.6,
        datetime(2022, 1, 9, 10),
        datetime(2022, 1, 9, 11),
        "close_contact",
        1,
        3,
    )
    out = counts_to_batches([other, row])
    assert [b.batch_id for b in out] == [
        "B410102-0007-01-01",
        "B410102-0007-02-01",
        "B410102-0007-02-02",
        "B410102-0007-02-03",
    ]
    assert [b.tubes for b in out] == [3, 100, 100, 35]
    assert sum(b.people or 0 for b in out[1:]) == 2_345
    assert out[0].priority == "high" and out[0].isolation
    assert out[1].priority == "routine" and not out[1].isolation
    assert out[1].ready_at == datetime(2022, 1, 9, 10, 30)
    assert out[1].collected_at == datetime(2022, 1, 9, 9)


def test_cli_generate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["fixtures", "generate", "county", str(tmp_path / "c"), "--seed", "3"])
    assert args.handler(args) == 0
    assert (tmp_path / "c" / "batches.csv").is_file()
    assert "county (seed 3)" in capsys.readouterr().out
    args = parser.parse_args(["fixtures", "list"])
    assert args.handler(args) == 0
    assert "surge" in capsys.readouterr().out
