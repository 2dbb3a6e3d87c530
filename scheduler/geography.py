"""Henan province: the published facts the fixtures are calibrated on.

City seats, 2020 census populations and the number of county-level
divisions are real (issue #3). County seats, county names and site names are
synthetic: they are placed around the city seat by a seeded generator and
every synthetic name carries the marker ``(synthetic)`` / ``合成``.

County codes have the form ``41CCXX``: ``41CC`` is the city's real
administrative prefix (Jiyuan, a sub-prefecture city, is ``4190``) and ``XX``
numbers the synthetic counties ``01..n``; county ``01`` is the urban district
at the city seat.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SYNTHETIC = "(synthetic)"


@dataclass(frozen=True)
class City:
    code: str  # 4-digit prefix, e.g. "4101"
    name: str
    name_zh: str
    lat: float
    lon: float
    population_m: float  # 2020 census, millions
    n_counties: int

    @property
    def capacity_target(self) -> int:
        """The published daily testing-capacity target, tubes/day (2022)."""
        if self.code == ZHENGZHOU:
            return 1_200_000
        if self.population_m > 8:
            return 500_000
        if self.population_m >= 5:
            return 300_000
        return 200_000


ZHENGZHOU = "4101"

CITIES: tuple[City, ...] = (
    City("4101", "Zhengzhou", "郑州", 34.75, 113.63, 12.6, 12),
    City("4102", "Kaifeng", "开封", 34.80, 114.31, 4.8, 9),
    City("4103", "Luoyang", "洛阳", 34.62, 112.45, 7.1, 14),
    City("4104", "Pingdingshan", "平顶山", 33.77, 113.19, 5.0, 10),
    City("4105", "Anyang", "安阳", 36.10, 114.39, 5.5, 9),
    City("4106", "Hebi", "鹤壁", 35.75, 114.30, 1.6, 5),
    City("4107", "Xinxiang", "新乡", 35.30, 113.93, 6.3, 12),
    City("4108", "Jiaozuo", "焦作", 35.22, 113.24, 3.5, 10),
    City("4109", "Puyang", "濮阳", 35.76, 115.03, 3.8, 6),
    City("4110", "Xuchang", "许昌", 34.04, 113.85, 4.4, 6),
    City("4111", "Luohe", "漯河", 33.58, 114.02, 2.4, 5),
    City("4112", "Sanmenxia", "三门峡", 34.77, 111.20, 2.0, 6),
    City("4113", "Nanyang", "南阳", 33.00, 112.53, 9.7, 13),
    City("4114", "Shangqiu", "商丘", 34.41, 115.66, 7.8, 9),
    City("4115", "Xinyang", "信阳", 32.13, 114.09, 6.2, 10),
    City("4116", "Zhoukou", "周口", 33.63, 114.70, 9.0, 10),
    City("4117", "Zhumadian", "驻马店", 32.98, 114.02, 7.0, 10),
    City("4190", "Jiyuan", "济源", 35.07, 112.60, 0.7, 1),
)
CITY_BY_CODE: dict[str, City] = {c.code: c for c in CITIES}

#: Published lab counts (2021-2022): 864 labs, 662 in medical institutions,
#: 163 CDC, 39 third-party; above 6 M tubes/day.
PUBLISHED_LABS_TOTAL = 864
PUBLISHED_LABS_MEDICAL = 662
PUBLISHED_LABS_CDC = 163
PUBLISHED_LABS_THIRD_PARTY = 39
PUBLISHED_CAPACITY_MIN = 6_000_000

#: Throughput facts used to size single labs, tubes/day.
PCR_INSTRUMENT_PER_DAY = 1_250  # ~10 runs a day
MOBILE_PER_DAY = (4_000, 5_000)
AIR_MEMBRANE_PER_DAY = (30_000, 100_000)
HOSPITAL_BASE_LAB_PER_DAY = 10_000


@dataclass(frozen=True)
class County:
    code: str  # 6 digits, 41CCXX
    city: City
    name: str  # synthetic, marked
    lat: float
    lon: float
    population: int  # synthetic share of the city's census population

    @property
    def index(self) -> int:
        return int(self.code[-2:])


def county_name(city: City, index: int) -> str:
    return f"{city.name_zh}-合成县{index:02d} {SYNTHETIC}"


def make_counties(city: City, rng: np.random.Generator) -> list[County]:
    """Synthetic county seats around the city seat, with population shares.

    The urban district (01) sits at the seat and holds the largest share, as
    in every Henan city; the others lie 15-70 km out (a prefecture is roughly
    100-150 km across), evenly spread in angle with jitter so that they do
    not pile up on one side.
    """
    n = city.n_counties
    angles = (np.arange(n) / max(n - 1, 1)) * 2 * math.pi + rng.uniform(0, 2 * math.pi)
    angles += rng.normal(0, 0.25, n)
    radii_km = rng.uniform(15, 70, n)
    shares = rng.dirichlet(np.full(n, 4.0))
    if n > 1:
        # the urban district: at the seat, and twice the mean share
        shares[0] = 2.0 / n
        shares[1:] *= (1 - shares[0]) / shares[1:].sum()
        radii_km[0] = 0.0
    else:
        radii_km[0] = 0.0
    dlat = radii_km * np.cos(angles) / 111.0
    dlon = radii_km * np.sin(angles) / (111.0 * math.cos(math.radians(city.lat)))
    pops = np.round(shares * city.population_m * 1e6).astype(np.int64)
    out = []
    for i in range(n):
        out.append(
            County(
                code=f"{city.code}{i + 1:02d}",
                city=city,
                name=county_name(city, i + 1),
                lat=round(float(city.lat + dlat[i]), 5),
                lon=round(float(city.lon + dlon[i]), 5),
                population=int(pops[i]),
            )
        )
    return out


def make_geography(seed: int) -> dict[str, list[County]]:
    """All counties of Henan by city code; the same seed gives the same map."""
    out: dict[str, list[County]] = {}
    for k, city in enumerate(CITIES):
        # one stream per city: a preset that uses one city sees the same map
        rng = np.random.default_rng([seed, 1, k])
        out[city.code] = make_counties(city, rng)
    return out
