"""Scenario changes: one line a person can read, one frozen dataclass the tool applies.

The grammar (``F`` a factor such as ``x0.5``, times ``HH:MM`` on the plan's
first day -- the date of ``config.plan_start`` -- or full ``YYYY-MM-DDTHH:MM``;
a range ``a..b`` whose ``b`` may be time-only, meaning a's day, or the next
day when that is not after ``a``; ``AREA`` a 4-digit city code ``41CC`` or a
6-digit county code ``41CCXX``)::

    lab ID down A..B                      an outage
    lab ID capacity xF                    one lab's tubes/hour
    labs city|county AREA capacity xF     every lab of a city or county
    add mobile lab at AREA N/day [from T] [isolation yes|no]
    demand city|county AREA xF            tubes (and people) of the area's batches
    demand category K xF                  batches of a category's (priority, isolation) class
    screening city|county AREA people N window A-B pool P due Dh
    travel xF                             drive time (weather, checkpoints)
    sla PRIORITY Dh                       the SLA hours of a priority

Parsing needs the base problem: times resolve against its first day, and ids
and areas are checked against it, so every refusal names its position
(``column C``) and the rule of its line form. :func:`apply` is pure and
applies the changes in order; rounding and the choices behind each change
are documented on its dataclass.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta

from scheduler.batching import CATEGORY_RULES, UploadRow, row_to_batches
from scheduler.domain import PRIORITIES, Batch, Lab, Outage, Problem, TravelOverride

RULES: dict[str, str] = {
    "lab": "lab ID down A..B | lab ID capacity xF",
    "labs": "labs city|county AREA capacity xF",
    "add": "add mobile lab at AREA N/day [from T] [isolation yes|no]",
    "demand": "demand city|county AREA xF | demand category K xF",
    "screening": "screening city|county AREA people N window A-B pool P due Dh",
    "travel": "travel xF",
    "sla": "sla PRIORITY Dh",
}

#: categories sharing a (priority, isolation) class cannot be told apart in a SPEC folder
CATEGORY_CLASS_NOTE = (
    "a SPEC folder has no category, so K selects the batches of its (priority, isolation) "
    "class; fever_clinic and isolation_point share one"
)


class ChangeError(ValueError):
    """A change line that cannot be read or does not fit the base problem."""

    def __init__(self, column: int, message: str) -> None:
        super().__init__(f"column {column}: {message}")
        self.column = column
        self.message = message


# ---------------------------------------------------------------------------
# the changes


@dataclass(frozen=True)
class LabDown:
    """The lab tests nothing in ``[start, end)`` (a SPEC outage)."""

    lab_id: str
    start: datetime
    end: datetime

    def text(self) -> str:
        return f"lab {self.lab_id} down {_ts(self.start)}..{_ts(self.end)}"


@dataclass(frozen=True)
class LabCapacity:
    """``capacity_per_hour`` times ``factor``, rounded half up to whole tubes."""

    lab_id: str
    factor: float

    def text(self) -> str:
        return f"lab {self.lab_id} capacity x{_num(self.factor)}"


@dataclass(frozen=True)
class AreaCapacity:
    """Every lab standing in the city/county ``area``: as :class:`LabCapacity`."""

    area: str
    factor: float

    def text(self) -> str:
        return f"labs {_area_word(self.area)} {self.area} capacity x{_num(self.factor)}"


@dataclass(frozen=True)
class AddMobileLab:
    """A mobile lab of ``per_day`` tubes a day in ``area``, usable from ``start``.

    ``capacity_per_hour = round(per_day / 24)`` (half up: 40,000/day is 1,667/h),
    open 0-24 (the SPEC's always-open window), ``run_minutes`` the median of the
    base's labs (the lower middle value, so it is one a real lab has), at the
    centroid of the area's collection sites, standing in the county of the
    site nearest that centroid. Before ``start`` it has an outage from the
    plan's start, so it tests nothing in a slot that begins before ``start``.
    """

    area: str
    per_day: int
    start: datetime | None = None
    isolation: bool = False

    def text(self) -> str:
        out = f"add mobile lab at {self.area} {self.per_day}/day"
        if self.start is not None:
            out += f" from {_ts(self.start)}"
        return out + f" isolation {'yes' if self.isolation else 'no'}"


@dataclass(frozen=True)
class AreaDemand:
    """Tubes and people of the batches at the area's sites times ``factor``.

    Rounded half up, at least 1 tube (a box stays a box); people likewise,
    at least 1 when given.
    """

    area: str
    factor: float

    def text(self) -> str:
        return f"demand {_area_word(self.area)} {self.area} x{_num(self.factor)}"


@dataclass(frozen=True)
class CategoryDemand:
    """As :class:`AreaDemand` for the batches of a category's (priority, isolation) class.

    A SPEC folder has no category column, so the class is all that can be
    recognised: ``fever_clinic`` and ``isolation_point`` select the same batches.
    """

    category: str
    factor: float

    def text(self) -> str:
        return f"demand category {self.category} x{_num(self.factor)}"


@dataclass(frozen=True)
class Screening:
    """A citywide screening: ``people`` swabbed at the area's sites in the window.

    The people are spread over the area's sites in proportion to the tubes
    those sites have now (evenly when they have none), by largest remainders
    so they add up exactly; each site's share is one ``community`` upload row
    pooled ``pool``:1, turned into boxes by :func:`~scheduler.batching.row_to_batches`
    (the upload rule: ready 30 min after the window, boxes of 100). The
    deadline is ``window_start + due_hours``: the 24 h rule counts from the
    first swab, as ``collected_at`` does. Batch ids take row numbers past any
    the site already has, so they never collide.
    """

    area: str
    people: int
    window_start: datetime
    window_end: datetime
    pool: int
    due_hours: float

    def text(self) -> str:
        return (
            f"screening {_area_word(self.area)} {self.area} people {self.people} window "
            f"{_ts(self.window_start)}..{_ts(self.window_end)} pool {self.pool} "
            f"due {_num(self.due_hours)}h"
        )

    @property
    def due_at(self) -> datetime:
        return self.window_start + timedelta(hours=self.due_hours)


@dataclass(frozen=True)
class TravelFactor:
    """Drive time times ``factor``: ``speed_kmh / factor``; travel.csv minutes
    times ``factor`` rounded half up. Handling minutes stay."""

    factor: float

    def text(self) -> str:
        return f"travel x{_num(self.factor)}"


@dataclass(frozen=True)
class SlaHours:
    """``sla_hours[priority] = hours`` (batches with their own deadline keep it)."""

    priority: str
    hours: float

    def text(self) -> str:
        return f"sla {self.priority} {_num(self.hours)}h"


Change = (
    LabDown
    | LabCapacity
    | AreaCapacity
    | AddMobileLab
    | AreaDemand
    | CategoryDemand
    | Screening
    | TravelFactor
    | SlaHours
)


# ---------------------------------------------------------------------------
# formatting helpers (text() is parseable again: the round trip is tested)


def _num(x: float) -> str:
    return f"{x:g}" if abs(x) < 1e15 else repr(x)


def _ts(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M") + (f":{when.second:02d}" if when.second else "")


def _area_word(area: str) -> str:
    return "city" if len(area) == 4 else "county"


def city_of_area(county_code: str) -> str:
    return county_code[:4]


def in_area(county_code: str, area: str) -> bool:
    return county_code.startswith(area) if len(area) == 4 else county_code == area


# ---------------------------------------------------------------------------
# the parser


@dataclass(frozen=True)
class _Tok:
    text: str
    column: int  # 1-based


_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
_STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?$")
_FACTOR = re.compile(r"^x(\d+(\.\d*)?|\.\d+)$")
_HOURS = re.compile(r"^(\d+(\.\d*)?|\.\d+)h$")
_PER_DAY = re.compile(r"^(\d+)/day$")


class _Reader:
    """Tokens of one line, read left to right; each ``expect`` names what it wanted."""

    def __init__(self, line: str, problem: Problem, rule: str) -> None:
        self.toks = [_Tok(m.group(), m.start() + 1) for m in re.finditer(r"\S+", line)]
        self.i = 0
        self.end_col = len(line.rstrip()) + 2
        self.problem = problem
        self.rule = rule

    def fail(self, tok: _Tok | None, what: str) -> ChangeError:
        col = tok.column if tok is not None else self.end_col
        got = f", got {tok.text!r}" if tok is not None else ", got the end of the line"
        return ChangeError(col, f"expected {what}{got} (rule: {self.rule})")

    def peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def next(self, what: str) -> _Tok:
        tok = self.peek()
        if tok is None:
            raise self.fail(None, what)
        self.i += 1
        return tok

    def word(self, *words: str) -> str:
        tok = self.next(" or ".join(repr(w) for w in words))
        if tok.text.lower() not in words:
            raise self.fail(tok, " or ".join(repr(w) for w in words))
        return tok.text.lower()

    def done(self) -> None:
        tok = self.peek()
        if tok is not None:
            raise self.fail(tok, "the end of the line")

    def factor(self) -> float:
        what = "a factor like x0.5 or x2"
        tok = self.next(what)
        m = _FACTOR.match(tok.text.lower())
        if not m:
            raise self.fail(tok, what)
        value = float(m.group(1))
        if not math.isfinite(value) or value < 0:
            raise self.fail(tok, what)
        return value

    def positive_int(self, what: str) -> int:
        tok = self.next(what)
        text = tok.text.replace(",", "").replace("_", "")
        if not text.isdigit() or int(text) < 1:
            raise self.fail(tok, what)
        return int(text)

    def hours(self) -> float:
        what = "hours like 24h"
        tok = self.next(what)
        m = _HOURS.match(tok.text.lower())
        if not m or float(m.group(1)) <= 0:
            raise self.fail(tok, what)
        return float(m.group(1))

    def lab_id(self) -> str:
        tok = self.next("a lab id")
        if tok.text not in self.problem.lab_index:
            raise ChangeError(
                tok.column, f"unknown lab {tok.text!r} (rule: {self.rule}; ids as in labs.csv)"
            )
        return tok.text

    def area(self, kind: str, *, sites: bool) -> str:
        """A city (4 digits) or county (6 digits) code with labs or sites in the base."""
        digits = 4 if kind == "city" else 6
        what = f"a {digits}-digit {kind} code"
        tok = self.next(what)
        if not (tok.text.isdigit() and len(tok.text) == digits):
            raise self.fail(tok, what)
        codes = (
            [s.county_code for s in self.problem.sites]
            if sites
            else [lab.county_code for lab in self.problem.labs]
        )
        if not any(in_area(c, tok.text) for c in codes):
            held = "collection sites" if sites else "labs"
            raise ChangeError(
                tok.column, f"{kind} {tok.text} has no {held} in the base (rule: {self.rule})"
            )
        return tok.text

    def area_any(self, *, sites: bool) -> str:
        """``AREA`` with no city/county word before it (``add mobile lab at``)."""
        tok = self.peek()
        kind = "city" if tok is not None and len(tok.text) == 4 else "county"
        if tok is not None and not (tok.text.isdigit() and len(tok.text) in (4, 6)):
            raise self.fail(tok, "a 4-digit city or 6-digit county code")
        return self.area(kind, sites=sites)

    # times ----------------------------------------------------------------

    @property
    def first_day(self) -> date:
        return self.problem.config.plan_start.date()

    def moment(self, tok: _Tok, text: str, day: date | None = None) -> tuple[datetime, bool]:
        """``text`` as a datetime, and whether it was time-only."""
        what = "a time HH:MM or a timestamp YYYY-MM-DDTHH:MM"
        m = _TIME.match(text)
        if m:
            h, mi = int(m.group(1)), int(m.group(2))
            if h > 23 or mi > 59:
                raise self.fail(tok, what)
            return datetime.combine(day or self.first_day, time(h, mi)), True
        if _STAMP.match(text):
            try:
                return datetime.fromisoformat(text.replace(" ", "T")), False
            except ValueError:
                pass
        raise self.fail(tok, what)

    def when(self) -> datetime:
        tok = self.next("a time HH:MM or a timestamp YYYY-MM-DDTHH:MM")
        return self.moment(tok, tok.text)[0]

    def span(self, *, dash: bool) -> tuple[datetime, datetime]:
        """``a..b`` (or ``HH:MM-HH:MM`` when ``dash``): b time-only is a's day or the next."""
        what = "a range a..b" + (" or HH:MM-HH:MM" if dash else "")
        tok = self.next(what)
        if ".." in tok.text:
            left, right = tok.text.split("..", 1)
        elif dash and re.match(r"^\d{1,2}:\d{2}-\d{1,2}:\d{2}$", tok.text):
            left, right = tok.text.split("-", 1)
        else:
            raise self.fail(tok, what)
        a, _ = self.moment(tok, left)
        b, time_only = self.moment(tok, right, a.date())
        if time_only and b <= a:
            b += timedelta(days=1)
        if b <= a:
            raise ChangeError(tok.column, f"the range must end after it starts (rule: {self.rule})")
        return a, b


def parse_change(line: str, problem: Problem) -> Change:
    """One change line checked against ``problem``; raises :class:`ChangeError`."""
    first = line.split()[0].lower() if line.split() else ""
    if first not in RULES:
        r = _Reader(line, problem, "a change starts with " + ", ".join(RULES))
        raise r.fail(r.peek(), "a change")
    r = _Reader(line, problem, RULES[first])
    r.next(first)
    out: Change
    if first == "lab":
        lab_id = r.lab_id()
        verb = r.word("down", "capacity")
        if verb == "down":
            r.rule = "lab ID down A..B"
            down_from, down_to = r.span(dash=False)
            out = LabDown(lab_id, down_from, down_to)
        else:
            r.rule = "lab ID capacity xF"
            out = LabCapacity(lab_id, r.factor())
    elif first == "labs":
        kind = r.word("city", "county")
        area = r.area(kind, sites=False)
        r.word("capacity")
        out = AreaCapacity(area, r.factor())
    elif first == "add":
        r.word("mobile")
        r.word("lab")
        r.word("at")
        area = r.area_any(sites=True)
        tok = r.next("tubes per day like 40000/day")
        m = _PER_DAY.match(tok.text.replace(",", "").lower())
        if not m or int(m.group(1)) < 1:
            raise r.fail(tok, "tubes per day like 40000/day")
        start: datetime | None = None
        isolation = False
        while r.peek() is not None:
            opt = r.word("from", "isolation")
            if opt == "from":
                start = r.when()
            else:
                isolation = r.word("yes", "no") == "yes"
        out = AddMobileLab(area, int(m.group(1)), start, isolation)
    elif first == "demand":
        kind = r.word("city", "county", "category")
        if kind == "category":
            r.rule = "demand category K xF"
            tok = r.next("a category")
            if tok.text not in CATEGORY_RULES:
                raise ChangeError(
                    tok.column,
                    f"expected one of {', '.join(CATEGORY_RULES)}, got {tok.text!r} "
                    f"(rule: {r.rule}; {CATEGORY_CLASS_NOTE})",
                )
            out = CategoryDemand(tok.text, r.factor())
        else:
            r.rule = "demand city|county AREA xF"
            area = r.area(kind, sites=True)
            out = AreaDemand(area, r.factor())
    elif first == "screening":
        kind = r.word("city", "county")
        area = r.area(kind, sites=True)
        r.word("people")
        people = r.positive_int("a number of people >= 1")
        r.word("window")
        w0, w1 = r.span(dash=True)
        r.word("pool")
        pool = r.positive_int("a pooling ratio >= 1 (10 means 10:1)")
        r.word("due")
        out = Screening(area, people, w0, w1, pool, r.hours())
    elif first == "travel":
        at = r.peek()
        factor = r.factor()
        if factor <= 0:
            raise r.fail(at, "a factor > 0")
        out = TravelFactor(factor)
    else:
        tok = r.next("a priority")
        if tok.text not in PRIORITIES:
            raise r.fail(tok, "one of " + ", ".join(PRIORITIES))
        out = SlaHours(tok.text, r.hours())
    r.done()
    return out


def parse_changes(lines: Sequence[str], problem: Problem) -> list[Change]:
    """Every line parsed; the first bad one raises with its 1-based position added."""
    out: list[Change] = []
    for n, line in enumerate(lines, 1):
        try:
            out.append(parse_change(line, problem))
        except ChangeError as exc:
            raise LineError(n, exc) from exc
    return out


class LineError(ValueError):
    """A :class:`ChangeError` of the ``line``-th change (1-based)."""

    def __init__(self, line: int, error: ChangeError) -> None:
        super().__init__(f"line {line}, {error}")
        self.line = line
        self.error = error


def read_scenario_file(text: str, problem: Problem) -> list[Change]:
    """A scenario file: one change a line; blank lines and ``#`` comments are skipped."""
    out: list[Change] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0]
        if not line.strip():
            continue
        try:
            out.append(parse_change(line, problem))
        except ChangeError as exc:
            raise LineError(n, exc) from exc
    return out


# ---------------------------------------------------------------------------
# applying


def _half_up(x: float) -> int:
    return math.floor(x + 0.5)


def _scaled_lab(lab: Lab, factor: float) -> Lab:
    return replace(lab, capacity_per_hour=_half_up(lab.capacity_per_hour * factor))


def _scaled_batch(b: Batch, factor: float) -> Batch:
    people = None if b.people is None else max(1, _half_up(b.people * factor))
    return replace(b, tubes=max(1, _half_up(b.tubes * factor)), people=people)


def area_sites(problem: Problem, area: str) -> list[int]:
    return [i for i, s in enumerate(problem.sites) if in_area(s.county_code, area)]


def median_run_minutes(problem: Problem) -> int:
    """The run minutes of an added mobile lab: the lower median of ``problem``'s labs."""
    runs = [lab.run_minutes for lab in problem.labs]
    return int(statistics.median_low(runs)) if runs else 180


def mobile_lab(problem: Problem, change: AddMobileLab, lab_id: str, run_minutes: int) -> Lab:
    """The lab an :class:`AddMobileLab` adds (no outage: see :func:`mobile_outage`)."""
    idx = area_sites(problem, change.area)
    if not idx:
        raise ValueError(f"no collection site in {change.area}")
    lat = sum(problem.sites[i].lat for i in idx) / len(idx)
    lon = sum(problem.sites[i].lon for i in idx) / len(idx)
    near = min(
        idx, key=lambda i: (problem.sites[i].lat - lat) ** 2 + (problem.sites[i].lon - lon) ** 2
    )
    return Lab(
        lab_id=lab_id,
        name=f"mobile lab {lab_id} (scenario)",
        kind="mobile",
        county_code=problem.sites[near].county_code,
        lat=round(lat, 5),
        lon=round(lon, 5),
        capacity_per_hour=_half_up(change.per_day / 24),
        run_minutes=run_minutes,
        open_hour=0,
        close_hour=24,
        isolation_ok=change.isolation,
    )


def mobile_outage(problem: Problem, lab_id: str, start: datetime | None) -> Outage | None:
    """Unavailable from the plan's start until ``start`` (None when it is there at once)."""
    begin = problem.config.plan_start
    if start is None or start <= begin:
        return None
    return Outage(lab_id, begin, start)


def new_lab_id(taken: set[str], area: str) -> str:
    n = 1
    while f"L{area}-X{n:02d}" in taken:
        n += 1
    return f"L{area}-X{n:02d}"


def add_mobile_labs(
    problem: Problem,
    placements: Sequence[tuple[AddMobileLab, int]],
    run_minutes: int | None = None,
) -> Problem:
    """``problem`` with ``count`` labs of each ``(change, count)`` added.

    ``run_minutes`` defaults to the median of ``problem``'s labs, taken once
    before any is added, so the order of the additions does not matter.
    """
    run = median_run_minutes(problem) if run_minutes is None else run_minutes
    labs = list(problem.labs)
    outages = list(problem.outages)
    taken = {lab.lab_id for lab in labs}
    for change, count in placements:
        for _ in range(count):
            lab_id = new_lab_id(taken, change.area)
            taken.add(lab_id)
            labs.append(mobile_lab(problem, change, lab_id, run))
            out = mobile_outage(problem, lab_id, change.start)
            if out is not None:
                outages.append(out)
    return replace(problem, labs=tuple(labs), outages=tuple(outages))


def _spread(total: int, weights: list[float]) -> list[int]:
    """``total`` split in proportion to ``weights`` by largest remainders (sums exactly)."""
    s = sum(weights)
    if s <= 0:
        weights, s = [1.0] * len(weights), float(len(weights))
    raw = [total * w / s for w in weights]
    out = [math.floor(x) for x in raw]
    order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - out[i]), i))
    for i in order[: total - sum(out)]:
        out[i] += 1
    return out


def screening_batches(problem: Problem, change: Screening) -> list[Batch]:
    """The boxes a :class:`Screening` adds, by the upload batching rule."""
    idx = area_sites(problem, change.area)
    tubes_at = [0.0] * len(problem.sites)
    for b in problem.batches:
        tubes_at[problem.site_index[b.site_id]] += b.tubes
    shares = _spread(change.people, [tubes_at[i] for i in idx])
    taken = set(problem.batch_index)
    out: list[Batch] = []
    for i, people in zip(idx, shares, strict=True):
        if people < 1:
            continue
        s = problem.sites[i]
        row = UploadRow(
            county_code=s.county_code,
            site_id=s.site_id,
            site_name=s.name,
            lat=s.lat,
            lon=s.lon,
            window_start=change.window_start,
            window_end=change.window_end,
            category="community",
            pool_size=change.pool,
            people=people,
            due_at=change.due_at,
        )
        # the first row number whose box ids are all new
        n = 1
        while True:
            boxes = row_to_batches(row, n)
            if not any(b.batch_id in taken for b in boxes):
                break
            n += 1
        taken.update(b.batch_id for b in boxes)
        out.extend(boxes)
    return out


def apply(problem: Problem, changes: Sequence[Change]) -> Problem:
    """``problem`` with ``changes`` applied in order (pure: ``problem`` is untouched).

    Added mobile labs all take the median run minutes of ``problem``'s labs.
    """
    run = median_run_minutes(problem)
    for c in changes:
        problem = apply_one(problem, c, run)
    return problem


def apply_one(problem: Problem, c: Change, run_minutes: int | None = None) -> Problem:
    if isinstance(c, LabDown):
        return replace(problem, outages=(*problem.outages, Outage(c.lab_id, c.start, c.end)))
    if isinstance(c, LabCapacity):
        return replace(
            problem,
            labs=tuple(
                _scaled_lab(lab, c.factor) if lab.lab_id == c.lab_id else lab
                for lab in problem.labs
            ),
        )
    if isinstance(c, AreaCapacity):
        return replace(
            problem,
            labs=tuple(
                _scaled_lab(lab, c.factor) if in_area(lab.county_code, c.area) else lab
                for lab in problem.labs
            ),
        )
    if isinstance(c, AddMobileLab):
        return add_mobile_labs(problem, [(c, 1)], run_minutes)
    if isinstance(c, AreaDemand):
        sites = {problem.sites[i].site_id for i in area_sites(problem, c.area)}
        return replace(
            problem,
            batches=tuple(
                _scaled_batch(b, c.factor) if b.site_id in sites else b for b in problem.batches
            ),
        )
    if isinstance(c, CategoryDemand):
        cls = CATEGORY_RULES[c.category]
        return replace(
            problem,
            batches=tuple(
                _scaled_batch(b, c.factor) if (b.priority, b.isolation) == cls else b
                for b in problem.batches
            ),
        )
    if isinstance(c, Screening):
        return replace(problem, batches=(*problem.batches, *screening_batches(problem, c)))
    if isinstance(c, TravelFactor):
        cfg = problem.config
        travel = replace(cfg.travel, speed_kmh=cfg.travel.speed_kmh / c.factor)
        return replace(
            problem,
            config=replace(cfg, travel=travel),
            travel_overrides=tuple(
                TravelOverride(t.site_id, t.lab_id, _half_up(t.minutes * c.factor))
                for t in problem.travel_overrides
            ),
        )
    if isinstance(c, SlaHours):
        cfg = problem.config
        return replace(
            problem, config=replace(cfg, sla_hours={**cfg.sla_hours, c.priority: c.hours})
        )
    raise TypeError(f"not a change: {c!r}")


def scale_demand(problem: Problem, factor: float) -> Problem:
    """Every batch's tubes and people times ``factor`` (the sweep's demand axis)."""
    return replace(problem, batches=tuple(_scaled_batch(b, factor) for b in problem.batches))
