"""Progress of a solve on a terminal: a one-line bar redrawn in place."""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

log = logging.getLogger("scheduler.solve")


class ProgressBar:
    """Callable passed as ``solve(progress=...)``.

    Draws ``[#####.....] 12.3/60 s  best 1,234.5  bound 1,200.0  gap 2.87%`` on
    a terminal; elsewhere (pipes, CI logs) it only logs improvements at INFO.
    """

    def __init__(self, time_limit: float, stream: TextIO | None = None, width: int = 24) -> None:
        self.time_limit = max(time_limit, 1e-9)
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.bound: float | None = None
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.started = time.perf_counter()
        self.drawn = False

    def __call__(self, entry: dict[str, float]) -> None:
        if "bound" in entry:
            self.bound = entry["bound"]
        elapsed = entry.get("elapsed", time.perf_counter() - self.started)
        score = entry["score"]
        gap = ""
        if self.bound and self.bound > 0:
            gap = f"  gap {max(0.0, (score - self.bound) / self.bound):.2%}"
        bound = f"  bound {self.bound:,.1f}" if self.bound is not None else ""
        text = f"{elapsed:6.1f}/{self.time_limit:g} s  best {score:,.1f}{bound}{gap}"
        log.info(text.strip())
        if self.tty:
            done = min(1.0, elapsed / self.time_limit)
            filled = int(done * self.width)
            bar = "#" * filled + "." * (self.width - filled)
            self.stream.write(f"\r[{bar}] {text}\x1b[K")
            self.stream.flush()
            self.drawn = True

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
