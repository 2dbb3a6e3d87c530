"""Waiting for something another thread or process does, with a limit against hanging."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest


def wait_for(what: Callable[[], Any], limit: float = 180.0, detail: Callable[[], str] = str) -> Any:
    """Poll ``what`` until it is truthy; a guard against hanging, not a timing check."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        got = what()
        if got:
            return got
        time.sleep(0.1)
    pytest.fail(f"gave up waiting after {limit:g} s: {detail()}")
