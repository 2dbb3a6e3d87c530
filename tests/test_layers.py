"""The library stands alone: it loads neither the web app nor the database, and runs without."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("flask", "sqlalchemy")
COUNTY = Path(__file__).resolve().parents[1] / "fixtures" / "county"


@pytest.mark.parametrize(
    "module",
    [
        "scheduler.solve",
        "scheduler.cli",
        "scheduler.cli_explain",
        "scheduler.fixturegen",
        "scheduler.scenarios.recommend",
        "scheduler.scenarios.sweep",
    ],
)
def test_the_library_loads_no_web_and_no_database(module: str) -> None:
    # a fresh interpreter: this test process has long loaded both
    code = f"import {module}, sys; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [], f"importing {module} loaded {r.stdout.strip()}"


def test_the_check_sees_a_loaded_module() -> None:
    # the probe above reports what it finds, so an empty answer means something
    code = f"import sqlalchemy, sys; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.stdout.split() == ["sqlalchemy"]


@pytest.mark.parametrize(
    ("missing", "argv", "extra"),
    [
        ("flask", ["serve"], "web"),
        ("flask", ["users", "list"], "web"),
        ("sqlalchemy", ["db", "upgrade"], "db"),
        ("sqlalchemy", ["plans", "list"], "db"),
    ],
)
def test_a_command_whose_extra_is_missing_says_which(
    missing: str, argv: list[str], extra: str, tmp_path: Path
) -> None:
    # None in sys.modules makes the import fail as an uninstalled package does
    code = (
        f"import sys; sys.modules[{missing!r}] = None; "
        f"from natsched.cli import main; sys.exit(main({argv!r}))"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == (
        f"natsched: error: {argv[0]} needs {missing}, from the {extra!r} extra: "
        f"pip install 'natsched[{extra}]'"
    )
    assert list(tmp_path.iterdir()) == []  # no database was made


def test_the_library_commands_run_without_the_extras(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['flask'] = sys.modules['sqlalchemy'] = None; "
        "from natsched.cli import main; "
        f"sys.exit(main(['plan', {str(COUNTY)!r}, '-o', {str(tmp_path / 'p.csv')!r}, "
        "'--solver', 'greedy', '-q']))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "p.csv").read_text(encoding="utf-8").startswith("batch_id")
