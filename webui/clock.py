"""The web layer's idea of "now": the app's :class:`scheduler.clock.Clock`."""

from __future__ import annotations

from datetime import datetime

from flask import current_app

from scheduler.clock import Clock

__all__ = ["Clock", "now"]


def now() -> datetime:
    """The running app's clock (never the machine's): what views and the API call "now"."""
    clock: Clock = current_app.extensions["natsched.clock"]
    return clock.now()
