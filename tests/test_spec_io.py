"""Tests of scheduler.spec_io: SPEC folder and plan CSV reading and writing."""

from __future__ import annotations

import json
import pickle
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.domain import (
    DEFAULT_PRIORITY_WEIGHT,
    DEFAULT_SLA_HOURS,
    LAB_KINDS,
    PRIORITIES,
    Batch,
    Chunk,
    Config,
    Lab,
    Outage,
    Plan,
    Problem,
    Site,
    TravelModel,
    TravelOverride,
)
from scheduler.spec_io import (
    InputError,
    Located,
    format_ts,
    load_instance,
    parse_ts,
    read_plan,
    write_instance,
    write_plan,
)

LAB_HEADER = (
    "lab_id,name,kind,county_code,lat,lon,capacity_per_hour,run_minutes,"
    "open_hour,close_hour,isolation_ok,backlog_tubes"
)
LAB_ROWS = [
    "L1,郑州市疾控中心,cdc,410100,34.75,113.62,100,240,0,24,true,0",
    "L2,第三方检测,third_party,410100,34.80,113.70,50,180,8,20,false,5",
]
SITE_HEADER = "site_id,county_code,name,lat,lon"
SITE_ROWS = ["S1,410102,中原区采样点,34.74,113.60", "S2,410103,二七区采样点,34.72,113.64"]
BATCH_HEADER = (
    "batch_id,site_id,collected_at,ready_at,tubes,people,priority,isolation,deadline,pinned_lab"
)
BATCH_ROWS = [
    "B1,S1,2024-05-01T07:00,2024-05-01T08:00,10,100,routine,false,,",
    "B2,S2,2024-05-01T07:30,2024-05-01T08:30,4,,urgent,true,2024-05-01T12:00,L1",
]


def write_files(
    folder: Path,
    *,
    config: dict[str, Any] | str | None = None,
    labs: list[str] | None = None,
    sites: list[str] | None = None,
    batches: list[str] | None = None,
    travel: list[str] | None = None,
    outages: list[str] | None = None,
    bom: bool = False,
) -> Path:
    """Write a small valid instance; each argument replaces one file's lines.

    CSV arguments are whole files (header first), so line ``k`` of the list is
    physical line ``k + 1`` of the file.
    """
    folder.mkdir(parents=True, exist_ok=True)
    if config is None:
        config = {"plan_start": "2024-05-01T08:00"}
    text = config if isinstance(config, str) else json.dumps(config, ensure_ascii=False)
    (folder / "instance.json").write_text(text, encoding="utf-8")
    files = {
        "labs.csv": labs if labs is not None else [LAB_HEADER, *LAB_ROWS],
        "sites.csv": sites if sites is not None else [SITE_HEADER, *SITE_ROWS],
        "batches.csv": batches if batches is not None else [BATCH_HEADER, *BATCH_ROWS],
        "travel.csv": travel,
        "lab_outages.csv": outages,
    }
    for name, lines in files.items():
        if lines is not None:
            (folder / name).write_text(
                "\n".join(lines) + "\n", encoding="utf-8-sig" if bom else "utf-8"
            )
    return folder


def errors_of(folder: Path) -> list[Located]:
    with pytest.raises(InputError) as info:
        load_instance(folder)
    return info.value.errors


def one_error(folder: Path) -> Located:
    errs = errors_of(folder)
    assert len(errs) == 1, [str(e) for e in errs]
    return errs[0]


# --------------------------------------------------------------------------- valid input


def test_small_instance_loads(tmp_path: Path) -> None:
    p = load_instance(write_files(tmp_path))
    assert [lab.lab_id for lab in p.labs] == ["L1", "L2"]
    assert p.labs[0].name == "郑州市疾控中心"
    assert p.labs[1].backlog_tubes == 5
    assert p.sites[1].name == "二七区采样点"
    b1, b2 = p.batches
    t7, t8 = datetime(2024, 5, 1, 7), datetime(2024, 5, 1, 8)
    assert b1 == Batch("B1", "S1", t7, t8, 10, "routine", isolation=False, people=100)
    assert b2.isolation is True and b2.people is None
    assert b2.deadline == datetime(2024, 5, 1, 12) and b2.pinned_lab == "L1"


def test_defaults_when_keys_and_optional_columns_absent(tmp_path: Path) -> None:
    labs = [LAB_HEADER.replace(",backlog_tubes", ""), "L1,a,cdc,x,34,113,10,60,0,24,yes"]
    batches = [
        "batch_id,site_id,collected_at,ready_at,tubes,priority",
        "B1,S1,2024-05-01T07:00,2024-05-01T07:00,3,high",
    ]
    p = load_instance(write_files(tmp_path, labs=labs, batches=batches))
    assert p.config == Config(plan_start=datetime(2024, 5, 1, 8))
    assert p.config.horizon_hours == 48 and p.config.slot_minutes == 60
    assert p.config.travel == TravelModel()
    assert p.config.timezone == "Asia/Shanghai" and p.config.late_factor == 10
    assert p.labs[0].backlog_tubes == 0
    b = p.batches[0]
    assert (b.isolation, b.people, b.deadline, b.pinned_lab) == (False, None, None, None)
    assert p.travel_overrides == () and p.outages == ()


def test_empty_cells_in_optional_columns_mean_default(tmp_path: Path) -> None:
    labs = [LAB_HEADER, "L1,a,cdc,x,34,113,10,60,0,24,no,"]
    batches = [BATCH_HEADER, "B1,S1,2024-05-01T07:00,2024-05-01T07:00,3,,high,,,"]
    p = load_instance(write_files(tmp_path, labs=labs, batches=batches))
    assert p.labs[0].backlog_tubes == 0
    b = p.batches[0]
    assert (b.isolation, b.people, b.deadline, b.pinned_lab) == (False, None, None, None)


def test_partial_travel_and_sla_dicts_merge_with_defaults(tmp_path: Path) -> None:
    config = {
        "plan_start": "2024-05-01T08:00",
        "travel": {"speed_kmh": 40},
        "travel.handling_minutes": 15,
        "sla_hours": {"urgent": 4},
        "priority_weight": {"routine": 2},
    }
    cfg = load_instance(write_files(tmp_path, config=config)).config
    assert cfg.travel == TravelModel(speed_kmh=40, handling_minutes=15)
    assert cfg.sla_hours == {**DEFAULT_SLA_HOURS, "urgent": 4}
    assert cfg.priority_weight == {**DEFAULT_PRIORITY_WEIGHT, "routine": 2}


def test_unknown_config_keys_are_ignored(tmp_path: Path) -> None:
    config = {"plan_start": "2024-05-01T08:00", "pool_size": 10, "travel": {"mode": "van"}}
    assert load_instance(write_files(tmp_path, config=config)).config.travel == TravelModel()


def test_bom_files_load(tmp_path: Path) -> None:
    p = load_instance(write_files(tmp_path, bom=True))
    assert p.labs[0].lab_id == "L1"  # not "\ufeffL1" or a missing lab_id column
    (tmp_path / "instance.json").write_text(
        '{"plan_start": "2024-05-01T08:00"}', encoding="utf-8-sig"
    )
    assert load_instance(tmp_path).config.plan_start == datetime(2024, 5, 1, 8)


def test_chinese_ids_and_text(tmp_path: Path) -> None:
    sites = [SITE_HEADER, "采样点一,410102,中原区 · 建设路,34.74,113.60"]
    batches = [BATCH_HEADER, "批次1,采样点一,2024-05-01T07:00,2024-05-01T08:00,1,,routine,否,,"]
    batches[1] = batches[1].replace("否", "no")
    p = load_instance(write_files(tmp_path, sites=sites, batches=batches))
    assert p.sites[0].name == "中原区 · 建设路"
    assert p.batches[0].batch_id == "批次1" and p.batches[0].site_id == "采样点一"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        *[("true", True), ("TRUE", True), ("Yes", True), ("1", True)],
        *[("false", False), ("False", False), ("NO", False), ("0", False)],
    ],
)
def test_boolean_spellings(tmp_path: Path, raw: str, expected: bool) -> None:
    labs = [LAB_HEADER, f"L1,a,cdc,x,34,113,10,60,0,24,{raw},0"]
    assert load_instance(write_files(tmp_path, labs=labs)).labs[0].isolation_ok is expected


def test_shuffled_columns_unknown_column_and_whitespace(tmp_path: Path) -> None:
    labs = [
        "note , isolation_ok,close_hour,open_hour,run_minutes,capacity_per_hour,lon,lat,"
        "county_code,kind,name,lab_id",
        "备注, true ,24,0,60,10,113.5,34.5,410100, cdc ,  实验室  , L1 ",
    ]
    lab = load_instance(write_files(tmp_path, labs=labs)).labs[0]
    assert lab == Lab("L1", "实验室", "cdc", "410100", 34.5, 113.5, 10, 60, 0, 24, True)


def test_timestamps_with_seconds_and_space(tmp_path: Path) -> None:
    batches = [BATCH_HEADER, "B1,S1,2024-05-01 07:00:30,2024-05-01T08:00:05,1,,routine,no,,"]
    b = load_instance(write_files(tmp_path, batches=batches)).batches[0]
    assert b.collected_at == datetime(2024, 5, 1, 7, 0, 30)
    assert b.ready_at == datetime(2024, 5, 1, 8, 0, 5)


def test_header_only_batches_is_a_valid_empty_instance(tmp_path: Path) -> None:
    p = load_instance(write_files(tmp_path, batches=[BATCH_HEADER]))
    assert p.batches == () and len(p.labs) == 2


def test_blank_lines_are_skipped_and_later_lines_stay_physical(tmp_path: Path) -> None:
    batches = [BATCH_HEADER, BATCH_ROWS[0], "", "   ", BATCH_ROWS[1].replace(",4,", ",x,")]
    err = one_error(write_files(tmp_path, batches=batches))
    assert (err.file, err.line, err.column) == ("batches.csv", 5, "tubes")


def test_quoted_multiline_cell_keeps_physical_line_numbers(tmp_path: Path) -> None:
    sites = [SITE_HEADER, 'S1,410102,"two\nlines",34.74,113.60', "S2,410103,b,95,113.64"]
    err = one_error(write_files(tmp_path, sites=sites))
    assert (err.file, err.line, err.column) == ("sites.csv", 4, "lat")


def test_optional_files_are_read(tmp_path: Path) -> None:
    folder = write_files(
        tmp_path,
        travel=["site_id,lab_id,minutes", "S1,L2,35"],
        outages=["lab_id,from,to", "L1,2024-05-01T10:00,2024-05-01T12:00"],
    )
    p = load_instance(folder)
    assert p.travel_overrides == (TravelOverride("S1", "L2", 35),)
    assert p.outages == (Outage("L1", datetime(2024, 5, 1, 10), datetime(2024, 5, 1, 12)),)


def test_format_ts_adds_seconds_only_when_needed() -> None:
    assert format_ts(datetime(2024, 5, 1, 8, 5)) == "2024-05-01T08:05"
    assert format_ts(datetime(2024, 5, 1, 8, 5, 7)) == "2024-05-01T08:05:07"
    assert parse_ts(format_ts(datetime(2024, 5, 1, 8, 5, 7, 120))) == datetime(
        2024, 5, 1, 8, 5, 7, 120
    )


# --------------------------------------------------------------------------- round trips


def sample_problem() -> Problem:
    t0 = datetime(2024, 5, 1, 8)
    return Problem(
        config=Config(
            plan_start=t0,
            horizon_hours=24,
            slot_minutes=30,
            travel=TravelModel(speed_kmh=42.5, road_factor=1.25, handling_minutes=10),
            sla_hours={"urgent": 4.5, "high": 12, "routine": 24},
            late_factor=7.25,
            timezone="Asia/Shanghai",
        ),
        labs=(
            Lab("L1", "疾控", "cdc", "410100", 34.7512345678901, 113.6, 120, 240, 0, 24, True, 30),
            Lab("L2", "医院", "hospital", "410200", 34.1, 114.3, 40, 90, 20, 6, False),
        ),
        sites=(Site("S1", "410102", "采样点,带逗号", 34.74, 113.6), Site("S2", "", "", 0.1, 0.2)),
        batches=(
            Batch("B1", "S1", t0 - timedelta(hours=1), t0, 30, "urgent", True, 300),
            Batch(
                "B2",
                "S2",
                t0,
                t0 + timedelta(seconds=30),
                5,
                "routine",
                pinned_lab="L2",
                deadline=t0 + timedelta(hours=20),
            ),
        ),
        travel_overrides=(TravelOverride("S2", "L1", 250),),
        outages=(Outage("L2", t0 + timedelta(hours=2), t0 + timedelta(hours=3, minutes=15)),),
    )


def test_write_then_load_round_trip(tmp_path: Path) -> None:
    problem = sample_problem()
    write_instance(problem, tmp_path / "inst")
    assert load_instance(tmp_path / "inst") == problem
    raw = (tmp_path / "inst" / "labs.csv").read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    doc = json.loads((tmp_path / "inst" / "instance.json").read_text(encoding="utf-8"))
    assert set(doc) >= {"plan_start", "horizon_hours", "slot_minutes", "travel", "sla_hours"}
    assert set(doc["travel"]) == {
        "speed_kmh",
        "road_factor",
        "handling_minutes",
        "max_travel_minutes",
    }


def test_write_instance_omits_empty_optional_files(tmp_path: Path) -> None:
    problem = sample_problem()
    write_instance(problem, tmp_path)
    empty = Problem(problem.config, problem.labs, problem.sites, problem.batches)
    write_instance(empty, tmp_path)  # must also remove the stale optional files
    assert not (tmp_path / "travel.csv").exists()
    assert not (tmp_path / "lab_outages.csv").exists()
    assert load_instance(tmp_path) == empty


_text = st.text(
    alphabet=st.sampled_from(list("abcXYZ019 _-,\"'中文采样点")), min_size=0, max_size=8
).map(str.strip)
_ids = st.text(alphabet=st.sampled_from(list("AZ09_-中")), min_size=1, max_size=4)
_coord = st.floats(min_value=-89.9, max_value=89.9, allow_nan=False)
_times = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2024, 12, 31))


@st.composite
def problems(draw: st.DrawFn) -> Problem:
    lab_ids = draw(st.lists(_ids, min_size=1, max_size=3, unique=True))
    site_ids = draw(st.lists(_ids, min_size=1, max_size=3, unique=True))
    labs = tuple(
        Lab(
            i,
            draw(_text),
            draw(st.sampled_from(LAB_KINDS)),
            draw(_text),
            draw(_coord),
            draw(_coord),
            draw(st.integers(0, 500)),
            draw(st.integers(0, 600)),
            draw(st.integers(0, 24)),
            draw(st.integers(0, 24)),
            draw(st.booleans()),
            draw(st.integers(0, 100)),
        )
        for i in lab_ids
    )
    sites = tuple(Site(i, draw(_text), draw(_text), draw(_coord), draw(_coord)) for i in site_ids)
    batches = []
    for k in range(draw(st.integers(0, 4))):
        collected = draw(_times)
        batches.append(
            Batch(
                f"B{k}",
                draw(st.sampled_from(site_ids)),
                collected,
                collected + draw(st.timedeltas(timedelta(0), timedelta(hours=5))),
                draw(st.integers(1, 1000)),
                draw(st.sampled_from(PRIORITIES)),
                draw(st.booleans()),
                draw(st.none() | st.integers(0, 5000)),
                draw(st.none() | _times),
                draw(st.none() | st.sampled_from(lab_ids)),
            )
        )
    config = Config(
        plan_start=datetime(2024, 5, 1, draw(st.integers(0, 23))),
        horizon_hours=draw(st.integers(1, 96)),
        slot_minutes=draw(st.sampled_from([15, 30, 60, 120])),
        travel=TravelModel(speed_kmh=draw(st.floats(1, 120)), road_factor=draw(st.floats(1, 2))),
        sla_hours={p: draw(st.floats(0, 48)) for p in PRIORITIES},
        late_factor=draw(st.floats(0, 100)),
        timezone=draw(_text),
    )
    overrides = tuple(
        TravelOverride(s, lab, draw(st.integers(0, 400)))
        for s, lab in draw(
            st.lists(st.tuples(st.sampled_from(site_ids), st.sampled_from(lab_ids)), unique=True)
        )
    )
    start = draw(_times)
    outages = tuple(
        Outage(draw(st.sampled_from(lab_ids)), start, start + timedelta(minutes=m))
        for m in draw(st.lists(st.integers(1, 600), max_size=2))
    )
    return Problem(config, labs, sites, tuple(batches), overrides, outages)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(problem=problems())
def test_round_trip_random_problems(tmp_path: Path, problem: Problem) -> None:
    folder = write_instance(problem, tmp_path / "inst")
    assert load_instance(folder) == problem


def test_write_plan_then_read_plan(tmp_path: Path) -> None:
    problem = sample_problem()
    t0 = problem.config.plan_start
    chunks = (
        Chunk("B2", "L2", t0 + timedelta(hours=1), 5),
        Chunk("B1", "L1", t0 + timedelta(minutes=30), 10),
        Chunk("B1", "L1", t0, 20),
    )
    path = write_plan(problem, Plan(chunks), tmp_path / "out" / "plan.csv")
    assert Counter(read_plan(path).chunks) == Counter(chunks)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "batch_id,lab_id,slot_start,tubes,arrival_at,result_at,site_id,priority"
    # sorted by lab, slot, batch; result_at from the last chunk (08:30 + 30 min + 240 min)
    assert lines[1].startswith("B1,L1,2024-05-01T08:00,20,")
    assert lines[1].split(",")[5] == "2024-05-01T13:00"
    assert lines[2].startswith("B1,L1,2024-05-01T08:30,10,")
    # B2 is ready 08:00:30 and S2 -> L2 follows the formula (no override)
    assert lines[3].split(",")[6:] == ["S2", "routine"]


def test_write_plan_leaves_out_unassigned_batches(tmp_path: Path) -> None:
    problem = sample_problem()
    plan = Plan((Chunk("B1", "L1", problem.config.plan_start, 30),))
    path = write_plan(problem, plan, tmp_path / "plan.csv")
    assert "B2" not in path.read_text(encoding="utf-8")


def test_read_plan_skips_empty_lab_and_ignores_extra_columns(tmp_path: Path) -> None:
    path = tmp_path / "plan.csv"
    path.write_text(
        "note,tubes,slot_start,lab_id,batch_id\n"
        "x,3,2024-05-01T08:00,L1,B1\n"
        "y,,,,B2\n"
        "z,0,2024-05-01 09:00,L1,B3\n",
        encoding="utf-8-sig",
    )
    assert read_plan(path).chunks == (
        Chunk("B1", "L1", datetime(2024, 5, 1, 8), 3),
        Chunk("B3", "L1", datetime(2024, 5, 1, 9), 0),  # tubes < 1 is the evaluator's business
    )


# --------------------------------------------------------------------------- bad input


def test_missing_folder(tmp_path: Path) -> None:
    err = one_error(tmp_path / "nope")
    assert "nope" in err.file and "does not exist" in err.message


def test_missing_required_file(tmp_path: Path) -> None:
    folder = write_files(tmp_path)
    (folder / "sites.csv").unlink()
    errs = errors_of(folder)
    assert [(e.file, e.line) for e in errs] == [("sites.csv", None)]
    assert "missing" in errs[0].message


def test_missing_required_column(tmp_path: Path) -> None:
    labs = [LAB_HEADER.replace("run_minutes,", ""), "L1,a,cdc,x,34,113,10,0,24,true,0"]
    err = one_error(write_files(tmp_path, labs=labs))
    assert (err.file, err.line, err.column) == ("labs.csv", 1, "run_minutes")


@pytest.mark.parametrize(
    ("file", "column", "raw", "text"),
    [
        ("labs.csv", "kind", "lab", "is not one of cdc"),
        ("labs.csv", "capacity_per_hour", "-1", "is not an integer >= 0"),
        ("labs.csv", "run_minutes", "1.5", "is not an integer >= 0"),
        ("labs.csv", "backlog_tubes", "many", "is not an integer >= 0"),
        ("labs.csv", "open_hour", "25", "0..24"),
        ("labs.csv", "close_hour", "-1", "0..24"),
        ("labs.csv", "lat", "91", "-90..90"),
        ("labs.csv", "lon", "-180.5", "-180..180"),
        ("labs.csv", "isolation_ok", "maybe", "is not a boolean"),
        ("labs.csv", "lab_id", "", "missing"),
        ("sites.csv", "lat", "abc", "-90..90"),
        ("batches.csv", "tubes", "-3", "is not an integer >= 1"),
        ("batches.csv", "tubes", "0", "is not an integer >= 1"),
        ("batches.csv", "people", "-2", "is not an integer >= 0"),
        ("batches.csv", "priority", "URGENT", "is not one of urgent, high, routine"),
        ("batches.csv", "collected_at", "2024-05-01T07:00+08:00", "is not a timestamp"),
        ("batches.csv", "ready_at", "2024-02-30T08:00", "is not a valid date"),
        ("batches.csv", "deadline", "tomorrow", "is not a timestamp"),
        ("batches.csv", "isolation", "2", "is not a boolean"),
    ],
)
def test_bad_cell_is_located(tmp_path: Path, file: str, column: str, raw: str, text: str) -> None:
    header, rows = {
        "labs.csv": (LAB_HEADER, LAB_ROWS),
        "sites.csv": (SITE_HEADER, SITE_ROWS),
        "batches.csv": (BATCH_HEADER, BATCH_ROWS),
    }[file]
    cells = rows[1].split(",")
    cells[header.split(",").index(column)] = raw
    lines = [header, rows[0], ",".join(cells)]
    folder = write_files(tmp_path, **{file.removesuffix(".csv"): lines})
    err = one_error(folder)
    assert (err.file, err.line, err.column) == (file, 3, column)
    assert text in err.message
    if raw:
        assert repr(raw) in str(err)


def test_located_str_format() -> None:
    err = Located("batches.csv", 12, "tubes", "'-3' is not an integer >= 1")
    assert str(err) == "batches.csv, line 12, column 'tubes': '-3' is not an integer >= 1"


def test_duplicate_id_names_both_lines(tmp_path: Path) -> None:
    sites = [SITE_HEADER, *SITE_ROWS, SITE_ROWS[0]]
    err = one_error(write_files(tmp_path, sites=sites))
    assert (err.file, err.line, err.column) == ("sites.csv", 4, "site_id")
    assert "duplicate" in err.message and "line 2" in err.message


def test_batch_with_unknown_site(tmp_path: Path) -> None:
    batches = [BATCH_HEADER, BATCH_ROWS[0], BATCH_ROWS[1].replace(",S2,", ",S9,")]
    err = one_error(write_files(tmp_path, batches=batches))
    assert (err.file, err.line, err.column) == ("batches.csv", 3, "site_id")
    assert "'S9'" in err.message and "sites.csv" in err.message


def test_batch_with_unknown_pinned_lab(tmp_path: Path) -> None:
    batches = [BATCH_HEADER, BATCH_ROWS[0], BATCH_ROWS[1].removesuffix("L1") + "L7"]
    err = one_error(write_files(tmp_path, batches=batches))
    assert (err.file, err.line, err.column) == ("batches.csv", 3, "pinned_lab")


def test_ready_before_collected(tmp_path: Path) -> None:
    row = "B9,S1,2024-05-01T09:00,2024-05-01T08:00,1,,high,no,,"
    err = one_error(write_files(tmp_path, batches=[BATCH_HEADER, row]))
    assert (err.file, err.line, err.column) == ("batches.csv", 2, "ready_at")
    assert "before collected_at" in err.message


def test_travel_csv_unknown_ids_and_bad_minutes(tmp_path: Path) -> None:
    travel = ["site_id,lab_id,minutes", "S1,L1,30", "S8,L1,30", "S1,L9,30", "S2,L2,-5"]
    errs = errors_of(write_files(tmp_path, travel=travel))
    assert [(e.file, e.line, e.column) for e in errs] == [
        ("travel.csv", 3, "site_id"),
        ("travel.csv", 4, "lab_id"),
        ("travel.csv", 5, "minutes"),
    ]


def test_travel_csv_duplicate_pair(tmp_path: Path) -> None:
    travel = ["site_id,lab_id,minutes", "S1,L1,30", "S1,L1,40"]
    err = one_error(write_files(tmp_path, travel=travel))
    assert (err.file, err.line) == ("travel.csv", 3) and "line 2" in err.message


def test_outage_unknown_lab_and_to_not_after_from(tmp_path: Path) -> None:
    outages = [
        "lab_id,from,to",
        "L9,2024-05-01T10:00,2024-05-01T12:00",
        "L1,2024-05-01T10:00,2024-05-01T10:00",
    ]
    errs = errors_of(write_files(tmp_path, outages=outages))
    assert [(e.file, e.line, e.column) for e in errs] == [
        ("lab_outages.csv", 2, "lab_id"),
        ("lab_outages.csv", 3, "to"),
    ]


def test_plan_start_missing(tmp_path: Path) -> None:
    err = one_error(write_files(tmp_path, config={"horizon_hours": 24}))
    assert (err.file, err.column) == ("instance.json", "plan_start")


def test_plan_start_off_grid(tmp_path: Path) -> None:
    config = '{\n  "slot_minutes": 30,\n  "plan_start": "2024-05-01T08:10"\n}'
    err = one_error(write_files(tmp_path, config=config))
    assert (err.file, err.line, err.column) == ("instance.json", 3, "plan_start")
    assert "off the slot grid" in err.message


def test_bad_json_names_line_and_column(tmp_path: Path) -> None:
    err = one_error(write_files(tmp_path, config='{\n  "plan_start": "2024-05-01T08:00",\n}'))
    assert (err.file, err.line) == ("instance.json", 3)
    assert "invalid JSON" in err.message and "column 1" in err.message


@pytest.mark.parametrize(
    ("key", "value", "column"),
    [
        ("horizon_hours", "48", "horizon_hours"),
        ("horizon_hours", 0, "horizon_hours"),
        ("slot_minutes", 7, "slot_minutes"),
        ("slot_minutes", True, "slot_minutes"),
        ("late_factor", -1, "late_factor"),
        ("timezone", 8, "timezone"),
        ("travel", {"speed_kmh": 0}, "travel.speed_kmh"),
        ("travel", {"max_travel_minutes": 12.5}, "travel.max_travel_minutes"),
        ("travel", [], "travel"),
        ("sla_hours", {"urgent": "6"}, "sla_hours.urgent"),
        ("sla_hours", {"urgent": -6}, "sla_hours.urgent"),
        ("priority_weight", {"vip": 5}, "priority_weight.vip"),
    ],
)
def test_wrong_json_values(tmp_path: Path, key: str, value: Any, column: str) -> None:
    config = {"plan_start": "2024-05-01T08:00", key: value}
    err = one_error(write_files(tmp_path, config=json.dumps(config, indent=2)))
    assert (err.file, err.column) == ("instance.json", column)
    assert err.line is not None and err.line >= 2


def test_json_must_be_an_object(tmp_path: Path) -> None:
    err = one_error(write_files(tmp_path, config="[1, 2]"))
    assert err.file == "instance.json" and "object" in err.message


def test_not_utf8_names_the_line(tmp_path: Path) -> None:
    folder = write_files(tmp_path)
    text = SITE_HEADER + "\nS1,410102,ok,34.7,113.6\nS2,410103,中原区,34.7,113.6\n"
    (folder / "sites.csv").write_bytes(text.encode("gbk"))
    err = one_error(folder)
    assert (err.file, err.line) == ("sites.csv", 3) and "UTF-8" in err.message


def test_row_with_too_many_fields(tmp_path: Path) -> None:
    sites = [SITE_HEADER, SITE_ROWS[0], SITE_ROWS[1] + ",extra"]
    err = one_error(write_files(tmp_path, sites=sites))
    assert (err.file, err.line) == ("sites.csv", 3)


def test_duplicate_header_column_that_is_read(tmp_path: Path) -> None:
    sites = [SITE_HEADER + ",lat", *(row + ",1" for row in SITE_ROWS)]
    err = one_error(write_files(tmp_path, sites=sites))
    assert (err.file, err.line, err.column) == ("sites.csv", 1, "lat")


def test_several_errors_reported_together(tmp_path: Path) -> None:
    batches = [
        BATCH_HEADER,
        "B1,S1,2024-05-01T07:00,2024-05-01T08:00,-3,,routine,false,,",
        "B2,S9,2024-05-01T07:00,garbage,4,,rush,true,,",
        "B1,S2,2024-05-01T07:00,2024-05-01T08:00,4,,high,true,,",
    ]
    labs = [LAB_HEADER, "L1,a,cdc,x,34,113,10,60,0,25,true,0"]
    errs = errors_of(write_files(tmp_path, labs=labs, batches=batches))
    got = {(e.file, e.line, e.column) for e in errs}
    assert got == {
        ("labs.csv", 2, "close_hour"),
        ("batches.csv", 2, "tubes"),
        ("batches.csv", 3, "site_id"),
        ("batches.csv", 3, "ready_at"),
        ("batches.csv", 3, "priority"),
        ("batches.csv", 4, "batch_id"),
    }
    # files in SPEC order, lines ascending within a file
    assert errs[0].file == "labs.csv"
    lines = [e.line or 0 for e in errs if e.file == "batches.csv"]
    assert lines == sorted(lines)


def test_input_error_text_is_capped_and_pickles() -> None:
    errs = [Located("batches.csv", i, "tubes", "bad") for i in range(2, 300)]
    exc = InputError(errs)
    text = str(exc).splitlines()
    assert len(text) == 201 and text[-1] == "... and 98 more"
    assert pickle.loads(pickle.dumps(exc)).errors == errs


def test_read_plan_bad_cells(tmp_path: Path) -> None:
    path = tmp_path / "plan.csv"
    path.write_text(
        "batch_id,lab_id,slot_start,tubes\n"
        "B1,L1,2024-05-01T08:00,3\n"
        "B2,L1,08:00,2\n"
        "B3,L1,2024-05-01T09:00,2.5\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError) as info:
        read_plan(path)
    assert [(e.file, e.line, e.column) for e in info.value.errors] == [
        ("plan.csv", 3, "slot_start"),
        ("plan.csv", 4, "tubes"),
    ]


def test_read_plan_missing_column_and_file(tmp_path: Path) -> None:
    path = tmp_path / "plan.csv"
    path.write_text("batch_id,lab_id,slot_start\nB1,L1,2024-05-01T08:00\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        read_plan(path)
    assert [(e.line, e.column) for e in info.value.errors] == [(1, "tubes")]
    with pytest.raises(InputError):
        read_plan(tmp_path / "missing.csv")


def test_empty_csv_file_and_missing_file_reported_together(tmp_path: Path) -> None:
    folder = write_files(tmp_path)
    (folder / "labs.csv").write_text("", encoding="utf-8")
    (folder / "batches.csv").unlink()
    errs = errors_of(folder)
    assert [(e.file, e.line) for e in errs] == [("labs.csv", None), ("batches.csv", None)]
    assert "empty" in errs[0].message and "missing" in errs[1].message
