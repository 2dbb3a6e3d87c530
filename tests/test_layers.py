"""The library stands alone: importing it loads neither the web app nor the database."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("flask", "sqlalchemy")


@pytest.mark.parametrize(
    "module", ["scheduler.solve", "scheduler.cli", "scheduler.cli_explain", "scheduler.fixturegen"]
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
