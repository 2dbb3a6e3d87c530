"""A what-if world whose answer is known by construction (the fewest mobile labs)."""

from __future__ import annotations

from scheduler.domain import Problem
from tests.support.builders import at, batch, lab, problem, site

SITES = 10


def world() -> Problem:
    """Ten sites, one 1-tube batch each, and one lab closed from 10:00 to midnight.

    A screening of 100 people at 1:1 (10 tubes a site) swabbed 08:00-09:00 is
    ready at 09:30, arrives at a mobile lab at the sites 20 min later, and is
    due at 14:00: with the median run time of 60 min only the slots 10, 11 and
    12 finish in time, and the lab is closed then. A mobile lab of 240/day
    (10/h) tests 30 tubes in those slots, so 4 labs are needed and 3 are not
    enough; boxes of 10 tubes fit whole.
    """
    sites = [site(f"S410101-{i:04d}", county_code="410101") for i in range(SITES)]
    batches = [
        batch(f"B{i}", site_id=f"S410101-{i:04d}", tubes=1, ready_at=at(0)) for i in range(SITES)
    ]
    labs = [lab("L1", county_code="410101", capacity_per_hour=5, run_minutes=60, close_hour=10)]
    return problem(labs=labs, sites=sites, batches=batches)
