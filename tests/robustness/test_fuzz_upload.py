"""Issue #9: fuzzed county uploads never crash, never half-store, never store formulas.

Properties, for every generated (bytes, filename):

* ``upload`` returns an UploadReport (it raises nothing: ValueError only for a
  bad ``mode``, which these tests never pass);
* a rejected or dry-run report with errors: every error has a row, a column
  or a whole-file message;
* a rejected upload leaves the database as it was (``fingerprint``);
* no text column in the database starts with ``= + - @`` (formula injection);
* the stored file name is a base name: no ``/``, ``\\``, NUL, <= 255 characters.
"""

from __future__ import annotations

import zipfile
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import String, Text, select

from scheduler.ingest import reader as reader_mod
from scheduler.ingest.upload import FORMULA_START, IngestSettings, UploadReport, safe_name, upload
from scheduler.store import models as m
from scheduler.store.db import transaction
from tests.support import strategies as S
from tests.support.db import fingerprint

NOW = datetime(2022, 1, 9, 7, 50)
LOOSE = IngestSettings(max_future_hours=24)
COUNTY = "411001"


def send(engine: Any, data: bytes, name: str, **kw: Any) -> UploadReport:
    kw.setdefault("settings", LOOSE)
    with transaction(engine) as s:
        return upload(s, data, name, COUNTY, user="fuzz", now=NOW, **kw)


def check_report(rep: UploadReport) -> None:
    assert isinstance(rep, UploadReport)
    assert rep.status in ("dry-run", "stored", "partial", "rejected", "duplicate")
    if rep.status == "rejected":
        assert rep.errors, "a rejected upload must say why"
    for e in rep.errors:
        assert e.row or e.column or e.rule.strip(), e
        assert str(e)
    name = rep.filename
    assert name and len(name) <= 255
    assert "/" not in name and "\\" not in name and "\x00" not in name
    assert name not in (".", "..")
    assert all(ch.isprintable() for ch in name)


def text_columns_clean(engine: Any) -> None:
    """No String/Text cell in any table starts like a spreadsheet formula."""
    with engine.connect() as conn:
        for table in m.Base.metadata.sorted_tables:
            cols = [c for c in table.columns if isinstance(c.type, String | Text)]
            if not cols:
                continue
            for row in conn.execute(select(*cols)):
                for col, v in zip(cols, row, strict=True):
                    if isinstance(v, str) and v.startswith(FORMULA_START):
                        # negative numbers are not text columns; anything else is a formula
                        raise AssertionError(f"{table.name}.{col.name} stores {v[:40]!r}")
                    if table.name == "uploads" and col.name == "filename":
                        assert v == safe_name(v)


#: the last fingerprint of each engine, so each case digests the database once
_LAST: dict[int, dict[str, tuple[int, str]]] = {}


def check_upload(engine: Any, stats: S.Stats, data: bytes, name: str, **kw: Any) -> bool:
    before = _LAST.get(str(engine.url)) or fingerprint(engine)
    rep = send(engine, data, name, **kw)
    check_report(rep)
    after = fingerprint(engine)
    _LAST[str(engine.url)] = after
    if rep.status in ("rejected", "duplicate") or kw.get("mode") == "dry-run":
        assert after == before, f"{rep.status} upload changed the database"
    else:
        stats.note(rep.status)
        text_columns_clean(engine)
    return rep.status == "rejected" or bool(rep.errors)


def test_fuzz_upload_mixed(engine, demo_world, capsys) -> None:
    """Random bytes, mutated CSV/XLSX, wrong encodings, zips, hostile names."""
    stats = S.Stats("fuzz upload")

    @S.fuzz(600)
    @given(S.upload_files(), st.sampled_from(["commit", "commit", "dry-run"]))
    def run(file: tuple[bytes, str], mode: str) -> None:
        data, name = file
        stats.run(lambda: check_upload(engine, stats, data, name, mode=mode))

    try:
        run()
    finally:
        stats.report(capsys)


def test_fuzz_upload_formulas(engine, demo_world, capsys) -> None:
    """Formula-looking cells in any text column, CSV and XLSX (real formulas too)."""
    stats = S.Stats("fuzz upload formulas")
    lines = S.base_lines()
    header = S.split(lines[0])

    @S.fuzz(150)
    @given(
        st.sampled_from(S.FORMULAS)
        | st.builds(lambda p, t: p + t, st.sampled_from("=+-@"), st.text(max_size=20)),
        st.sampled_from(header),
        st.integers(1, len(lines) - 1),
        st.sampled_from(["csv", "xlsx", "xlsx-formula"]),
        st.booleans(),
    )
    def run(value: str, column: str, row: int, fmt: str, accept: bool) -> None:
        rows = [S.split(x) for x in lines]
        rows[row][header.index(column)] = value
        if fmt == "csv":
            data, name = S.to_csv(rows, quote=True).encode(), "411001.csv"
        else:
            cells: list[list[Any]] = [list(r) for r in rows]
            if fmt == "xlsx-formula":
                cells[row][header.index(column)] = "=SUM(1,2)"
            data, name = S.xlsx_bytes(cells), "411001.xlsx"

        def body() -> bool:
            rejected = check_upload(engine, stats, data, name, accept_valid_rows=accept)
            if column == "site_name" and value.startswith(FORMULA_START):
                assert rejected, f"formula {value!r} in site_name was accepted"
            return rejected

        stats.run(body)

    try:
        run()
    finally:
        stats.report(capsys)


def test_fuzz_upload_filenames(engine, demo_world, capsys) -> None:
    """Path tricks in names: stored names are base names, a path is never used."""
    stats = S.Stats("fuzz upload filenames")
    good = ("\n".join(S.base_lines(rows=3)) + "\n").encode()

    @S.fuzz(100)
    @given(S.filenames, st.sampled_from([good, S.base_xlsx(), b"\x00\x01junk"]))
    def run(name: str, data: bytes) -> None:
        def body() -> bool:
            safe = safe_name(name)
            assert "/" not in safe and "\\" not in safe and "\x00" not in safe
            assert 0 < len(safe) <= 255 and safe not in (".", "..")
            return check_upload(engine, stats, data, name)

        stats.run(body)

    try:
        run()
    finally:
        stats.report(capsys)


# --------------------------------------------------------------------------- giant inputs


def test_giant_inputs(engine, demo_world, capsys, monkeypatch) -> None:
    """100k-character cells, 10k columns, a file at/over the size limit, zip bombs."""
    stats = S.Stats("fuzz upload giant")
    lines = list(S.base_lines(rows=5))
    header = S.split(lines[0])
    cases: list[tuple[str, bytes, str]] = []
    for col in ("site_name", "site_id", "people", "window_start", "county_code"):
        rows = [S.split(x) for x in lines]
        rows[1][header.index(col)] = "=" + "x" * 100_000 if col == "site_name" else "9" * 100_000
        cases.append((f"100k cell {col}", S.to_csv(rows, quote=True).encode(), "411001.csv"))
    wide = [*lines[0].split(","), *(f"c{i}" for i in range(10_000))]
    body = [[*S.split(x), *("1" for _ in range(10_000))] for x in lines[1:]]
    cases.append(("10k columns", S.to_csv([wide, *body], quote=False).encode(), "411001.csv"))
    cases.append(("10k columns xlsx", S.xlsx_bytes([wide, *body[:2]]), "411001.xlsx"))
    # many rows, right up to a (lowered) size limit and one byte over
    limit = 1_000_000
    monkeypatch.setattr(reader_mod, "MAX_BYTES", limit)
    row = (lines[1] + "\n").encode()
    head = (lines[0] + "\n").encode()
    n = (limit - len(head)) // len(row)
    at_limit = head + row * n
    at_limit += b" " * (limit - len(at_limit))
    cases.append(("at size limit", at_limit, "411001.csv"))
    cases.append(("over size limit", at_limit + b"\n", "411001.csv"))
    # zip bombs: declared and real unpacked size over the limit
    bomb = S.zip_with({"xl/worksheets/sheet1.xml": b"\x00" * (300 * 2**20)})
    cases.append(("zip bomb", bomb, "411001.xlsx"))
    cases.append(("zip bomb as csv name", bomb, "411001.csv"))
    cases.append(("stored zip", S.zip_with({"a": b"b" * 1000}, zipfile.ZIP_STORED), "x.xlsx"))
    cases.append(("pdf as xlsx", b"%PDF-1.4\n" + b"x" * 1000, "411001.xlsx"))
    cases.append(("csv bytes as xlsx", "\n".join(lines).encode(), "411001.xlsx"))
    for label, data, name in cases:
        before = fingerprint(engine)

        def one(data: bytes = data, name: str = name) -> bool:
            return check_upload(engine, stats, data, name, mode="dry-run")

        stats.run(one)
        assert fingerprint(engine) == before, label
        rep = send(engine, data, name, mode="dry-run")
        if label in ("over size limit", "zip bomb", "zip bomb as csv name"):
            assert rep.status == "rejected" and rep.errors[0].row is None, label
        if label == "at size limit":
            assert not any("limit" in e.rule for e in rep.errors), label
        if label == "100k cell site_name":
            assert any(e.column == "site_name" for e in rep.errors)
    stats.report(capsys)


@pytest.mark.parametrize("mode", ["commit", "dry-run"])
def test_formula_guard_covers_prefixes(engine, demo_world, mode) -> None:
    """Focused check of the guard on each documented prefix, leading blanks included."""
    lines = S.base_lines(rows=2)
    header = S.split(lines[0])
    for value in ("=1+1", "+1", "-1", "@A1", "\t=1+1", "\r=1+1"):
        rows = [S.split(x) for x in lines]
        rows[1][header.index("site_name")] = value
        rep = send(engine, S.to_csv(rows, quote=True).encode(), "411001.csv", mode=mode)
        assert rep.errors, (value, rep.status)


# --------------------------------------------------------------------------- regressions


def test_regression_lone_cr_in_header(engine, demo_world) -> None:
    """A lone CR in the header made csv.reader raise _csv.Error (a crash)."""
    lines = S.base_lines(rows=2)
    data = ("county_code\r" + "\n".join(lines) + "\n").encode()
    rep = send(engine, data, "411001.csv")
    check_report(rep)
    assert rep.status == "rejected"


def test_regression_rows_wider_than_header(engine, demo_world) -> None:
    """Every data row one cell wider than the header: pandas made an index, `+ 2` crashed."""
    lines = S.base_lines(rows=2)
    data = (lines[0] + "\n" + "\n".join(x + ",extra" for x in lines[1:]) + "\n").encode()
    before = fingerprint(engine)
    rep = send(engine, data, "411001.csv")
    check_report(rep)
    assert rep.status == "rejected" and rep.errors[0].row == 1
    assert "more cells than the header" in rep.errors[0].rule
    assert fingerprint(engine) == before


@pytest.mark.parametrize("name", ["..", ".", "C:\\x\\..", "../..", ". ."])
def test_regression_dot_names_are_not_stored(name: str) -> None:
    """safe_name('..') was '..': a path step, not a base name."""
    assert safe_name(name) == "upload"
