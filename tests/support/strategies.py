"""Hypothesis strategies and bookkeeping for the fuzz tests (issue #9).

``NATSCHED_FUZZ_PROFILE=stress`` runs ~20x the examples of the default "ci"
profile. Each test prints one summary line and appends a JSON line to
``build/stress/fuzz.jsonl``.
"""

from __future__ import annotations

import io
import json
import os
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

PROFILE = os.environ.get("NATSCHED_FUZZ_PROFILE", "ci")
SCALE = 20 if PROFILE == "stress" else 1
UPLOADS = Path("fixtures/demo/uploads")
REPORT = Path("build/stress/fuzz.jsonl")

for _name in ("ci", "stress"):
    settings.register_profile(
        _name,
        deadline=None,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
settings.load_profile(PROFILE)


def fuzz(n: int) -> settings:
    """Settings for a test worth ``n`` examples in the ci profile."""
    return settings(max_examples=n * SCALE, deadline=None)


@dataclass
class Stats:
    """Cases tried, rejected and crashed for one test; reported at the end."""

    name: str
    cases: int = 0
    rejected: int = 0
    crashes: int = 0
    extra: dict[str, int] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    def run(self, body: Callable[[], bool]) -> None:
        """Count one case; ``body`` returns True when the input was rejected."""
        self.cases += 1
        try:
            if body():
                self.rejected += 1
        except AssertionError:
            raise
        except Exception:
            self.crashes += 1
            raise

    def note(self, key: str) -> None:
        self.extra[key] = self.extra.get(key, 0) + 1

    def report(self, capsys: Any) -> None:
        secs = time.monotonic() - self.started
        line = (
            f"{self.name}: {self.cases} cases, {self.rejected} rejected, "
            f"{self.crashes} crashes ({secs:.1f} s, profile {PROFILE})"
        )
        with capsys.disabled():
            print("\n" + line)
        REPORT.parent.mkdir(parents=True, exist_ok=True)
        rec = {
            "test": self.name,
            "profile": PROFILE,
            "cases": self.cases,
            "rejected": self.rejected,
            "crashes": self.crashes,
            "seconds": round(secs, 2),
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **self.extra,
        }
        with REPORT.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")


# --------------------------------------------------------------------------- hostile values

FORMULAS = [
    "=cmd|' /C calc'!A0",
    "=1+1",
    "+SUM(A1:A9)",
    "-2+3",
    "@SUM(A1)",
    "\t=1+1",
    "\r=1+1",
    " =1+1",
    '=HYPERLINK("http://x","y")',
    "＝1+1",
    "-",
    "+",
    "@",
    "=",
]
HOSTILE = [
    *FORMULAS,
    "",
    " ",
    "\x00",
    "\u202egnp.exe",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "Infinity",
    "1e308",
    "1e309",
    "-0",
    "9" * 400,
    "0x1F",
    "1_000",
    "١٢",
    "2022-02-30T08:00",
    "2022-01-09T25:00",
    "2022-01-09T08:00+08:00",
    "2022-01-09T08:00Z",
    "9999-12-31T23:59",
    "0001-01-01T00:00",
    "'; DROP TABLE uploads; --",
    '"',
    '""',
    "a,b",
    "a\nb",
    "a\r\nb",
    "\ufeff",
    "许昌",
    "发热门诊",
    "x" * 5000,
]
hostile_text = st.sampled_from(HOSTILE) | st.text(max_size=40)

FILENAMES = [
    "../../etc/passwd",
    "..\\..\\windows\\system32\\x.csv",
    "C:\\x\\..",
    "C:\\x\\..\\411001.csv",
    "/abs/path/411001.csv",
    "411001.csv\x00.exe",
    "\x00",
    "a" * 5000 + ".csv",
    "\u202ecsv.exe",
    "411001",
    "411001.xlsx",
    "",
    ".",
    "..",
    "/",
    "\\",
    "名单.csv",
    "con.csv",
    "a/b/../../../c.csv",
    "\n\r\t.csv",
]
filenames = st.sampled_from(FILENAMES) | st.text(max_size=300)


# --------------------------------------------------------------------------- base files


@cache
def base_lines(county: str = "411001", rows: int = 12) -> tuple[str, ...]:
    """Header plus the first ``rows`` data lines of a demo upload (UTF-8 or GB18030)."""
    data = (UPLOADS / f"{county}.csv").read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("gb18030")
    return tuple(text.splitlines()[: rows + 1])


def split(line: str) -> list[str]:
    # the demo site names hold no commas, so a plain split is exact
    return line.split(",")


def xlsx_bytes(rows: list[list[Any]]) -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    for r in rows:
        ws.append([ILLEGAL_CHARACTERS_RE.sub("", c) if isinstance(c, str) else c for c in r])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


@cache
def base_xlsx() -> bytes:
    return xlsx_bytes([split(x) for x in base_lines()])


def zip_with(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=method) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


# --------------------------------------------------------------------------- mutations


@st.composite
def mutated_table(draw: st.DrawFn) -> list[list[str]]:
    """The demo rows with a few structural and cell mutations applied."""
    county = draw(st.sampled_from(["411001", "411004"]))
    rows = [split(x) for x in base_lines(county)]
    for _ in range(draw(st.integers(0, 4))):
        op = draw(
            st.sampled_from(
                ["dup_row", "del_row", "del_col", "swap_cols", "rename", "cell", "dup_col", "pad"]
            )
        )
        width = len(rows[0])
        if op == "dup_row" and len(rows) > 1:
            rows.append(list(rows[draw(st.integers(1, len(rows) - 1))]))
        elif op == "del_row" and len(rows) > 1:
            del rows[draw(st.integers(1, len(rows) - 1))]
        elif op == "del_col" and width > 1:
            k = draw(st.integers(0, width - 1))
            rows = [r[:k] + r[k + 1 :] for r in rows]
        elif op == "swap_cols" and width > 1:
            a, b = draw(st.integers(0, width - 1)), draw(st.integers(0, width - 1))
            for r in rows:
                if max(a, b) < len(r):
                    r[a], r[b] = r[b], r[a]
        elif op == "rename":
            rows[0][draw(st.integers(0, width - 1))] = draw(hostile_text)
        elif op == "cell" and len(rows) > 1:
            r = draw(st.integers(1, len(rows) - 1))
            c = draw(st.integers(0, len(rows[r]) - 1))
            rows[r][c] = draw(hostile_text)
        elif op == "dup_col":
            k = draw(st.integers(0, width - 1))
            rows = [[*r, r[k] if k < len(r) else ""] for r in rows]
        elif op == "pad" and len(rows) > 1:
            r = draw(st.integers(1, len(rows) - 1))
            rows[r] = rows[r] + [draw(hostile_text)] * draw(st.integers(1, 3))
    return rows


def to_csv(rows: list[list[str]], *, quote: bool) -> str:
    import csv

    buf = io.StringIO()
    if quote:
        csv.writer(buf, lineterminator="\n").writerows(rows)
        return buf.getvalue()
    return "".join(",".join(r) + "\n" for r in rows)


@st.composite
def encoded(draw: st.DrawFn, text: str) -> bytes:
    """``text`` in a right or wrong encoding, with BOMs, NULs or broken bytes."""
    enc = draw(st.sampled_from(["utf-8", "utf-8-sig", "gb18030", "utf-16", "utf-16-le", "latin-1"]))
    data = text.encode(enc, errors="replace")
    trick = draw(st.sampled_from(["none", "bom", "nul", "invalid", "flip", "truncate", "crlf"]))
    if trick == "bom":
        data = draw(st.sampled_from([b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"])) + data
    elif trick == "nul" and data:
        k = draw(st.integers(0, len(data)))
        data = data[:k] + b"\x00" + data[k:]
    elif trick == "invalid" and data:
        k = draw(st.integers(0, len(data)))
        data = (
            data[:k]
            + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80"]))
            + data[k:]
        )
    elif trick == "flip" and data:
        for _ in range(draw(st.integers(1, 8))):
            k = draw(st.integers(0, len(data) - 1))
            data = data[:k] + bytes([data[k] ^ (1 << draw(st.integers(0, 7)))]) + data[k + 1 :]
    elif trick == "truncate" and data:
        data = data[: draw(st.integers(0, len(data)))]
    elif trick == "crlf":
        data = data.replace(b"\n", draw(st.sampled_from([b"\r\n", b"\r", b"\n\n"])))
    return data


@st.composite
def upload_files(draw: st.DrawFn) -> tuple[bytes, str]:
    """(bytes, filename) of an upload: random, mutated CSV/XLSX, re-encoded, or zip tricks."""
    kind = draw(st.sampled_from(["random", "csv", "csv", "csv", "xlsx", "xlsx_bytes", "zip"]))
    name = draw(st.sampled_from(["411001.csv", "411001.xlsx", "411001"]) | filenames)
    if kind == "random":
        return draw(st.binary(max_size=3000)), name
    if kind == "zip":
        members = draw(
            st.dictionaries(
                st.sampled_from(
                    ["[Content_Types].xml", "xl/workbook.xml", "xl/worksheets/sheet1.xml", "x"]
                ),
                st.binary(max_size=300),
                max_size=4,
            )
        )
        return zip_with(members), name
    if kind == "xlsx_bytes":
        data = bytearray(base_xlsx())
        for _ in range(draw(st.integers(0, 6))):
            k = draw(st.integers(0, len(data) - 1))
            data[k] = draw(st.integers(0, 255))
        cut = draw(st.integers(len(data) // 2, len(data)))
        return bytes(data[:cut]), draw(st.sampled_from(["411001.xlsx", name]))
    rows = draw(mutated_table())
    if kind == "xlsx":
        cells: list[list[Any]] = [
            [draw(st.sampled_from([c, c, c, f"={c!r}"[:30]])) if i else c for c in r]
            for i, r in enumerate(rows)
        ]
        return xlsx_bytes(cells), draw(st.sampled_from(["411001.xlsx", name]))
    text = to_csv(rows, quote=draw(st.booleans()))
    return draw(encoded(text)), name
