"""natsched: plans PCR sample batches onto testing labs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["__version__", "solve"]

if TYPE_CHECKING:
    from scheduler.solve import solve


def __getattr__(name: str) -> Any:
    # Lazy so that `import scheduler` stays cheap (OR-Tools loads only to solve).
    if name == "solve":
        from scheduler.solve import solve

        return solve
    raise AttributeError(name)
