"""Whether this run is CI: the one answer for the tests, the benchmarks and the Makefile.

``CI`` counts when it is ``true``, ``1`` or ``yes`` in any case: services
set it to ``true`` and some people to ``1``, and both mean the same run.
``python -m tests.support.ci`` exits 0 in CI and 1 elsewhere, for make.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

TRUTHY = frozenset({"true", "1", "yes"})
#: the PostgreSQL cases are generated only with this set, so CI must set it
DATABASE_VARIABLE = "NATSCHED_TEST_DATABASE_URL"


def in_ci(environ: Mapping[str, str] | None = None) -> bool:
    """True when ``CI`` (in ``environ``, default the process's) is a truthy value."""
    value = (os.environ if environ is None else environ).get("CI", "")
    return value.strip().lower() in TRUTHY


def missing_in_ci(environ: Mapping[str, str] | None = None) -> str | None:
    """Why a CI run cannot start here, or None when it can (or this is not CI)."""
    env = os.environ if environ is None else environ
    if in_ci(env) and not env.get(DATABASE_VARIABLE):
        return (
            f"CI={env.get('CI')} but {DATABASE_VARIABLE} is not set: the PostgreSQL "
            "cases would not be generated (.ci/run sets it)"
        )
    return None


if __name__ == "__main__":
    sys.exit(0 if in_ci() else 1)
