"""Under CI nothing skips: the hook in tests/conftest.py, run on a tiny test file of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.ci import in_ci, missing_in_ci

ROOT = Path(__file__).resolve().parents[1]

TINY = """
import pytest

never = pytest.mark.skipif(True, reason="marked to skip")


def test_passes():
    pass


def test_skips_in_its_body():
    pytest.skip("no such service here")


@never
def test_skipped_by_a_mark():
    pass


@pytest.fixture
def service():
    pytest.skip("fixture found no server")


def test_skipped_by_its_fixture(service):
    pass


@pytest.mark.xfail(reason="a known bug", strict=True)
def test_expected_failure():
    assert False
"""

MODULE_SKIP = """
import pytest

pytest.importorskip("no_such_module_natsched")


def test_never_collected():
    pass
"""


def _run(tmp_path: Path, ci: str | None, database: bool = True) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_tiny.py").write_text(TINY, encoding="utf-8")
    (tmp_path / "test_module_skip.py").write_text(MODULE_SKIP, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "NATSCHED_TEST_DATABASE_URL")}
    if ci is not None:
        env["CI"] = ci
    if database:
        env["NATSCHED_TEST_DATABASE_URL"] = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    # the hook is loaded as a plugin, and no ini file: the tiny files are the whole run
    cmd = [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider"]
    cmd += ["-c", os.devnull, "--rootdir", str(tmp_path), "-q", "-rA"]
    cmd += ["--continue-on-collection-errors", str(tmp_path)]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("ci", ["1", "true", "TRUE", "yes", "Yes"])
def test_under_ci_every_skip_is_a_failure_with_its_reason(tmp_path: Path, ci: str) -> None:
    out = _run(tmp_path, ci)
    text = out.stdout + out.stderr
    assert out.returncode == 1, text
    for reason in ("no such service here", "marked to skip", "fixture found no server"):
        assert f"skipped under CI, which must run everything: {reason}" in text, text
    assert "no_such_module_natsched" in text, text
    assert "ERROR collecting test_module_skip.py" in text, text
    assert "1 failed, 1 passed, 1 xfailed, 3 errors" in text, text
    assert " skipped" not in text.splitlines()[-1], text


@pytest.mark.parametrize("ci", [None, "", "0", "false", "no"])
def test_outside_ci_a_skip_stays_a_skip(tmp_path: Path, ci: str | None) -> None:
    out = _run(tmp_path, ci, database=False)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text
    assert "1 passed, 4 skipped, 1 xfailed" in text, text


def test_ci_without_the_database_url_fails_at_start(tmp_path: Path) -> None:
    out = _run(tmp_path, "true", database=False)
    assert out.returncode == 4, out.stdout + out.stderr  # pytest's usage error
    assert "NATSCHED_TEST_DATABASE_URL is not set" in out.stderr
    assert "passed" not in out.stdout


def test_truthy_values_of_ci() -> None:
    for value in ("true", "True", "1", "yes", "YES", " true "):
        assert in_ci({"CI": value}), value
    for value in ("", "0", "false", "no", "off", "2"):
        assert not in_ci({"CI": value}), value
    assert not in_ci({})
    assert missing_in_ci({"CI": "1"}) is not None
    assert missing_in_ci({"CI": "1", "NATSCHED_TEST_DATABASE_URL": "postgresql://x"}) is None
    assert missing_in_ci({}) is None
