"""No secrets in the repository: keys come from the environment or the instance folder."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

PATTERNS = {
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "natsched API token": re.compile(r"nst_[A-Za-z0-9_-]{30,}"),
    "AWS key": re.compile(r"AKIA[0-9A-Z]{16}"),
    "hard-coded Flask secret": re.compile(
        r"""SECRET_KEY["']?\s*[:=]\s*["'](?!test-|browser-test-)[^"']{8,}["']"""
    ),
    "password in a URL": re.compile(r"://[^/\s:@]+:[^/\s@]{6,}@"),
}
NEVER_COMMITTED = ("instance/", ".env", "secret_key", "demo-users.txt")


def tracked_files() -> list[Path]:
    # a source tarball has no git; a CI clone always has, so there the skip is a
    # failure (tests/conftest.py) with git's own message
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z"], capture_output=True, check=True, text=True
        ).stdout
    except OSError as exc:
        pytest.skip(f"git cannot run here: {exc}")
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"not a git checkout: {exc.stderr.strip()}")
    files = [Path(p) for p in out.split("\0") if p]
    assert files, "git ls-files listed nothing: the check would pass on any tree"
    return files


def test_no_secret_shaped_text_is_tracked():
    found = []
    for path in tracked_files():
        if path.suffix in {".png", ".xlsx", ".svg", ".ico"} or not path.is_file():
            continue
        text = path.read_text(errors="ignore")
        for what, pattern in PATTERNS.items():
            for m in pattern.finditer(text):
                found.append(f"{path}: {what}: {m.group(0)[:40]}")
    assert not found, "\n".join(found)


def test_instance_files_are_never_tracked():
    bad = [str(p) for p in tracked_files() if any(part in str(p) for part in NEVER_COMMITTED)]
    assert not bad, bad
