"""County upload files -> a table of text cells, every problem located.

Accepts what offices send (docs/uploads.md): CSV in UTF-8 (with or without
BOM) or GB18030, with English or Chinese headers, and XLSX. Nothing in a file
is ever evaluated: spreadsheet formulas are rejected, not computed.
"""

from __future__ import annotations

import csv
import io
import zipfile
import zlib
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from scheduler.fixturegen.uploads import CATEGORY_ZH, COLUMNS, COLUMNS_ZH

MAX_BYTES = 50 * 1024 * 1024
#: every documented column but the optional ones (docs/uploads.md section 2)
OPTIONAL = ("tubes", "due_at")
REQUIRED = tuple(c for c in COLUMNS if c not in OPTIONAL)
HEADER = {**{c: c for c in COLUMNS}, **{zh: c for c, zh in COLUMNS_ZH.items()}}
CATEGORY = {**{c: c for c in CATEGORY_ZH}, **{zh: c for c, zh in CATEGORY_ZH.items()}}


@dataclass(frozen=True)
class CellError:
    """One problem: ``row`` is the file's line (header = 1) or spreadsheet row."""

    row: int | None
    column: str | None
    value: str
    rule: str

    def __str__(self) -> str:
        where = [
            f"row {self.row}" if self.row else "",
            f"column '{self.column}'" if self.column else "",
        ]
        place = ", ".join(w for w in where if w)
        shown = f" {self.value!r}:" if self.value else ""
        return f"{place}:{shown} {self.rule}" if place else f"{shown} {self.rule}".strip()


class UnreadableFile(Exception):
    def __init__(self, errors: list[CellError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


def read_table(data: bytes, filename: str) -> pd.DataFrame:
    """The file as a DataFrame of stripped text cells with canonical column names.

    The index holds each row's line in the file. Raises :class:`UnreadableFile`
    for anything that is not a readable upload (size, encoding, structure,
    formulas, headers).
    """
    if len(data) > MAX_BYTES:
        raise UnreadableFile(
            [CellError(None, None, "", f"file is {len(data) / 2**20:.1f} MB, over the 50 MB limit")]
        )
    if not data.strip():
        raise UnreadableFile([CellError(None, None, "", "the file is empty")])
    if data[:4] == b"PK\x03\x04" or filename.lower().endswith(".xlsx"):
        raw = _read_xlsx(data)
    else:
        raw = _read_csv(data)
    return _canonical(raw)


def _read_csv(data: bytes) -> pd.DataFrame:
    if b"\x00" in data:
        raise UnreadableFile([CellError(None, None, "", "binary data (NUL bytes): not a CSV file")])
    text = None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    for enc in ("utf-8", "gb18030"):
        try:
            text = data.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    if text is None:
        raise UnreadableFile([CellError(None, None, "", "cannot decode as UTF-8 or GB18030")])
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skip_blank_lines=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise UnreadableFile(
            [CellError(None, None, "", f"not a readable CSV table: {exc}")]
        ) from exc
    if not isinstance(df.index, pd.RangeIndex):
        # every data row had more cells than the header: pandas made the extra
        # leading cells an index (and `index + 2` below would crash)
        raise UnreadableFile(
            [CellError(1, None, "", "the data rows have more cells than the header row")]
        )
    # pandas numbers data rows from 0; the file's line is that + 2 (header is line 1)
    df.index = df.index + 2
    # pandas renames a repeated header ("people.1"): keep the names as written
    # newline="" lets the csv module see a lone CR as pandas does (not an error)
    try:
        df.attrs["header"] = next(csv.reader(io.StringIO(text, newline="")), [])
    except csv.Error as exc:
        raise UnreadableFile(
            [CellError(None, None, "", f"not a readable CSV table: {exc}")]
        ) from exc
    return df


#: what a damaged workbook raises from the zip and XML layers below openpyxl
_BROKEN_ZIP = (zipfile.BadZipFile, KeyError, OSError, ValueError, EOFError, zlib.error, SyntaxError)
#: what an XLSX may unpack to: a real county sheet is a few MB; more is a zip bomb
MAX_XLSX_UNPACKED = 256 * 1024 * 1024


def _read_xlsx(data: bytes) -> pd.DataFrame:
    import openpyxl

    try:
        unpacked = sum(i.file_size for i in zipfile.ZipFile(io.BytesIO(data)).infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise UnreadableFile(
            [CellError(None, None, "", f"not a readable XLSX workbook ({type(exc).__name__})")]
        ) from exc
    if unpacked > MAX_XLSX_UNPACKED:
        raise UnreadableFile(
            [
                CellError(
                    None,
                    None,
                    "",
                    f"the workbook unpacks to {unpacked / 2**20:.0f} MB, "
                    f"over the {MAX_XLSX_UNPACKED // 2**20} MB limit",
                )
            ]
        )
    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except (*_BROKEN_ZIP, TypeError) as exc:
        raise UnreadableFile(
            [CellError(None, None, "", f"not a readable XLSX workbook ({type(exc).__name__})")]
        ) from exc
    try:
        ws = wb.worksheets[0]
        rows: list[list[str]] = []
        errors: list[CellError] = []
        for r, row in enumerate(ws.iter_rows(), start=1):
            out = []
            for cell in row:
                v = cell.value
                if cell.data_type == "f" or (isinstance(v, str) and v.startswith("=")):
                    errors.append(
                        CellError(
                            r,
                            getattr(cell, "coordinate", None),
                            str(v)[:40],
                            "spreadsheet formulas are not accepted; paste values",
                        )
                    )
                    out.append("")
                    continue
                out.append(_xlsx_text(v))
            rows.append(out)
    except (*_BROKEN_ZIP, IndexError) as exc:
        raise UnreadableFile(
            [CellError(None, None, "", f"not a readable XLSX workbook ({type(exc).__name__})")]
        ) from exc
    finally:
        wb.close()
    if errors:
        raise UnreadableFile(errors)
    rows = [r for r in rows if any(c for c in r)]
    if not rows:
        raise UnreadableFile([CellError(None, None, "", "the workbook's first sheet is empty")])
    width = len(rows[0])
    body = [(r + [""] * width)[:width] for r in rows[1:]]
    df = pd.DataFrame(body, columns=[f"{c}\x00{k}" for k, c in enumerate(rows[0])], dtype=str)
    df.index = pd.RangeIndex(2, 2 + len(df))
    df.attrs["header"] = [str(c) for c in rows[0]]
    return df


def _xlsx_text(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%dT%H:%M")
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _canonical(df: pd.DataFrame) -> pd.DataFrame:
    errors: list[CellError] = []
    names: dict[str, str] = {}
    written = df.attrs.get("header") or [str(c) for c in df.columns]
    for col, title in zip(df.columns, written, strict=False):
        key = HEADER.get(str(title).strip().lstrip("\ufeff"))
        if key is not None:
            if key in names.values():
                errors.append(CellError(1, str(title), "", f"column {key!r} appears twice"))
            names[col] = key
    missing = [c for c in REQUIRED if c not in names.values()]
    for c in missing:
        errors.append(
            CellError(1, c, "", f"missing column (English {c!r} or Chinese {COLUMNS_ZH[c]!r})")
        )
    if errors:
        raise UnreadableFile(errors)
    out = df[list(names)].rename(columns=names)
    return out.apply(lambda s: s.astype(str).str.strip())
