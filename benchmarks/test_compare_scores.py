"""benchmarks.compare_scores: the speed tier's gate, on saved runs written by hand."""

import json
from pathlib import Path

from benchmarks.compare_scores import main

CASE = "benchmarks/test_speed.py::test_speed[county]"


def _save(folder: Path, name: str, score: float, *, bound=None, work=None, fastest=1.0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    extra: dict[str, float] = {"score": score}
    if bound is not None:
        extra["bound"] = bound
    if work is not None:
        extra["work_cpu_seconds"] = work
    case = {"fullname": CASE, "extra_info": extra, "stats": {"min": fastest}}
    (folder / name).write_text(json.dumps({"benchmarks": [case]}))


def _baseline(tmp_path: Path, tolerance: float = 0.01, **figures: float) -> Path:
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps({"tolerance": tolerance, "cases": {CASE: figures}}))
    return path


def _gate(tmp_path: Path, baseline: Path, *more: str) -> int:
    return main([str(tmp_path / "runs"), "--baseline", str(baseline), *more])


def test_score_over_the_baseline_tolerance_fails(tmp_path, capsys):
    base = _baseline(tmp_path, score=100.0)
    _save(tmp_path / "runs" / "Linux", "0001_a.json", 101.5)
    assert _gate(tmp_path, base) == 1
    assert "1.50% worse than the baseline" in capsys.readouterr().out


def test_score_within_the_baseline_tolerance_passes(tmp_path):
    base = _baseline(tmp_path, score=100.0)
    _save(tmp_path / "runs" / "Linux", "0001_a.json", 100.9)
    assert _gate(tmp_path, base) == 0
    _save(tmp_path / "runs" / "Linux", "0002_b.json", 90.0)  # better is fine
    assert _gate(tmp_path, base) == 0


def test_a_weaker_bound_fails_and_a_stronger_one_passes(tmp_path):
    base = _baseline(tmp_path, score=100.0, bound=90.0)
    _save(tmp_path / "runs" / "Linux", "0001_a.json", 100.0, bound=88.0)
    assert _gate(tmp_path, base) == 1
    _save(tmp_path / "runs" / "Linux", "0002_b.json", 100.0, bound=92.0)
    assert _gate(tmp_path, base) == 0


def test_a_case_without_baseline_figures_fails(tmp_path, capsys):
    base = tmp_path / "baseline.json"
    base.write_text(json.dumps({"tolerance": 0.01, "cases": {}}))
    _save(tmp_path / "runs" / "Linux", "0001_a.json", 100.0)
    assert _gate(tmp_path, base) == 1
    assert "no baseline figures" in capsys.readouterr().out
    assert _gate(tmp_path, tmp_path / "missing.json") == 1


def test_no_saved_run_fails(tmp_path):
    assert _gate(tmp_path, _baseline(tmp_path, score=100.0)) == 1


def test_score_regression_against_the_previous_run_fails(tmp_path):
    # a loose baseline does not hide a 11 % step from one run to the next
    base = _baseline(tmp_path, tolerance=0.5, score=100.0)
    _save(tmp_path / "runs" / "Linux", "0001_a.json", 100.0)
    _save(tmp_path / "runs" / "Linux", "0002_b.json", 111.0)
    assert _gate(tmp_path, base) == 1
    _save(tmp_path / "runs" / "Linux", "0003_c.json", 115.0)  # 3.6 % over 111
    assert _gate(tmp_path, base) == 0


def test_slower_work_than_the_previous_run_fails(tmp_path, capsys):
    base = _baseline(tmp_path, score=100.0)
    runs = tmp_path / "runs" / "Linux"
    # the recorded work time counts, not the round's wall time (which has a clocked part)
    _save(runs, "0001_a.json", 100.0, work=1.0, fastest=5.0)
    _save(runs, "0002_b.json", 100.0, work=1.2, fastest=5.0)
    assert _gate(tmp_path, base) == 1
    assert "20.0% slower than the previous run" in capsys.readouterr().out
    _save(runs, "0003_c.json", 100.0, work=1.25, fastest=9.0)  # 4 % over 1.2
    assert _gate(tmp_path, base) == 0


def test_without_a_work_time_the_fastest_round_is_gated(tmp_path):
    base = _baseline(tmp_path, score=100.0)
    runs = tmp_path / "runs" / "Linux"
    _save(runs, "0001_a.json", 100.0, fastest=1.0)
    _save(runs, "0002_b.json", 100.0, fastest=1.05)
    assert _gate(tmp_path, base) == 0
    _save(runs, "0003_c.json", 100.0, fastest=1.2)
    assert _gate(tmp_path, base) == 1
    assert _gate(tmp_path, base, "--time-limit", "0.25") == 0


def test_update_baseline_records_the_newest_run_and_keeps_other_cases(tmp_path):
    base = tmp_path / "baseline.json"
    other = "benchmarks/test_speed.py::test_speed[province]"
    base.write_text(json.dumps({"tolerance": 0.02, "cases": {other: {"score": 7.0}}}))
    _save(tmp_path / "runs" / "Linux", "0001_a.json", 123.0, bound=100.0)
    assert _gate(tmp_path, base, "--update-baseline") == 0
    doc = json.loads(base.read_text())
    assert doc["tolerance"] == 0.02
    assert doc["cases"] == {CASE: {"score": 123.0, "bound": 100.0}, other: {"score": 7.0}}
    assert _gate(tmp_path, base) == 0
