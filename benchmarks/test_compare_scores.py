import json

from benchmarks.compare_scores import main


def _save(folder, name, score):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(
        json.dumps({"benchmarks": [{"fullname": "t::case", "extra_info": {"score": score}}]})
    )


def test_score_regression_fails(tmp_path):
    _save(tmp_path / "Linux", "0001_a.json", 100.0)
    _save(tmp_path / "Linux", "0002_b.json", 111.0)
    assert main([str(tmp_path)]) == 1


def test_small_changes_pass(tmp_path):
    _save(tmp_path / "Linux", "0001_a.json", 100.0)
    _save(tmp_path / "Linux", "0002_b.json", 105.0)
    assert main([str(tmp_path)]) == 0
    assert main([str(tmp_path / "empty")]) == 0
