"""A corpus of bad county uploads, generated (a 60 MB file is never committed).

Each case: (name, filename, bytes, a phrase the error must contain). They are
built from a valid demo upload so that each breaks exactly one thing.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

COUNTY = "411001"
GOOD = Path("fixtures/demo/uploads/411001.csv")


def good_bytes() -> bytes:
    return GOOD.read_bytes()


def _lines() -> list[str]:
    return good_bytes().decode("utf-8").splitlines()


def _with_cell(column: str, value: str, row: int = 1) -> bytes:
    lines = _lines()
    header = lines[0].split(",")
    cells = lines[row].split(",")
    # site names hold no commas in the demo files, so a plain split is safe here
    cells[header.index(column)] = value
    lines[row] = ",".join(cells)
    return ("\n".join(lines) + "\n").encode("utf-8")


def _xlsx(rows: list[list[object]]) -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _good_rows() -> list[list[object]]:
    return [line.split(",") for line in _lines()]


def corpus() -> list[tuple[str, str, bytes, str]]:
    lines = _lines()
    header = lines[0]
    good = good_bytes()
    rows = _good_rows()
    formula_rows = [list(r) for r in rows[:3]]
    formula_rows[1][9] = "=1+1"
    cmd_rows = [list(r) for r in rows[:3]]
    cmd_rows[2][2] = "=cmd|' /C calc'!A0"
    big = (header + "\n" + "\n".join(lines[1:]) + "\n").encode()
    sixty_mb = big + (lines[1] + "\n").encode() * (60 * 2**20 // len(lines[1]) + 1)
    xlsx_ok = _xlsx(rows[:5])
    return [
        ("empty file", "411001.csv", b"", "empty"),
        ("only blanks", "411001.csv", b"\n\n  \n", "empty"),
        ("header only", "411001.csv", (header + "\n").encode(), "no rows"),
        ("binary garbage", "411001.csv", bytes(range(256)) * 40, "binary"),
        ("exe renamed", "411001.csv", b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 500, "binary"),
        ("utf-16", "411001.csv", good.decode().encode("utf-16"), "UTF-16"),
        ("latin-1 noise", "411001.csv", b"\xff\xfe\xfa\xe9" * 50 + b"\n\x81\x82", "decode"),
        ("truncated csv", "411001.csv", good[: len(good) // 2 - 7], ""),
        ("truncated xlsx", "411001.xlsx", xlsx_ok[: len(xlsx_ok) // 2], "XLSX"),
        ("zip not xlsx", "411001.xlsx", _zip_with("hello.txt", b"hi"), "XLSX"),
        ("formula in xlsx", "411001.xlsx", _xlsx(formula_rows), "formula"),
        ("cmd injection xlsx", "411001.xlsx", _xlsx(cmd_rows), "formula"),
        (
            "cmd injection csv",
            "411001.csv",
            _with_cell("site_name", "=cmd|' /C calc'!A0"),
            "formula",
        ),
        ("plus formula csv", "411001.csv", _with_cell("site_name", "+SUM(A1:A9)"), "formula"),
        ("wrong headers", "411001.csv", b"a,b,c\n1,2,3\n", "missing column"),
        ("missing people column", "411001.csv", _drop_column("people"), "missing column"),
        ("duplicate column", "411001.csv", _dup_column("people"), "twice"),
        ("huge number", "411001.csv", _with_cell("people", "99999999999"), "more than"),
        ("1e30 people", "411001.csv", _with_cell("people", "1e30"), "whole number"),
        ("negative people", "411001.csv", _with_cell("people", "-5"), ">= 1"),
        ("fraction people", "411001.csv", _with_cell("people", "12.5"), "whole number"),
        ("pool 3", "411001.csv", _with_cell("pool_size", "3"), "pool size"),
        ("unknown category", "411001.csv", _with_cell("category", "tourists"), "unknown category"),
        (
            "window end before start",
            "411001.csv",
            _with_cell("window_end", "2022-01-08T21:00"),
            "ends before",
        ),
        ("bad timestamp", "411001.csv", _with_cell("window_start", "yesterday"), "timestamp"),
        (
            "window far future",
            "411001.csv",
            _with_cell("window_start", "2023-06-01T08:00"),
            "from now",
        ),
        ("unknown site", "411001.csv", _with_cell("site_id", "S999999-0001"), "unknown site"),
        (
            "site of another county",
            "411001.csv",
            _with_cell("site_id", "S411002-0001"),
            "belongs to county",
        ),
        (
            "county mismatch",
            "411001.csv",
            _with_cell("county_code", "411002"),
            "uploads for county",
        ),
        ("latitude out of range", "411001.csv", _with_cell("lat", "134.5"), "latitude"),
        ("duplicate rows", "411001.csv", _dup_row(), "duplicate of row"),
        ("nul bytes", "411001.csv", good[:200] + b"\x00\x00" + good[200:], "binary"),
        ("sixty megabytes", "411001.csv", sixty_mb, "50 MB"),
    ]


def _zip_with(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(name, data)
    return buf.getvalue()


def _drop_column(column: str) -> bytes:
    lines = _lines()
    i = lines[0].split(",").index(column)
    out = [",".join(c for k, c in enumerate(line.split(",")) if k != i) for line in lines]
    return ("\n".join(out) + "\n").encode()


def _dup_column(column: str) -> bytes:
    lines = _lines()
    i = lines[0].split(",").index(column)
    out = [line + "," + line.split(",")[i] for line in lines]
    return ("\n".join(out) + "\n").encode()


def _dup_row() -> bytes:
    lines = _lines()
    return ("\n".join([*lines, lines[3]]) + "\n").encode()
