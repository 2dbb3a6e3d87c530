"""SPEC instance folders <-> :class:`~scheduler.domain.Problem`, plan CSV <-> :class:`Plan`.

This is the file edge of the library (SPEC.md sections 1 and 2). Reading is
done in two phases: first every cell of every file is parsed and checked, and
every problem is collected as a :class:`Located` (file, physical line,
column); only when there is none are the domain objects built. So a user sees
all that is wrong with an upload at once, never a traceback.

Decisions where the SPEC leaves room:

* ``batches.isolation`` may be absent or empty and then means ``false``
  (the domain default); ``labs.isolation_ok`` is required.
* ``name`` and ``county_code`` may be empty; ids may not.
* Integers may be written ``12`` or ``12.0`` (what pandas writes for an int
  column with gaps); ``12.5`` is rejected.
* Timestamps: ``YYYY-MM-DDTHH:MM`` with optional ``:SS`` and fraction of a
  second; a space may replace the ``T``; offsets and ``Z`` are rejected.
* ``travel.*`` keys may be written nested (``"travel": {"speed_kmh": 40}``)
  or flat (``"travel.speed_kmh": 40``); unknown keys of ``instance.json`` and
  of ``travel`` are ignored (the project may add options), unknown priorities
  in ``sla_hours`` / ``priority_weight`` are errors.
* travel.csv may not name the same (site, lab) pair twice.
* Cells are stripped of surrounding whitespace, so text that begins or ends
  with blanks does not survive a write/read round trip.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from scheduler.domain import (
    DEFAULT_PRIORITY_WEIGHT,
    DEFAULT_SLA_HOURS,
    LAB_KINDS,
    PRIORITIES,
    Batch,
    Chunk,
    Config,
    DomainError,
    Lab,
    Outage,
    Plan,
    Problem,
    Site,
    TravelModel,
    TravelOverride,
    config_problems,
)
from scheduler.network import travel_minutes_matrix

__all__ = [
    "InputError",
    "Located",
    "format_ts",
    "load_instance",
    "parse_ts",
    "read_plan",
    "write_instance",
    "write_plan",
]

INSTANCE_JSON = "instance.json"
LABS_CSV = "labs.csv"
SITES_CSV = "sites.csv"
BATCHES_CSV = "batches.csv"
TRAVEL_CSV = "travel.csv"
OUTAGES_CSV = "lab_outages.csv"
_FILE_ORDER = (INSTANCE_JSON, LABS_CSV, SITES_CSV, BATCHES_CSV, TRAVEL_CSV, OUTAGES_CSV)

PLAN_COLUMNS = ("batch_id", "lab_id", "slot_start", "tubes")
PLAN_EXTRA_COLUMNS = ("arrival_at", "result_at", "site_id", "priority")

#: InputError's text lists at most this many problems.
MAX_LISTED_ERRORS = 200


# --------------------------------------------------------------------------- errors


@dataclass(frozen=True)
class Located:
    """One problem in an input file.

    Attributes
    ----------
    file
        File name (``batches.csv``) or, for a missing folder, its path.
    line
        Physical line in the file: the header is line 1, the first data row
        line 2. None when the problem concerns the whole file.
    column
        CSV column, or the JSON key (dotted for nested keys); None when the
        problem concerns a whole row or file.
    message
        What is wrong, e.g. ``'-3' is not an integer >= 1``.
    """

    file: str
    line: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        parts = [self.file]
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.column is not None:
            parts.append(f"column {self.column!r}")
        return f"{', '.join(parts)}: {self.message}"


class InputError(Exception):
    """Input files that break the SPEC; ``errors`` lists every problem found.

    Parameters
    ----------
    errors
        The problems, in the order they should be shown.
    """

    def __init__(self, errors: Iterable[Located]) -> None:
        self.errors: list[Located] = list(errors)
        super().__init__(self._text())

    def _text(self) -> str:
        shown = [str(e) for e in self.errors[:MAX_LISTED_ERRORS]]
        rest = len(self.errors) - len(shown)
        if rest > 0:
            shown.append(f"... and {rest} more")
        return "\n".join(shown)

    def __str__(self) -> str:
        return self._text()

    def __reduce__(self) -> tuple[Any, ...]:
        # the default would re-create the exception from its text, losing `errors`
        return (type(self), (self.errors,))


class _Bad(Exception):
    """A cell or value that does not parse; the message is user-facing."""


class _BadMarker:
    def __repr__(self) -> str:
        return "<bad>"


#: Stands in for a value that failed to parse, so later checks can skip it.
_BAD: Any = _BadMarker()


def _show(raw: str) -> str:
    """The raw cell as quoted in messages, shortened so one row stays one line."""
    if len(raw) > 40:
        raw = raw[:37] + "..."
    return repr(raw)


# --------------------------------------------------------------------------- timestamps

_TS_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?", re.ASCII
)
_TS_FORMAT = "YYYY-MM-DDTHH:MM[:SS]"


def parse_ts(text: str) -> datetime:
    """Parse a SPEC timestamp (naive local wall-clock time).

    Parameters
    ----------
    text
        ``YYYY-MM-DDTHH:MM``, optionally with ``:SS`` and a fraction of a
        second; a space may stand for the ``T``.

    Returns
    -------
    datetime
        A naive datetime.

    Raises
    ------
    ValueError
        For anything else, including UTC offsets.
    """
    m = _TS_RE.fullmatch(text.strip())
    if m is None:
        raise ValueError(f"{_show(text)} is not a timestamp {_TS_FORMAT}")
    y, mo, d, h, mi, s, frac = m.groups()
    try:
        return datetime(
            int(y),
            int(mo),
            int(d),
            int(h),
            int(mi),
            int(s) if s else 0,
            int(frac.ljust(6, "0")) if frac else 0,
        )
    except ValueError:
        raise ValueError(f"{_show(text)} is not a valid date and time") from None


def format_ts(dt: datetime) -> str:
    """Write a timestamp as the SPEC does: ``YYYY-MM-DDTHH:MM``.

    Seconds (``:SS``) are added only when non-zero, a fraction only when
    there are microseconds, so that :func:`parse_ts` gives back ``dt``.

    Raises
    ------
    ValueError
        When ``dt`` carries a time zone (SPEC times have no offset).
    """
    if dt.tzinfo is not None:
        raise ValueError(f"SPEC timestamps are naive local times, got {dt.isoformat()}")
    out = f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}"
    if dt.second or dt.microsecond:
        out += f":{dt.second:02d}"
        if dt.microsecond:
            out += f".{dt.microsecond:06d}"
    return out


# --------------------------------------------------------------------------- cell parsers

Parser = Callable[[str], Any]


def _int_parser(minimum: int | None = None, maximum: int | None = None) -> Parser:
    if minimum is not None and maximum is not None:
        want = f"an integer in {minimum}..{maximum}"
    elif minimum is not None:
        want = f"an integer >= {minimum}"
    else:
        want = "an integer"
    int_re = re.compile(r"[+-]?\d+(?:\.0*)?", re.ASCII)

    def parse(raw: str) -> int:
        if int_re.fullmatch(raw) is None:
            raise _Bad(f"{_show(raw)} is not {want}")
        value = int(raw.split(".", 1)[0])
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise _Bad(f"{_show(raw)} is not {want}")
        return value

    return parse


def _float_parser(minimum: float, maximum: float) -> Parser:
    want = f"a number in {minimum:g}..{maximum:g}"

    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise _Bad(f"{_show(raw)} is not {want}") from None
        if not minimum <= value <= maximum:  # also rejects nan
            raise _Bad(f"{_show(raw)} is not {want}")
        return value

    return parse


_BOOLS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _parse_bool(raw: str) -> bool:
    try:
        return _BOOLS[raw.lower()]
    except KeyError:
        raise _Bad(f"{_show(raw)} is not a boolean (true/false, 1/0, yes/no)") from None


def _enum_parser(values: Sequence[str]) -> Parser:
    allowed = set(values)
    listing = ", ".join(values)

    def parse(raw: str) -> str:
        if raw not in allowed:
            raise _Bad(f"{_show(raw)} is not one of {listing}")
        return raw

    return parse


def _ts_parser() -> Parser:
    # batches repeat the same few timestamps; the cache makes 40k rows cheap
    cache: dict[str, datetime] = {}

    def parse(raw: str) -> datetime:
        hit = cache.get(raw)
        if hit is None:
            try:
                hit = parse_ts(raw)
            except ValueError as exc:
                raise _Bad(str(exc)) from None
            cache[raw] = hit
        return hit

    return parse


def _parse_text(raw: str) -> str:
    return raw


# --------------------------------------------------------------------------- CSV tables


@dataclass(frozen=True)
class _Col:
    """How one column is read: required columns must be present and non-empty
    (``text`` columns may be empty); optional ones fall back to ``default``."""

    name: str
    parse: Parser = _parse_text
    required: bool = True
    default: Any = None
    text: bool = False


class _Table:
    """A CSV file as stripped string columns plus the physical line of each row."""

    def __init__(
        self, name: str, header: list[str], columns: list[list[str]], lines: list[int]
    ) -> None:
        self.name = name
        self.lines = lines
        self.n = len(lines)
        self.errors: list[Located] = []
        self.cols: dict[str, list[str]] = {}
        # a repeated name matters only for a column we read (see `require`)
        self.repeated: set[str] = set()
        for col_name, values in zip(header, columns, strict=True):
            if col_name in self.cols:
                self.repeated.add(col_name)
            else:
                self.cols[col_name] = values

    def error(self, row: int, column: str | None, message: str) -> None:
        self.errors.append(Located(self.name, self.lines[row], column, message))

    def require(self, specs: Sequence[_Col]) -> None:
        for spec in specs:
            if spec.name in self.repeated:
                self.errors.append(Located(self.name, 1, spec.name, "column appears twice"))
            if spec.required and spec.name not in self.cols:
                self.errors.append(Located(self.name, 1, spec.name, "required column is missing"))

    def column(self, spec: _Col) -> list[Any]:
        """Parsed values of one column; ``_BAD`` where a cell is wrong."""
        raw_values = self.cols.get(spec.name)
        if raw_values is None:
            # a missing required column was reported once by `require`
            return [_BAD if spec.required else spec.default] * self.n
        out: list[Any] = []
        append = out.append
        parse = spec.parse
        for i, raw in enumerate(raw_values):
            if not raw:
                if spec.text:
                    append("")
                elif spec.required:
                    self.error(i, spec.name, "value is missing")
                    append(_BAD)
                else:
                    append(spec.default)
                continue
            try:
                append(parse(raw))
            except _Bad as exc:
                self.error(i, spec.name, str(exc))
                append(_BAD)
        return out

    def read(self, specs: Sequence[_Col]) -> dict[str, list[Any]]:
        self.require(specs)
        return {spec.name: self.column(spec) for spec in specs}


def _decode(path: Path, name: str, errors: list[Located]) -> str | None:
    try:
        data = path.read_bytes()
    except OSError as exc:
        errors.append(Located(name, None, None, f"cannot be read: {exc.strerror or exc}"))
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        errors.append(
            Located(name, line, None, "is not UTF-8 text (GBK or another encoding? save as UTF-8)")
        )
        return None


_PANDAS_LINE_RE = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def _read_table(path: Path, name: str, errors: list[Located]) -> _Table | None:
    """Read a CSV file; on a file-level problem append it to ``errors``, return None."""
    text = _decode(path, name, errors)
    if text is None:
        return None
    if not text.strip():
        errors.append(Located(name, None, None, "is empty (a header row is required)"))
        return None
    try:
        # header=None: we read the header row ourselves so that duplicate
        # names are not silently renamed by pandas; skip_blank_lines=False
        # keeps row index == physical line - 1 (blank rows are dropped below).
        df = pd.read_csv(
            io.StringIO(text),
            header=None,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=False,
            index_col=False,
        )
    except (pd.errors.ParserError, ValueError) as exc:
        m = _PANDAS_LINE_RE.search(str(exc))
        if m:
            want, line, saw = m.groups()
            errors.append(
                Located(name, int(line), None, f"{saw} fields where the header has {want}")
            )
        else:
            errors.append(Located(name, None, None, f"is not a readable CSV file: {exc}"))
        return None
    # Plain lists from here on: per-cell Python work beats pandas' string
    # methods on object columns at this size.
    raw_cols: list[list[str]] = [df[c].tolist() for c in df.columns]
    n_rows = len(df)
    # Quoted cells may span lines; count their newlines so lines stay physical.
    extra = [0] * n_rows
    for col in raw_cols:
        if any("\n" in v for v in col):
            for i, v in enumerate(col):
                extra[i] += v.count("\n")
    stripped = [[v.strip() for v in col] for col in raw_cols]
    header = [col[0] for col in stripped]
    lines: list[int] = []
    keep: list[int] = []
    line = 1
    for i in range(n_rows):
        if i and any(col[i] for col in stripped):
            keep.append(i)
            lines.append(line)
        line += 1 + extra[i]
    columns = [[col[i] for i in keep] for col in stripped]
    # columns with an empty header name carry nothing we could use
    used = [i for i, h in enumerate(header) if h]
    return _Table(name, [header[i] for i in used], [columns[i] for i in used], lines)


def _check_unique(table: _Table, column: str, ids: list[Any]) -> dict[str, int]:
    """Map id -> row of its first occurrence; report later duplicates."""
    first: dict[str, int] = {}
    for i, value in enumerate(ids):
        if value is _BAD:
            continue
        j = first.setdefault(value, i)
        if j != i:
            table.error(
                i, column, f"duplicate {column} {_show(value)}: also on line {table.lines[j]}"
            )
    return first


# --------------------------------------------------------------------------- instance.json

_TRAVEL_KEYS = ("speed_kmh", "road_factor", "handling_minutes", "max_travel_minutes")
_CONFIG_KEY_RE = re.compile(r"[a-z_]+(?:\.[a-z_]+)?")


def _json_show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _json_line(text: str, key: str) -> int | None:
    """Best-effort line of ``key`` (dotted for nested keys) in the JSON text."""
    pos: int | None = None
    m = re.search(re.escape(json.dumps(key)) + r"\s*:", text)
    if m:
        pos = m.start()
    else:
        start = 0
        for part in key.split("."):
            m = re.compile(re.escape(json.dumps(part)) + r"\s*:").search(text, start)
            if m is None:
                return None
            start = pos = m.start()
    return None if pos is None else text.count("\n", 0, pos) + 1


class _JsonReader:
    def __init__(self, text: str, errors: list[Located]) -> None:
        self.text = text
        self.errors = errors

    def error(self, key: str, message: str) -> None:
        self.errors.append(Located(INSTANCE_JSON, _json_line(self.text, key), key, message))

    def number(self, key: str, value: Any, *, integer: bool, positive: bool = False) -> Any:
        """A JSON number (not a bool), or ``_BAD`` after reporting why not."""
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if ok and isinstance(value, float):
            ok = math.isfinite(value) and (not integer or value.is_integer())
        elif ok and abs(value) > 2**53:
            ok = False  # a JSON integer too big for a float (OverflowError below)
        if ok and positive and not value > 0:
            ok = False
        if not ok:
            want = "an integer" if integer else "a number"
            if positive:
                want += " > 0"
            self.error(key, f"{_json_show(value)} is not {want}")
            return _BAD
        return int(value) if integer else float(value)


def _load_config(folder: Path, errors: list[Located]) -> Config | None:
    path = folder / INSTANCE_JSON
    if not path.is_file():
        errors.append(Located(INSTANCE_JSON, None, None, f"required file is missing from {folder}"))
        return None
    text = _decode(path, INSTANCE_JSON, errors)
    if text is None:
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        errors.append(
            Located(
                INSTANCE_JSON, exc.lineno, None, f"invalid JSON: {exc.msg} at column {exc.colno}"
            )
        )
        return None
    if not isinstance(data, dict):
        errors.append(Located(INSTANCE_JSON, 1, None, "must hold one JSON object {...}"))
        return None
    n_before = len(errors)
    rd = _JsonReader(text, errors)

    plan_start: Any = _BAD
    if "plan_start" not in data:
        errors.append(Located(INSTANCE_JSON, None, "plan_start", "required key is missing"))
    elif not isinstance(data["plan_start"], str):
        rd.error("plan_start", f"{_json_show(data['plan_start'])} is not a timestamp string")
    else:
        try:
            plan_start = parse_ts(data["plan_start"])
        except ValueError as exc:
            rd.error("plan_start", str(exc))

    horizon = rd.number("horizon_hours", data.get("horizon_hours", 48), integer=True)
    slot = rd.number("slot_minutes", data.get("slot_minutes", 60), integer=True)
    late = rd.number("late_factor", data.get("late_factor", 10.0), integer=False)
    timezone = data.get("timezone", "Asia/Shanghai")
    if not isinstance(timezone, str):
        rd.error("timezone", f"{_json_show(timezone)} is not a string")

    travel_given: dict[str, Any] = {}
    nested = data.get("travel", {})
    if not isinstance(nested, dict):
        rd.error("travel", f"{_json_show(nested)} is not an object")
        nested = {}
    for key in _TRAVEL_KEYS:
        flat = f"travel.{key}"
        if key in nested and flat in data:
            rd.error(flat, "given both nested under 'travel' and as a flat key")
        if key in nested:
            travel_given[key] = nested[key]
        elif flat in data:
            travel_given[key] = data[flat]
    defaults = TravelModel()
    travel_values: dict[str, Any] = {}
    for key in _TRAVEL_KEYS:
        value = travel_given.get(key, getattr(defaults, key))
        if key in ("speed_kmh", "road_factor"):
            travel_values[key] = rd.number(f"travel.{key}", value, integer=False, positive=True)
        else:
            v = rd.number(f"travel.{key}", value, integer=True)
            if v is not _BAD and v < 0:
                rd.error(f"travel.{key}", f"{_json_show(value)} is not an integer >= 0")
                v = _BAD
            travel_values[key] = v

    tables: dict[str, dict[str, float]] = {}
    for name, table_defaults in (
        ("sla_hours", DEFAULT_SLA_HOURS),
        ("priority_weight", DEFAULT_PRIORITY_WEIGHT),
    ):
        merged = {p: float(v) for p, v in table_defaults.items()}
        given = data.get(name, {})
        if not isinstance(given, dict):
            rd.error(
                name, f"{_json_show(given)} is not an object with keys {', '.join(PRIORITIES)}"
            )
            given = {}
        for p, v in given.items():
            if p not in PRIORITIES:
                rd.error(f"{name}.{p}", f"unknown priority {p!r} (use {', '.join(PRIORITIES)})")
                continue
            parsed = rd.number(f"{name}.{p}", v, integer=False)
            if parsed is not _BAD:
                merged[p] = parsed
        tables[name] = merged

    if len(errors) > n_before:
        return None
    # Config's own rules (grid, horizon, sla >= 0, ...) live in domain.config_problems;
    # build the object unchecked so they can be reported as located errors.
    fields: dict[str, Any] = {
        # a stand-in on every grid, so the other rules can still be checked
        "plan_start": datetime(2000, 1, 1) if plan_start is _BAD else plan_start,
        "horizon_hours": horizon,
        "slot_minutes": slot,
        "travel": TravelModel(**travel_values),
        "sla_hours": tables["sla_hours"],
        "priority_weight": tables["priority_weight"],
        "late_factor": late,
        "timezone": timezone,
    }
    unchecked = object.__new__(Config)
    for key, value in fields.items():
        object.__setattr__(unchecked, key, value)
    for message in config_problems(unchecked):
        m = _CONFIG_KEY_RE.match(message)
        rd.error(m.group(0) if m else "plan_start", message)
    if len(errors) > n_before:
        return None
    return Config(**fields)


# --------------------------------------------------------------------------- the CSV files

_LAB_COLS = (
    _Col("lab_id"),
    _Col("name", text=True),
    _Col("kind", _enum_parser(LAB_KINDS)),
    _Col("county_code", text=True),
    _Col("lat", _float_parser(-90, 90)),
    _Col("lon", _float_parser(-180, 180)),
    _Col("capacity_per_hour", _int_parser(0)),
    _Col("run_minutes", _int_parser(0)),
    _Col("open_hour", _int_parser(0, 24)),
    _Col("close_hour", _int_parser(0, 24)),
    _Col("isolation_ok", _parse_bool),
    _Col("backlog_tubes", _int_parser(0), required=False, default=0),
)
_SITE_COLS = (
    _Col("site_id"),
    _Col("county_code", text=True),
    _Col("name", text=True),
    _Col("lat", _float_parser(-90, 90)),
    _Col("lon", _float_parser(-180, 180)),
)
_TRAVEL_COLS = (_Col("site_id"), _Col("lab_id"), _Col("minutes", _int_parser(0)))


def _batch_cols() -> tuple[_Col, ...]:
    # fresh parsers per load: the timestamp cache must not outlive one file
    ts = _ts_parser()
    return (
        _Col("batch_id"),
        _Col("site_id"),
        _Col("collected_at", ts),
        _Col("ready_at", ts),
        _Col("tubes", _int_parser(1)),
        _Col("people", _int_parser(0), required=False),
        _Col("priority", _enum_parser(PRIORITIES)),
        _Col("isolation", _parse_bool, required=False, default=False),
        _Col("deadline", ts, required=False),
        _Col("pinned_lab", required=False),
    )


def _outage_cols() -> tuple[_Col, ...]:
    ts = _ts_parser()
    return (_Col("lab_id"), _Col("from", ts), _Col("to", ts))


def _build(cls: Callable[..., _T], values: dict[str, list[Any]] | None) -> tuple[_T, ...]:
    """One object per row; call only when no cell was reported bad."""
    if values is None:
        return ()
    names = list(values)
    return tuple(
        cls(**dict(zip(names, row, strict=True)))
        for row in zip(*(values[k] for k in names), strict=True)
    )


_T = TypeVar("_T")


def _check_refs(
    table: _Table, column: str, values: list[Any], known: dict[str, int] | None, other: str
) -> None:
    if known is None:  # the other file could not be read; its errors say why
        return
    for i, v in enumerate(values):
        if v is not _BAD and v is not None and v not in known:
            table.error(i, column, f"unknown {column} {_show(v)} (not in {other})")


def load_instance(folder: str | Path) -> Problem:
    """Read a SPEC instance folder.

    Parameters
    ----------
    folder
        Folder holding ``instance.json``, ``labs.csv``, ``sites.csv``,
        ``batches.csv`` and optionally ``travel.csv`` and ``lab_outages.csv``.

    Returns
    -------
    Problem
        Labs, sites, batches, overrides and outages in file row order.

    Raises
    ------
    InputError
        Listing every problem found in any of the files, each with file,
        line and column.
    """
    folder = Path(folder)
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "instance folder does not exist"
        raise InputError([Located(str(folder), None, None, what)])
    errors: list[Located] = []
    config = _load_config(folder, errors)

    tables: dict[str, _Table | None] = {}
    for name in (LABS_CSV, SITES_CSV, BATCHES_CSV, TRAVEL_CSV, OUTAGES_CSV):
        path = folder / name
        if not path.is_file():
            if name not in (TRAVEL_CSV, OUTAGES_CSV):
                errors.append(Located(name, None, None, f"required file is missing from {folder}"))
            tables[name] = None
            continue
        tables[name] = _read_table(path, name, errors)

    lab_ids: dict[str, int] | None = None
    site_ids: dict[str, int] | None = None
    # parsed columns per file; None for an absent optional file
    parsed: dict[str, dict[str, list[Any]] | None] = dict.fromkeys(tables)

    t = tables[LABS_CSV]
    if t is not None:
        v = t.read(_LAB_COLS)
        lab_ids = _check_unique(t, "lab_id", v["lab_id"]) if "lab_id" in t.cols else None
        parsed[LABS_CSV] = v

    t = tables[SITES_CSV]
    if t is not None:
        v = t.read(_SITE_COLS)
        site_ids = _check_unique(t, "site_id", v["site_id"]) if "site_id" in t.cols else None
        parsed[SITES_CSV] = v

    t = tables[BATCHES_CSV]
    if t is not None:
        v = t.read(_batch_cols())
        _check_unique(t, "batch_id", v["batch_id"])
        _check_refs(t, "site_id", v["site_id"], site_ids, SITES_CSV)
        _check_refs(t, "pinned_lab", v["pinned_lab"], lab_ids, LABS_CSV)
        raw = t.cols
        for i, (c, r) in enumerate(zip(v["collected_at"], v["ready_at"], strict=True)):
            if c is not _BAD and r is not _BAD and r < c:
                t.error(
                    i,
                    "ready_at",
                    f"{_show(raw['ready_at'][i])} is before collected_at "
                    f"{_show(raw['collected_at'][i])}",
                )
                v["ready_at"][i] = _BAD
        parsed[BATCHES_CSV] = v

    t = tables[TRAVEL_CSV]
    if t is not None:
        v = t.read(_TRAVEL_COLS)
        _check_refs(t, "site_id", v["site_id"], site_ids, SITES_CSV)
        _check_refs(t, "lab_id", v["lab_id"], lab_ids, LABS_CSV)
        pairs: dict[tuple[str, str], int] = {}
        for i, pair in enumerate(zip(v["site_id"], v["lab_id"], strict=True)):
            if _BAD in pair:
                continue
            j = pairs.setdefault(pair, i)
            if j != i:
                t.error(
                    i, None, f"duplicate pair {pair[0]!r} -> {pair[1]!r}: also on line {t.lines[j]}"
                )
        parsed[TRAVEL_CSV] = v

    t = tables[OUTAGES_CSV]
    if t is not None:
        v = t.read(_outage_cols())
        _check_refs(t, "lab_id", v["lab_id"], lab_ids, LABS_CSV)
        raw = t.cols
        for i, (a, b) in enumerate(zip(v["from"], v["to"], strict=True)):
            if a is not _BAD and b is not _BAD and b <= a:
                t.error(i, "to", f"{_show(raw['to'][i])} is not after from {_show(raw['from'][i])}")
        parsed[OUTAGES_CSV] = v

    for table in tables.values():
        if table is not None:
            errors.extend(table.errors)
    if errors or config is None:
        rank = {name: i for i, name in enumerate(_FILE_ORDER)}
        errors.sort(key=lambda e: (rank.get(e.file, -1), e.line or 0))
        raise InputError(errors)

    try:
        outages = parsed[OUTAGES_CSV]
        if outages is not None:
            outages = {"lab_id": outages["lab_id"], "start": outages["from"], "end": outages["to"]}
        return Problem(
            config=config,
            labs=_build(Lab, parsed[LABS_CSV]),
            sites=_build(Site, parsed[SITES_CSV]),
            batches=_build(Batch, parsed[BATCHES_CSV]),
            travel_overrides=_build(TravelOverride, parsed[TRAVEL_CSV]),
            outages=_build(Outage, outages),
        )
    except (DomainError, TypeError, ValueError) as exc:
        # the checks above should make this unreachable; never show a traceback
        raise InputError([Located(str(folder), None, None, f"invalid instance: {exc}")]) from exc


# --------------------------------------------------------------------------- writing


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return format_ts(value)
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    # instances repeat a few timestamps many times; format each once
    stamps: dict[datetime, str] = {}

    def cell(v: Any) -> str:
        if type(v) is str:
            return v
        if type(v) is datetime:
            out = stamps.get(v)
            if out is None:
                out = stamps[v] = format_ts(v)
            return out
        return _cell(v)

    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        w.writerows([cell(v) for v in row] for row in rows)


def _json_number(value: float) -> float | int:
    # keep ints as ints so instance.json reads naturally ("urgent": 6)
    return value if isinstance(value, int) else float(value)


def config_to_json(cfg: Config) -> dict[str, Any]:
    """The ``instance.json`` object of ``cfg``, every key explicit."""
    doc = {
        "plan_start": format_ts(cfg.plan_start),
        "horizon_hours": cfg.horizon_hours,
        "slot_minutes": cfg.slot_minutes,
        "travel": {
            "speed_kmh": float(cfg.travel.speed_kmh),
            "road_factor": float(cfg.travel.road_factor),
            "handling_minutes": cfg.travel.handling_minutes,
            "max_travel_minutes": cfg.travel.max_travel_minutes,
        },
        "sla_hours": {p: _json_number(v) for p, v in cfg.sla_hours.items()},
        "priority_weight": {p: _json_number(v) for p, v in cfg.priority_weight.items()},
        "late_factor": float(cfg.late_factor),
        "timezone": cfg.timezone,
    }
    return doc


def config_from_json(doc: dict[str, Any]) -> Config:
    """The inverse of :func:`config_to_json` (for trusted, complete objects)."""
    return Config(
        plan_start=parse_ts(doc["plan_start"]),
        horizon_hours=doc["horizon_hours"],
        slot_minutes=doc["slot_minutes"],
        travel=TravelModel(**doc["travel"]),
        sla_hours=dict(doc["sla_hours"]),
        priority_weight=dict(doc["priority_weight"]),
        late_factor=doc["late_factor"],
        timezone=doc["timezone"],
    )


def write_instance(problem: Problem, folder: str | Path) -> Path:
    """Write ``problem`` as a SPEC instance folder.

    Every ``instance.json`` key is written explicitly; ``travel.csv`` and
    ``lab_outages.csv`` only when there are rows for them. Files are UTF-8
    without a byte-order mark. ``load_instance(folder) == problem`` holds
    unless a text field begins or ends with whitespace (cells are stripped
    on reading).

    Parameters
    ----------
    problem
        The instance to write.
    folder
        Created (with parents) when missing; existing files are overwritten.

    Returns
    -------
    Path
        The folder.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    doc = config_to_json(problem.config)
    (folder / INSTANCE_JSON).write_text(
        json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )

    def table(
        name: str, cls: type, rows: Sequence[Any], header: Sequence[str] | None = None
    ) -> None:
        names = [f.name for f in dataclasses.fields(cls)]
        _write_csv(
            folder / name,
            header or names,
            ([getattr(r, n) for n in names] for r in rows),
        )

    table(LABS_CSV, Lab, problem.labs)
    table(SITES_CSV, Site, problem.sites)
    table(BATCHES_CSV, Batch, problem.batches)
    for name, cls, rows, header in (
        (TRAVEL_CSV, TravelOverride, problem.travel_overrides, None),
        (OUTAGES_CSV, Outage, problem.outages, ("lab_id", "from", "to")),
    ):
        path = folder / name
        if rows:
            table(name, cls, rows, header)
        elif path.exists():
            # a stale optional file would change what the folder means
            path.unlink()
    return folder


# --------------------------------------------------------------------------- plans


def read_plan(path: str | Path) -> Plan:
    """Read a plan CSV (SPEC section 2).

    Rows with an empty ``lab_id`` are skipped (unassigned); extra columns are
    ignored. Ids are not checked against an instance, and ``tubes < 1`` is
    left for the evaluator to flag; only cells that cannot be read at all are
    errors here.

    Parameters
    ----------
    path
        The plan CSV.

    Returns
    -------
    Plan
        Chunks in file row order.

    Raises
    ------
    InputError
        Missing file or column, a ``slot_start`` that is not a timestamp, or
        ``tubes`` that is not an integer; every such cell is listed.
    """
    path = Path(path)
    name = path.name
    errors: list[Located] = []
    if not path.is_file():
        raise InputError([Located(str(path), None, None, "plan file does not exist")])
    table = _read_table(path, name, errors)
    if table is None:
        raise InputError(errors)
    cols = table.cols
    table.require([_Col(c) for c in PLAN_COLUMNS])
    if table.errors:
        raise InputError(table.errors)
    keep = [i for i, lab in enumerate(cols["lab_id"]) if lab]
    sub = _Table(
        name,
        list(PLAN_COLUMNS),
        [[cols[c][i] for i in keep] for c in PLAN_COLUMNS],
        [table.lines[i] for i in keep],
    )
    values = sub.read(
        (
            _Col("batch_id", text=True),
            _Col("lab_id"),
            _Col("slot_start", _ts_parser()),
            _Col("tubes", _int_parser()),
        )
    )
    if sub.errors:
        raise InputError(sorted(sub.errors, key=lambda e: e.line or 0))
    return Plan(
        tuple(
            Chunk(b, lab, s, n)
            for b, lab, s, n in zip(
                values["batch_id"],
                values["lab_id"],
                values["slot_start"],
                values["tubes"],
                strict=True,
            )
        )
    )


def write_plan(problem: Problem, plan: Plan, path: str | Path) -> Path:
    """Write ``plan`` as a SPEC plan CSV with readable extra columns.

    Columns: ``batch_id, lab_id, slot_start, tubes`` then ``arrival_at``
    (ready_at + travel minutes), ``result_at`` (last chunk's slot end + the
    lab's run_minutes), ``site_id`` and ``priority``. Rows are sorted by lab,
    slot, batch. Unassigned batches have no row. Extras are left empty for a
    chunk whose batch or lab is not in ``problem``.

    Parameters
    ----------
    problem
        The instance the plan is for.
    plan
        The chunks to write.
    path
        The CSV to write; parent folders are created.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    travel = travel_minutes_matrix(problem)
    slot = problem.config.slot_delta
    last: dict[str, datetime] = {}
    for c in plan.chunks:
        if c.batch_id not in last or c.slot_start > last[c.batch_id]:
            last[c.batch_id] = c.slot_start
    rows: list[list[Any]] = []
    for c in sorted(plan.chunks, key=lambda c: (c.lab_id, c.slot_start, c.batch_id)):
        extras: list[Any] = [None, None, None, None]
        bi = problem.batch_index.get(c.batch_id)
        li = problem.lab_index.get(c.lab_id)
        if bi is not None:
            b = problem.batches[bi]
            extras[2:] = [b.site_id, b.priority]
            if li is not None:
                minutes = int(travel[problem.site_index[b.site_id], li])
                extras[0] = b.ready_at + timedelta(minutes=minutes)
                run = timedelta(minutes=problem.labs[li].run_minutes)
                extras[1] = last[c.batch_id] + slot + run
        rows.append([c.batch_id, c.lab_id, c.slot_start, c.tubes, *extras])
    _write_csv(path, (*PLAN_COLUMNS, *PLAN_EXTRA_COLUMNS), rows)
    return path
