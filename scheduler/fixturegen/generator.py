"""Seeded generator of Henan-like SPEC instances and their county uploads.

Lab kinds and the published figures (issue #3). Henan's 864 labs were
662 in medical institutions, 163 CDC and 39 third-party. The SPEC has five
kinds; the mapping used here is

* medical institutions (662) = ``hospital`` (560) + ``designated_hospital``
  (72) + ``mobile`` (30): the mobile test vehicles are run by hospitals;
* CDC (163) = ``cdc``: the provincial CDC, the 18 city CDCs and 144 county
  CDCs (the urban districts share their city's CDC lab except in the five
  most populous cities);
* third-party (39) = ``third_party``: commercial labs, mostly air-membrane
  labs of 30-100 k tubes/day.

Nominal capacity (``capacity_per_hour * 24``, whatever the opening hours) is
sized per city on the published targets -- Zhengzhou 1.2 M tubes/day, cities
over 8 M people 0.5 M, 5-8 M 0.3 M, under 5 M 0.2 M -- with headroom
(:data:`ZHENGZHOU_HEADROOM`, :data:`CITY_HEADROOM`) so that the province
totals about 6.5 M, "above 6 M" as published.

Batches are never drawn directly: the generator draws county-office upload
rows and derives the batches with :func:`scheduler.batching.counts_to_batches`,
the same rule the ingestion uses.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from scheduler.batching import UploadRow, counts_to_batches
from scheduler.domain import (
    LAB_KINDS,
    Config,
    Lab,
    Outage,
    Problem,
    Site,
    TravelModel,
    TravelOverride,
)
from scheduler.fixturegen.presets import FIXTURE_DAY, PLAN_START_HOUR, Preset, preset
from scheduler.fixturegen.uploads import write_uploads
from scheduler.geography import (
    AIR_MEMBRANE_PER_DAY,
    CITIES,
    CITY_BY_CODE,
    MOBILE_PER_DAY,
    PUBLISHED_LABS_CDC,
    PUBLISHED_LABS_THIRD_PARTY,
    SYNTHETIC,
    City,
    County,
    make_geography,
)
from scheduler.network import haversine_km, slot_capacity_matrix, to_seconds
from scheduler.spec_io import write_instance

ZHENGZHOU_HEADROOM = 1.04
CITY_HEADROOM = 1.12

#: Province allocation of the medical-institution labs (sum 662).
PROVINCE_HOSPITALS = 560
PROVINCE_DESIGNATED = 72
PROVINCE_MOBILE = 30
ZHENGZHOU_THIRD_PARTY = 9
ZHENGZHOU_MOBILE = 5

DAY0 = datetime(*FIXTURE_DAY)
PLAN_START = DAY0 + timedelta(hours=PLAN_START_HOUR)

KIND_TAG = {
    "cdc": "CDC",
    "hospital": "H",
    "designated_hospital": "DH",
    "third_party": "TP",
    "mobile": "M",
}


# --------------------------------------------------------------------------- helpers


def apportion(total: int, weights: Sequence[float], minimum: int = 0) -> list[int]:
    """Split ``total`` in proportion to ``weights`` (largest remainder), each >= minimum."""
    n = len(weights)
    base = [minimum] * n
    rest = total - minimum * n
    if rest < 0:
        raise ValueError(f"cannot give {n} parts at least {minimum} of {total}")
    w = np.asarray(weights, dtype=np.float64)
    quota = w / w.sum() * rest
    floor = np.floor(quota).astype(np.int64)
    left = rest - int(floor.sum())
    # ties broken by position so that the result does not depend on float noise
    order = sorted(range(n), key=lambda i: (-(quota[i] - floor[i]), i))
    for i in order[:left]:
        floor[i] += 1
    return [b + int(f) for b, f in zip(base, floor, strict=True)]


def jitter(
    rng: np.random.Generator, lat: float, lon: float, km: float, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """``size`` points uniformly in a disc of radius ``km`` around (lat, lon)."""
    r = km * np.sqrt(rng.uniform(0, 1, size))
    a = rng.uniform(0, 2 * math.pi, size)
    dlat = r * np.cos(a) / 111.0
    dlon = r * np.sin(a) / (111.0 * math.cos(math.radians(lat)))
    return np.round(lat + dlat, 5), np.round(lon + dlon, 5)


def city_capacity(city: City) -> int:
    """Nominal tubes/day the generator gives the city's labs."""
    factor = ZHENGZHOU_HEADROOM if city.code == "4101" else CITY_HEADROOM
    return round(city.capacity_target * factor)


# --------------------------------------------------------------------------- labs


def province_lab_counts() -> dict[str, dict[str, int]]:
    """Labs of each kind per city code for all of Henan (sums: 864 = 662 + 163 + 39)."""
    pops = [c.population_m for c in CITIES]
    others = [c for c in CITIES if c.code != "4101"]
    hospitals = apportion(PROVINCE_HOSPITALS, pops)
    designated = apportion(PROVINCE_DESIGNATED, pops, minimum=2)
    # Zhengzhou hosts the big commercial labs and most vehicles; the rest
    # follow capacity targets (third-party labs close the gap to the target)
    tp_others = apportion(
        PUBLISHED_LABS_THIRD_PARTY - ZHENGZHOU_THIRD_PARTY,
        [c.capacity_target for c in others],
        minimum=1,
    )
    mob_others = apportion(PROVINCE_MOBILE - ZHENGZHOU_MOBILE, [c.population_m for c in others])
    # CDC: provincial + one per city + one per county outside the urban
    # district, + urban-district labs in the five most populous cities
    big5 = {c.code for c in sorted(CITIES, key=lambda c: -c.population_m)[:5]}
    out: dict[str, dict[str, int]] = {}
    k_other = 0
    for i, city in enumerate(CITIES):
        cdc = 1 + (city.n_counties - 1) + (1 if city.code in big5 else 0)
        if city.code == "4101":
            cdc += 1
            tp, mob = ZHENGZHOU_THIRD_PARTY, ZHENGZHOU_MOBILE
        else:
            tp, mob = tp_others[k_other], mob_others[k_other]
            k_other += 1
        out[city.code] = {
            "cdc": cdc,
            "hospital": hospitals[i],
            "designated_hospital": designated[i],
            "third_party": tp,
            "mobile": mob,
        }
    assert sum(v["cdc"] for v in out.values()) == PUBLISHED_LABS_CDC
    return out


@dataclass(frozen=True)
class _LabDraft:
    kind: str
    county: County
    name: str
    lat: float
    lon: float
    weight: float  # share of the city's remaining capacity (flexible kinds)
    fixed_per_day: int  # > 0: capacity set by the kind's published range


def _draft_labs(
    city: City,
    counties: list[County],
    counts: dict[str, int],
    hotspots: list[County],
    rng: np.random.Generator,
) -> list[_LabDraft]:
    pops = np.array([c.population for c in counties], dtype=np.float64)
    p = pops / pops.sum()
    seat = counties[0]
    drafts: list[_LabDraft] = []

    def add(kind: str, county: County, name: str, km: float, weight: float, fixed: int) -> None:
        lat, lon = jitter(rng, county.lat, county.lon, km, 1)
        drafts.append(
            _LabDraft(
                kind, county, f"{name} {SYNTHETIC}", float(lat[0]), float(lon[0]), weight, fixed
            )
        )

    # CDC: city CDC first (and the provincial CDC in Zhengzhou), then counties
    n_cdc = counts.get("cdc", 0)
    cdc_counties: list[County] = []
    if n_cdc:
        cdc_counties.append(seat)
        if city.code == "4101" and n_cdc > 1 and len(counties) > 1:
            cdc_counties.append(seat)
        order = counties[1:] + counties[:1]
        cdc_counties += [order[i % len(order)] for i in range(n_cdc - len(cdc_counties))]
    for j, c in enumerate(cdc_counties):
        if j == 0:
            add("cdc", c, f"{city.name_zh}市疾控中心实验室", 3, 3.0, 0)
        elif j == 1 and city.code == "4101" and c is seat:
            add("cdc", c, "河南省疾控中心实验室", 4, 4.0, 0)
        else:
            add("cdc", c, f"{c.name.split(' ')[0]}疾控中心实验室", 3, 0.7, 0)
    for j in range(counts.get("designated_hospital", 0)):
        c = seat if j == 0 else counties[int(rng.choice(len(counties), p=p))]
        add("designated_hospital", c, f"{c.name.split(' ')[0]}定点医院实验室{j + 1:02d}", 6, 1.6, 0)
    for j in range(counts.get("hospital", 0)):
        c = counties[int(rng.choice(len(counties), p=p))]
        add(
            "hospital",
            c,
            f"{c.name.split(' ')[0]}医院检验科{j + 1:03d}",
            8,
            float(rng.lognormal(0.0, 0.45)),
            0,
        )
    for j in range(counts.get("third_party", 0)):
        per_day = int(rng.integers(AIR_MEMBRANE_PER_DAY[0], AIR_MEMBRANE_PER_DAY[1] + 1))
        add(
            "third_party",
            seat,
            f"{city.name_zh}第三方检测实验室{j + 1:02d}(气膜)",
            12,
            0.0,
            per_day,
        )
    for j in range(counts.get("mobile", 0)):
        # vehicles go where the outbreak is
        c = hotspots[j % len(hotspots)] if hotspots else counties[j % len(counties)]
        per_day = int(rng.integers(MOBILE_PER_DAY[0], MOBILE_PER_DAY[1] + 1))
        add("mobile", c, f"{city.name_zh}移动检测车{j + 1:02d}", 4, 0.0, per_day)
    return drafts


def _size_labs(drafts: list[_LabDraft], per_day: int) -> list[int]:
    """Capacity per hour of each draft so that the nominal day sums to ``per_day``.

    Vehicles and air-membrane labs keep their published sizes unless they
    alone would take more than half the target (small networks); the hospital
    and CDC labs share the rest by weight.
    """
    fixed = np.array([d.fixed_per_day for d in drafts], dtype=np.float64)
    weight = np.array([d.weight for d in drafts], dtype=np.float64)
    if fixed.sum() > 0.5 * per_day:
        fixed *= 0.5 * per_day / fixed.sum()
    rest = per_day - fixed.sum()
    daily = fixed + (weight / weight.sum() * rest if weight.sum() > 0 else 0.0)
    per_hour = np.maximum(1, np.round(daily / 24)).astype(np.int64)
    return [int(x) for x in per_hour]


def _finish_labs(
    drafts: list[_LabDraft], per_hour: list[int], rng: np.random.Generator
) -> list[Lab]:
    labs: list[Lab] = []
    seq: dict[tuple[str, str], int] = {}
    n = len(drafts)
    u = rng.uniform(0, 1, n)
    runs = rng.integers(0, 4, n)
    for i, d in enumerate(drafts):
        key = (d.county.code, d.kind)
        seq[key] = seq.get(key, 0) + 1
        lab_id = f"L{d.county.code}-{KIND_TAG[d.kind]}{seq[key]:02d}"
        open_h, close_h = 0, 24
        if d.kind == "hospital":
            # base labs of smaller hospitals work a day shift; a few run nights
            if u[i] < 0.18:
                open_h, close_h = 8, 20
            elif u[i] < 0.22:
                open_h, close_h = 20, 8
        elif d.kind == "cdc" and u[i] < 0.15:
            open_h, close_h = 8, 18
        elif d.kind == "mobile" and u[i] < 0.25:
            open_h, close_h = 8, 20
        # extraction + amplification + review; designated hospitals run the
        # fever-clinic lines on short single-tube protocols
        run = {
            "cdc": (150, 180, 210, 240),
            "hospital": (180, 210, 240, 270),
            "designated_hospital": (120, 120, 150, 180),
            "third_party": (150, 180, 180, 210),
            "mobile": (150, 180, 180, 210),
        }[d.kind][int(runs[i])]
        iso = d.kind in ("cdc", "designated_hospital") or (
            d.kind in ("hospital", "third_party") and u[i] > 0.75
        )
        labs.append(
            Lab(
                lab_id=lab_id,
                name=d.name,
                kind=d.kind,
                county_code=d.county.code,
                lat=d.lat,
                lon=d.lon,
                capacity_per_hour=per_hour[i],
                run_minutes=run,
                open_hour=open_h,
                close_hour=close_h,
                isolation_ok=iso,
            )
        )
    return labs


def _ensure_hours(labs: list[Lab]) -> list[Lab]:
    """Every preset shows a day-only lab and a lab whose hours wrap midnight."""
    out = list(labs)
    hospitals = [i for i, lab in enumerate(out) if lab.kind == "hospital"]
    if not any(lab.open_hour > 0 and lab.open_hour < lab.close_hour for lab in out) and hospitals:
        out[hospitals[0]] = replace(out[hospitals[0]], open_hour=8, close_hour=20)
    if not any(lab.open_hour > lab.close_hour for lab in out) and len(hospitals) > 1:
        out[hospitals[-1]] = replace(out[hospitals[-1]], open_hour=20, close_hour=8)
    return out


# --------------------------------------------------------------------------- sites and uploads

SITE_KIND_ZH = {
    "fever": "发热门诊",
    "isolation": "集中隔离点",
    "contact": "封控区采样点",
    "community": "社区采样点",
}


@dataclass(frozen=True)
class _SitePlan:
    site: Site
    kind: str  # fever | isolation | contact | community
    pool: int  # community pooling (10 or 20)


def _county_sites(
    p: Preset,
    county: County,
    n_sites: int,
    hotspot: bool,
    rng: np.random.Generator,
) -> list[_SitePlan]:
    n_fever = max(1, round(n_sites * p.fever_share))
    n_iso = max(1, round(n_sites * p.isolation_share))
    n_contact = p.contact_sites_per_hotspot if hotspot else 0
    n_comm = max(1, n_sites - n_fever - n_iso - n_contact)
    kinds = ["fever"] * n_fever + ["isolation"] * n_iso + ["contact"] * n_contact
    kinds += ["community"] * n_comm
    spread = 8.0 if county.index == 1 else 14.0
    lat, lon = jitter(rng, county.lat, county.lon, spread, len(kinds))
    # a sealed area is a few km across, off the county seat
    clat, clon = jitter(rng, county.lat, county.lon, 6.0, 1)
    hlat, hlon = jitter(rng, float(clat[0]), float(clon[0]), 1.5, n_contact)
    near_lat, near_lon = jitter(rng, county.lat, county.lon, 5.0, n_fever + n_iso)
    pool20 = rng.uniform(0, 1, len(kinds)) < p.pool20_share
    out: list[_SitePlan] = []
    short = county.name.split(" ")[0]
    for i, kind in enumerate(kinds):
        if kind in ("fever", "isolation"):
            la, lo = near_lat[i], near_lon[i]
        elif kind == "contact":
            la, lo = hlat[i - n_fever - n_iso], hlon[i - n_fever - n_iso]
        else:
            la, lo = lat[i], lon[i]
        sid = f"S{county.code}-{i + 1:04d}"
        name = f"{short} {SITE_KIND_ZH[kind]}{i + 1:03d} {SYNTHETIC}"
        site = Site(sid, county.code, name, float(la), float(lo))
        out.append(_SitePlan(site, kind, 20 if pool20[i] else 10))
    return out


def _at(day: int, hour: float) -> datetime:
    return DAY0 + timedelta(days=day, hours=hour)


def _site_rows(p: Preset, sp: _SitePlan, rng: np.random.Generator) -> list[UploadRow]:
    s = sp.site
    rows: list[UploadRow] = []
    due = _at(1, 9) if p.screening else None

    def row(
        start: datetime,
        hours: float,
        category: str,
        pool: int,
        people: int | np.integer,
        due_at: datetime | None = None,
    ) -> None:
        if people >= 1:
            rows.append(
                UploadRow(
                    s.county_code,
                    s.site_id,
                    s.name,
                    s.lat,
                    s.lon,
                    start,
                    start + timedelta(hours=hours),
                    category,
                    pool,
                    int(people),
                    due_at,
                )
            )

    if sp.kind == "fever":
        # round the clock, a box an hour: urgent samples cannot wait for a
        # longer window and still make the 6-hour SLA
        for h in range(-2, 22):
            row(_at(0, h), 1, "fever_clinic", 1, rng.poisson(p.fever_people))
    elif sp.kind == "isolation":
        for d, h in ((-1, 20), (0, 7), (0, 15)):
            row(_at(d, h), 1, "isolation_point", 1, rng.integers(20, 160))
    elif sp.kind == "contact":
        for d, h in ((-1, 20), (0, 8), (0, 14), (0, 19)):
            row(_at(d, h), 2, "close_contact", 1, rng.integers(10, 90))
            # residents of the surrounding controlled area, 5:1
            row(_at(d, h), 2, "key_population", 5, rng.integers(100, 500), due)
    else:
        scale = rng.lognormal(0.0, 0.35)
        for k, h in enumerate(p.community_hours):
            people = rng.poisson(p.community_people * scale)
            # key workers (drivers, medical staff) are swabbed first thing
            if k == 0 and rng.uniform() < 0.3:
                row(_at(0, h), 1, "key_population", 10, rng.integers(50, 300), due)
            row(_at(0, h), 1, "community", sp.pool, people, due)
    return rows


# --------------------------------------------------------------------------- the fixture


@dataclass(frozen=True)
class Fixture:
    """A generated instance and the upload rows it was derived from."""

    preset: Preset
    seed: int
    problem: Problem
    uploads: dict[str, list[UploadRow]]  # county code -> rows, in file order
    counties: tuple[County, ...]


def _counties_of(p: Preset, geo: dict[str, list[County]]) -> list[County]:
    out = [c for code in p.cities for c in geo[code]]
    if p.county is not None:
        out = [c for c in out if c.code == p.county]
        if not out:
            raise ValueError(f"preset {p.name}: no county {p.county}")
    return out


def generate(name: str, seed: int | None = None) -> Fixture:
    """Generate preset ``name``; ``seed`` defaults to the preset's own."""
    p = preset(name)
    seed = p.default_seed if seed is None else seed
    geo = make_geography(seed)
    counties = _counties_of(p, geo)
    rng_sites = np.random.default_rng([seed, 3])
    n_hot = min(p.hotspots, len(counties))
    # hotspots are picked among the more populous counties, as outbreaks were
    pops = np.array([c.population for c in counties], dtype=np.float64)
    hot_idx = rng_sites.choice(len(counties), size=n_hot, replace=False, p=pops / pops.sum())
    hotspots = [counties[int(i)] for i in sorted(hot_idx)]

    # labs, city by city (one stream per city: the same seed gives Zhengzhou
    # the same capacities in the city and the province presets)
    labs: list[Lab] = []
    counts_all = province_lab_counts() if p.lab_counts is None else None
    for code in p.cities:
        city = CITY_BY_CODE[code]
        k = [c.code for c in CITIES].index(code)
        rng = np.random.default_rng([seed, 2, k])
        city_counties = [c for c in counties if c.city.code == code]
        city_hot = [c for c in hotspots if c.city.code == code]
        if counts_all is not None:
            counts, per_day = counts_all[code], city_capacity(city)
        else:
            assert p.lab_counts is not None
            counts, per_day = p.lab_counts, p.capacity_per_day
        drafts = _draft_labs(city, city_counties, counts, city_hot, rng)
        labs += _finish_labs(drafts, _size_labs(drafts, per_day), rng)
        if p.reinforcement:
            extra = _draft_labs(city, city_counties, p.reinforcement, city_hot, rng)
            extra = [
                _LabDraft(
                    d.kind,
                    d.county,
                    d.name.replace(city.name_zh, "外援", 1),
                    d.lat,
                    d.lon,
                    d.weight,
                    d.fixed_per_day,
                )
                for d in extra
            ]
            per_hour = [max(1, round(d.fixed_per_day / 24)) for d in extra]
            more = _finish_labs(extra, per_hour, rng)
            # reinforcements get their own ids (they share counties with local labs)
            labs += [replace(lab, lab_id=lab.lab_id.replace("-", "-X", 1)) for lab in more]
    labs = _ensure_hours(labs)
    rng_lab = np.random.default_rng([seed, 4])
    backlog = rng_lab.uniform(0, 1, len(labs)) < p.backlog_share
    hours = rng_lab.uniform(*p.backlog_hours, len(labs))
    labs = [
        replace(lab, backlog_tubes=int(lab.capacity_per_hour * hours[i])) if backlog[i] else lab
        for i, lab in enumerate(labs)
    ]
    if not any(lab.backlog_tubes for lab in labs):
        labs[0] = replace(labs[0], backlog_tubes=labs[0].capacity_per_hour * 2)

    # sites and upload rows, county by county
    n_per_county = apportion(p.n_sites, [c.population for c in counties], minimum=3)
    uploads: dict[str, list[UploadRow]] = {}
    sites: list[Site] = []
    for county, n in zip(counties, n_per_county, strict=True):
        rng_c = np.random.default_rng([seed, 5, int(county.code)])
        plans = _county_sites(p, county, n, county in hotspots, rng_c)
        rows: list[UploadRow] = []
        for sp in plans:
            rows += _site_rows(p, sp, rng_c)
        used = {r.site_id for r in rows}
        sites += [sp.site for sp in plans if sp.site.site_id in used]
        uploads[county.code] = rows
    # county-code order, the order in which the upload files are read back
    batches = counts_to_batches(r for code in sorted(uploads) for r in uploads[code])

    config = Config(plan_start=PLAN_START, horizon_hours=48, slot_minutes=60, travel=TravelModel())
    outages = _outages(p, labs, rng_lab)
    overrides = _overrides(p, config.travel, sites, labs, rng_lab)
    problem = Problem(
        config=config,
        labs=tuple(labs),
        sites=tuple(sites),
        batches=tuple(batches),
        travel_overrides=tuple(overrides),
        outages=tuple(outages),
    )
    return Fixture(p, seed, problem, uploads, tuple(counties))


def _outages(p: Preset, labs: list[Lab], rng: np.random.Generator) -> list[Outage]:
    """Instrument failures and disinfection stops on day one, 2-6 hours each."""
    n = max(1, min(p.outages, len(labs)))
    # prefer labs that matter: never a lab so small that the outage is invisible
    order = rng.permutation(len(labs))
    picked = [int(i) for i in order if labs[int(i)].open_hour == 0][:n]
    out = []
    for i in sorted(picked):
        start = _at(0, int(rng.integers(10, 20)))
        out.append(Outage(labs[i].lab_id, start, start + timedelta(hours=int(rng.integers(2, 7)))))
    return out


def _overrides(
    p: Preset, tm: TravelModel, sites: list[Site], labs: list[Lab], rng: np.random.Generator
) -> list[TravelOverride]:
    """A few site -> lab pairs whose road differs from the formula.

    Half are closures around sealed areas (minutes above the cold-chain limit,
    so the pair is forbidden), half expressway shortcuts (70% of the formula).
    """
    out: list[TravelOverride] = []
    if not p.travel_overrides or not sites:
        return out
    idx = rng.choice(len(sites), size=min(p.travel_overrides, len(sites)), replace=False)
    lab_lat = np.array([lab.lat for lab in labs])
    lab_lon = np.array([lab.lon for lab in labs])
    for k, i in enumerate(sorted(int(x) for x in idx)):
        s = sites[i]
        km = haversine_km(np.array(s.lat), np.array(s.lon), lab_lat, lab_lon)
        j = int(np.argmin(km))
        formula = tm.handling_minutes + math.ceil(float(km[j]) * tm.road_factor / tm.speed_kmh * 60)
        minutes = (
            tm.max_travel_minutes + 60
            if k % 2 == 0
            else max(tm.handling_minutes, round(formula * 0.7))
        )
        out.append(TravelOverride(s.site_id, labs[j].lab_id, minutes))
    return out


def lab_kind_counts(problem: Problem) -> dict[str, int]:
    return {k: sum(1 for lab in problem.labs if lab.kind == k) for k in LAB_KINDS}


def nominal_capacity(problem: Problem, county_prefix: str = "") -> int:
    """Sum of ``capacity_per_hour * 24`` (tubes/day), optionally for one city prefix."""
    return sum(
        lab.capacity_per_hour * 24
        for lab in problem.labs
        if lab.county_code.startswith(county_prefix)
    )


@dataclass(frozen=True)
class Pressure:
    """How demand compares with the capacity that can still meet deadlines.

    ``on_time_capacity`` counts, over all labs, the tubes of the slots left
    after backlog (outages and opening hours applied) whose results come by
    the latest deadline of any batch: ``slot end + run_minutes <= deadline``.
    No plan can finish more tubes on time, so ``ratio > 1`` proves that at
    least ``tubes - on_time_capacity`` tubes are late or unassigned.
    """

    tubes: int
    on_time_capacity: int

    @property
    def ratio(self) -> float:
        return self.tubes / self.on_time_capacity if self.on_time_capacity else math.inf

    @property
    def shortfall(self) -> int:
        return max(0, self.tubes - self.on_time_capacity)


def pressure(problem: Problem) -> Pressure:
    cfg = problem.config
    _, left = slot_capacity_matrix(problem)
    latest = max(to_seconds(problem, problem.deadline_of(b)) for b in problem.batches)
    slot_s = cfg.slot_minutes * 60
    ends = (np.arange(cfg.n_slots, dtype=np.int64) + 1) * slot_s
    run = np.array([lab.run_minutes * 60 for lab in problem.labs], dtype=np.int64)
    usable = ends[None, :] + run[:, None] <= latest
    return Pressure(problem.total_tubes, int(left[usable].sum()))


def summary(fx: Fixture) -> dict[str, object]:
    """Calibration figures of a fixture (written to ``fixture.json``)."""
    pr = fx.problem
    pres = pressure(pr)
    return {
        "preset": fx.preset.name,
        "seed": fx.seed,
        "description": fx.preset.description,
        "labs": len(pr.labs),
        "labs_by_kind": lab_kind_counts(pr),
        "sites": len(pr.sites),
        "batches": len(pr.batches),
        "tubes": pr.total_tubes,
        "people": sum(b.people or 0 for b in pr.batches),
        "nominal_capacity_per_day": nominal_capacity(pr),
        "capacity_per_day_by_city": {
            code: nominal_capacity(pr, code)
            for code in fx.preset.cities
            if nominal_capacity(pr, code)
        },
        "on_time_capacity": pres.on_time_capacity,
        "demand_ratio": round(pres.ratio, 4),
        "upload_files": len(fx.uploads),
    }


def write_fixture(fx: Fixture, outdir: str | Path) -> Path:
    """Write the SPEC instance, ``uploads/`` and ``fixture.json`` into ``outdir``."""
    out = write_instance(fx.problem, outdir)
    write_uploads(fx.uploads, out / "uploads")
    (out / "fixture.json").write_text(
        json.dumps(summary(fx), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return out
