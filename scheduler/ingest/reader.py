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

from scheduler.ingest.format import COLUMNS_ZH, HEADER, REQUIRED

MAX_BYTES = 50 * 1024 * 1024


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


#: what offices' spreadsheets save besides UTF-8 and GB18030, and the advice for each
SAVE_AS = "save it as “CSV UTF-8” or as an Excel workbook (.xlsx) and upload that"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def _utf16(data: bytes) -> bool:
    """Excel's "Unicode text" export: UTF-16, with or without its byte-order mark."""
    sample = data[:4096]
    if sample[:2] in _UTF16_BOMS:
        try:
            head = sample[: len(sample) // 2 * 2].decode("utf-16")
        except UnicodeDecodeError:
            return False
        # a table, not noise that happens to start with the mark: Excel's export is tab-separated
        return "\t" in head or "," in head
    half = max(1, len(sample) // 2)
    # ASCII in UTF-16 puts a NUL beside every letter, on one side only
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    return max(even, odd) > 0.3 * half and min(even, odd) < 0.05 * half


def _odd_share(text: str) -> float:
    """Share of non-ASCII characters that Chinese site names never hold.

    Big5 bytes decode as GB18030 without an error, into kana, Greek and box
    drawing among rare ideographs: that mix is the sign of the wrong code page.
    """
    wide = [c for c in text if ord(c) > 127]
    if not wide:
        return 0.0
    usual = (
        (0x4E00, 0x9FFF),  # CJK unified ideographs
        (0x3400, 0x4DBF),  # extension A
        (0x3000, 0x303F),  # CJK punctuation
        (0xFF00, 0xFFEF),  # full-width forms
        (0x2000, 0x206F),  # general punctuation
        (0x00A0, 0x00FF),  # Latin-1 (°, ·)
    )
    odd = sum(1 for c in wide if not any(lo <= ord(c) <= hi for lo, hi in usual))
    return odd / len(wide)


def _japanese(data: bytes) -> bool:
    try:
        text = data.decode("shift_jis")
    except UnicodeDecodeError:
        return False
    wide = [c for c in text if ord(c) > 127]
    kana = sum(1 for c in wide if 0x3040 <= ord(c) <= 0x30FF)
    return bool(wide) and kana >= 0.1 * len(wide)


def _decode(data: bytes) -> str:
    """The text of a CSV upload, or a refusal that names the encoding it is in."""
    if _utf16(data):
        raise UnreadableFile(
            [CellError(None, None, "", f"this file is UTF-16 (Excel's “Unicode text”): {SAVE_AS}")]
        )
    if b"\x00" in data:
        raise UnreadableFile([CellError(None, None, "", "binary data (NUL bytes): not a CSV file")])
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if _japanese(data):
        raise UnreadableFile(
            [CellError(None, None, "", f"this file is Shift-JIS (Japanese): {SAVE_AS}")]
        )
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        text = None
    if text is not None and _odd_share(text) <= 0.02:
        return text
    try:
        big5 = data.decode("big5")
    except UnicodeDecodeError:
        big5 = None
    if big5 is not None and (text is None or _odd_share(big5) < _odd_share(text)):
        raise UnreadableFile(
            [CellError(None, None, "", f"this file is Big5 (Traditional Chinese): {SAVE_AS}")]
        )
    if text is None:
        raise UnreadableFile(
            [CellError(None, None, "", f"cannot decode as UTF-8 or GB18030: {SAVE_AS}")]
        )
    return text


def _read_csv(data: bytes) -> pd.DataFrame:
    text = _decode(data)
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
