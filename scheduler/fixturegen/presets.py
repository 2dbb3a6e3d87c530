"""The named fixture scales of issue #3.

Each :class:`Preset` says which part of Henan it covers, how its lab network is
sized and what a day of sampling looks like there. The generator turns a
preset and a seed into an instance; everything random comes from the seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Day one of every fixture; plan_start is 08:00 on it. January 2022 is when
#: Zhengzhou screened 11.76 M people in one round.
FIXTURE_DAY = (2022, 1, 9)
PLAN_START_HOUR = 8


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    default_seed: int
    #: city codes covered (labs and sites)
    cities: tuple[str, ...]
    #: only this county of the (single) city, e.g. "410108"
    county: str | None = None
    #: explicit lab counts by kind for the whole preset; None: the province
    #: allocation of the 864 published labs, restricted to ``cities``
    lab_counts: dict[str, int] | None = None
    #: nominal tubes/day of the explicit network (with ``lab_counts``)
    capacity_per_day: int = 0
    #: extra labs sent in from elsewhere (surge), by kind
    reinforcement: dict[str, int] = field(default_factory=dict)
    #: collection sites of all kinds
    n_sites: int = 50
    fever_share: float = 0.04
    isolation_share: float = 0.05
    #: counties with sealed/controlled areas (close contacts, 5:1 pools)
    hotspots: int = 1
    contact_sites_per_hotspot: int = 4
    #: start hours (day one) of the hourly community sampling windows
    community_hours: tuple[int, ...] = (8, 9, 10, 11, 14, 15, 16, 17)
    #: mean people sampled per community site and hour
    community_people: float = 150.0
    #: share of community sites pooling 20:1 instead of 10:1
    pool20_share: float = 0.1
    #: mean people per 1-hour fever-clinic window
    fever_people: float = 6.0
    #: citywide screening: community and key-population rows carry
    #: ``due_at`` = 09:00 next day, the published results deadline
    screening: bool = False
    #: labs with an outage on day one
    outages: int = 1
    #: travel.csv overrides (closed roads and expressway shortcuts)
    travel_overrides: int = 4
    #: share of labs that start with a backlog
    backlog_share: float = 0.3
    #: a backlog is this many hours of the lab's capacity (uniform)
    backlog_hours: tuple[float, float] = (0.5, 3.0)


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            name="demo",
            description="Xuchang: 6 counties, 25 labs, ~1,000 batches; what `make run` plans",
            default_seed=7,
            cities=("4110",),
            lab_counts={
                "cdc": 4,
                "hospital": 12,
                "designated_hospital": 3,
                "third_party": 3,
                "mobile": 3,
            },
            capacity_per_day=224_000,
            n_sites=88,
            hotspots=1,
            contact_sites_per_hotspot=6,
            community_hours=(8, 9, 10, 11, 12, 14, 15, 16, 17, 18),
            community_people=700.0,
            outages=2,
            travel_overrides=6,
        ),
        Preset(
            name="county",
            description="one county of Zhengzhou: its hospital labs and one mobile lab, "
            "~50 sites, ~500 batches",
            default_seed=3,
            cities=("4101",),
            county="410108",
            lab_counts={
                "cdc": 1,
                "hospital": 2,
                "designated_hospital": 1,
                "third_party": 1,
                "mobile": 1,
            },
            capacity_per_day=80_000,
            n_sites=50,
            hotspots=1,
            contact_sites_per_hotspot=4,
            community_people=150.0,
            outages=1,
            travel_overrides=3,
        ),
        Preset(
            name="city",
            description="Zhengzhou on a normal day: ~300 sites, ~100 labs, ~5,000 batches",
            default_seed=11,
            cities=("4101",),
            n_sites=300,
            fever_share=0.05,
            isolation_share=0.08,
            hotspots=2,
            contact_sites_per_hotspot=12,
            community_hours=(8, 9, 10, 11, 13, 14, 15, 16, 17, 18),
            community_people=1_300.0,
            fever_people=8.0,
            outages=3,
            travel_overrides=8,
        ),
        Preset(
            name="province",
            description="all of Henan on a busy day: ~3,000 sites, all 864 labs, ~20,000 batches",
            default_seed=13,
            cities=(
                "4101",
                "4102",
                "4103",
                "4104",
                "4105",
                "4106",
                "4107",
                "4108",
                "4109",
                "4110",
                "4111",
                "4112",
                "4113",
                "4114",
                "4115",
                "4116",
                "4117",
                "4190",
            ),
            n_sites=3_000,
            fever_share=0.035,
            isolation_share=0.06,
            hotspots=6,
            contact_sites_per_hotspot=10,
            community_hours=(8, 9, 10, 14, 15, 16),
            community_people=780.0,
            fever_people=5.0,
            outages=12,
            travel_overrides=12,
        ),
        Preset(
            name="surge",
            description="Zhengzhou citywide screening (11.76 M people, 09:00-15:00, "
            "results due 09:00 next day): demand above capacity",
            default_seed=17,
            cities=("4101",),
            reinforcement={"mobile": 40, "third_party": 2},
            n_sites=6_000,
            fever_share=0.004,
            isolation_share=0.015,
            hotspots=3,
            contact_sites_per_hotspot=70,
            community_hours=(9, 10, 11, 12, 13, 14),
            community_people=11_760_000 / (6_000 * 0.93) / 6,
            pool20_share=0.05,
            fever_people=8.0,
            screening=True,
            outages=4,
            travel_overrides=8,
            # labs are still working through the previous round
            backlog_share=0.6,
            backlog_hours=(4.0, 10.0),
        ),
    )
}


def preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        known = ", ".join(PRESETS)
        raise ValueError(f"unknown fixture preset {name!r} (known: {known})") from None
