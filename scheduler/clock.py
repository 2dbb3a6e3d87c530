"""What "now" is for a process that runs the day: the machine's, or another.

The library never reads the clock; the web app and the worker do, through
this one object, so a demo, a test or a load test can run the day at another
time: ``fixed`` stays put, ``offset`` runs at real speed from another start.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Clock:
    offset: timedelta = timedelta(0)
    fixed: datetime | None = None

    def now(self) -> datetime:
        if self.fixed is not None:
            return self.fixed
        return (datetime.now() + self.offset).replace(microsecond=0)

    @classmethod
    def parse(cls, spec: str | None) -> Clock:
        """Real clock for ``None``; ``fixed:2022-01-09T08:00`` stays put;
        ``2022-01-09T08:00`` starts there and runs on."""
        if not spec:
            return cls()
        if spec.startswith("fixed:"):
            return cls(fixed=datetime.fromisoformat(spec.removeprefix("fixed:")))
        start = datetime.fromisoformat(spec)
        return cls(offset=start - datetime.now())
