"""Asserting a service-layer refusal: the call raises ``RuleViolation`` with the rule's code."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from scheduler.store.errors import RuleViolation


def refused(code: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> RuleViolation:
    """``call(*args, **kwargs)`` is refused by the rule ``code``; returns the refusal."""
    with pytest.raises(RuleViolation) as info:
        call(*args, **kwargs)
    assert info.value.code == code, info.value
    return info.value
