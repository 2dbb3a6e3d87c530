"""Hostile input at volume (issue #9): the upload parser and the SPEC loader, fuzzed.

Properties: only the documented outcome (an UploadReport; InputError for a
SPEC folder), never another exception; a rejected upload leaves the database
exactly as it was; nothing stored starts like a spreadsheet formula; stored
file names are base names. ``NATSCHED_FUZZ_PROFILE=stress`` (``make
stress``) runs twenty times the cases. Each test prints its case count and
appends it to build/stress/fuzz.jsonl for the stress report.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import time
import zipfile
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from scheduler.ingest import upload
from scheduler.spec_io import InputError, load_instance
from scheduler.store import models as m
from scheduler.store.db import transaction
from tests.store.conftest import fingerprint

STRESS = os.environ.get("NATSCHED_FUZZ_PROFILE") == "stress"
N = 20 if STRESS else 1
NOW = datetime(2022, 1, 10, 0, 0)
GOOD_CSV = Path("fixtures/demo/uploads/411001.csv").read_bytes()
GOOD_XLSX = Path("fixtures/demo/uploads/411002.xlsx").read_bytes()
HOSTILE = [
    "=cmd|' /C calc'!A0",
    "+1+1",
    "-2+3",
    "@SUM(A1)",
    "\t=1",
    "\r=1",
    '=HYPERLINK("http://x")',
    "x" * 100_000,
    "\x00",
    "\u202e evil",
    "../../etc/passwd",
    "1e308",
    "NaN",
    "-0",
    "９９",
    "'; DROP TABLE batches; --",
]
NAMES = [
    "../../etc/passwd",
    "C:\\x\\..\\y.csv",
    "a\x00b.csv",
    "x" * 5000 + ".csv",
    "\u202egpj.csv",
    "noext",
    "data.xlsx",
    "/abs/path.csv",
]
CASES: Counter[str] = Counter()


def _record(name: str, started: float) -> None:
    out = Path("build/stress")
    out.mkdir(parents=True, exist_ok=True)
    line = {
        "test": name,
        "cases": CASES[f"{name}:cases"],
        "rejected": CASES[f"{name}:rejected"],
        "crashes": 0,
        "seconds": round(time.monotonic() - started, 1),
        "profile": "stress" if STRESS else "ci",
    }
    with (out / "fuzz.jsonl").open("a", encoding="utf-8") as f:
        f.write(json.dumps(line) + "\n")
    print(f"\nfuzz {name}: {line['cases']} cases, {line['rejected']} rejected, 0 crashes")


@pytest.fixture
def world(engine) -> Iterator[object]:  # type: ignore[no-untyped-def]
    from scheduler.store.world import seed

    with transaction(engine) as s:
        seed(s, load_instance("fixtures/demo"), now=NOW, with_batches=False)
    yield engine


def _mutations() -> st.SearchStrategy[bytes]:
    lines = GOOD_CSV.decode("utf-8").splitlines()
    header, body = lines[0], lines[1:]

    @st.composite
    def cell_swap(draw: st.DrawFn) -> bytes:
        rows = [r.split(",") for r in body[: draw(st.integers(1, 20))]]
        i = draw(st.integers(0, len(rows) - 1))
        j = draw(st.integers(0, len(rows[i]) - 1))
        rows[i][j] = draw(st.sampled_from(HOSTILE) | st.text(max_size=30))
        text = "\n".join([header] + [",".join(r) for r in rows]) + "\n"
        enc = draw(st.sampled_from(["utf-8", "utf-8-sig", "gb18030", "utf-16", "latin-1"]))
        return text.encode(enc, errors="replace")

    @st.composite
    def byte_flip(draw: st.DrawFn) -> bytes:
        data = bytearray(draw(st.sampled_from([GOOD_CSV, GOOD_XLSX])))
        for _ in range(draw(st.integers(1, 8))):
            k = draw(st.integers(0, len(data) - 1))
            data[k] = draw(st.integers(0, 255))
        cut = draw(st.integers(1, len(data)))
        return bytes(data[:cut]) if draw(st.booleans()) else bytes(data)

    @st.composite
    def columns(draw: st.DrawFn) -> bytes:
        rows = [r.split(",") for r in [header, *body[:10]]]
        order = draw(st.permutations(range(len(rows[0]))))
        drop = draw(st.integers(-1, len(rows[0]) - 1))
        rows = [[r[k] for k in order if k != drop] for r in rows]
        if draw(st.booleans()):
            rows[0][0] = draw(st.sampled_from(["", "county", "区县", rows[0][0] * 2]))
        if draw(st.booleans()):
            rows = rows + rows[1:]
        return ("\n".join(",".join(r) for r in rows) + "\n").encode()

    return st.one_of(st.binary(max_size=2000), cell_swap(), byte_flip(), columns())


def _xlsx_with(values: list[object]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(
        [
            "county_code",
            "site_id",
            "site_name",
            "lat",
            "lon",
            "window_start",
            "window_end",
            "category",
            "pool_size",
            "people",
        ]
    )
    from openpyxl.utils.exceptions import IllegalCharacterError

    try:
        ws.append(["411001", "S411001-0001", *values[:8]])
    except IllegalCharacterError:
        assume(False)  # not a workbook anyone can write
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _check_outcome(engine, data: bytes, name: str, key: str) -> None:  # type: ignore[no-untyped-def]
    before = fingerprint(engine)
    with transaction(engine) as s:
        report = upload(s, data, name, "411001", user="fuzz", now=NOW, mode="commit")
        assert "/" not in report.filename and "\\" not in report.filename
        assert "\x00" not in report.filename
    CASES[f"{key}:cases"] += 1
    if report.status == "rejected":
        CASES[f"{key}:rejected"] += 1
        assert fingerprint(engine) == before, "a rejected upload changed the database"
        assert report.errors and all(str(e) for e in report.errors)
    with transaction(engine) as s:
        for row in s.scalars(select(m.Site.name)):
            assert not row.startswith(("=", "+", "-", "@")), row
        for f in s.scalars(select(m.Upload.filename)):
            assert "/" not in f and "\\" not in f


@settings(max_examples=60 * N, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=_mutations(), name=st.sampled_from(["x.csv", "x.xlsx", *NAMES]))
def test_fuzz_upload(world, data: bytes, name: str) -> None:
    _check_outcome(world, data, name, "upload")


@settings(max_examples=20 * N, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    values=st.lists(st.sampled_from(HOSTILE) | st.integers() | st.floats(), min_size=8, max_size=8)
)
def test_fuzz_xlsx_cells(world, values: list[object]) -> None:
    _check_outcome(world, _xlsx_with(values), "x.xlsx", "xlsx")


def test_real_formulas_and_zip_bombs_are_refused(world) -> None:  # type: ignore[no-untyped-def]
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["county_code", "site_id"])
    ws.append(["=1+1", '=HYPERLINK("http://evil","x")'])
    out = io.BytesIO()
    wb.save(out)
    _check_outcome(world, out.getvalue(), "f.xlsx", "special")
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/worksheets/sheet1.xml", b"\x00" * (300 * 2**20))
    with transaction(world) as s:
        rep = upload(s, bomb.getvalue(), "bomb.xlsx", "411001", user="fuzz", now=NOW)
    assert rep.status == "rejected" and "unpacks to" in str(rep.errors[0])


SPEC_FILES = [
    "labs.csv",
    "sites.csv",
    "batches.csv",
    "travel.csv",
    "lab_outages.csv",
    "instance.json",
]


@settings(max_examples=40 * N, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    target=st.sampled_from(SPEC_FILES),
    how=st.sampled_from(["flip", "truncate", "cell", "json"]),
    seed=st.integers(0, 2**32 - 1),
    value=st.sampled_from([*HOSTILE, "-1", "1e999", "", "true", "null", "[]", "{}"]),
)
def test_fuzz_spec_folder(tmp_path_factory, target: str, how: str, seed: int, value: str) -> None:
    import random

    rng = random.Random(seed)
    folder = tmp_path_factory.mktemp("spec")
    shutil.copytree("fixtures/county", folder, dirs_exist_ok=True)
    path = folder / target
    data = bytearray(path.read_bytes())
    if how == "flip" and data:
        for _ in range(rng.randint(1, 5)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif how == "truncate":
        data = data[: rng.randrange(len(data) + 1)]
    elif how == "cell":
        lines = data.decode("utf-8", "replace").splitlines()
        if len(lines) > 1:
            i = rng.randrange(1, len(lines))
            cells = lines[i].split(",")
            cells[rng.randrange(len(cells))] = value
            lines[i] = ",".join(cells)
        data = bytearray(("\n".join(lines) + "\n").encode())
    elif how == "json" and target == "instance.json":
        doc = json.loads(data)
        key = rng.choice(sorted(doc))
        doc[key] = json.loads(value) if value in ("true", "null", "[]", "{}", "-1") else value
        data = bytearray(json.dumps(doc).encode())
    path.write_bytes(bytes(data))
    CASES["spec:cases"] += 1
    try:
        load_instance(folder)
    except InputError as exc:
        CASES["spec:rejected"] += 1
        assert exc.errors and all(str(e) for e in exc.errors)


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    started = time.monotonic()
    yield
    for key in ("upload", "xlsx", "spec"):
        if CASES[f"{key}:cases"]:
            _record(key, started)


def test_damaged_deflate_stream_is_a_rejection_not_a_crash(world) -> None:  # type: ignore[no-untyped-def]
    """Found by the fuzzer: zlib.error escaped from a damaged workbook."""
    data = bytearray(GOOD_XLSX)
    info = zipfile.ZipFile(io.BytesIO(GOOD_XLSX)).getinfo("xl/worksheets/sheet1.xml")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for k in range(start + 5, start + 40):
        data[k] ^= 0x5A
    with transaction(world) as s:
        rep = upload(s, bytes(data), "x.xlsx", "411001", user="fuzz", now=NOW)
    assert rep.status == "rejected" and "XLSX" in str(rep.errors[0])
