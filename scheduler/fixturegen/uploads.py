"""County-office upload files: writing them (fixtures) and reading them back.

The format (docs/uploads.md) is :mod:`scheduler.ingest.format`'s: one file
per county, ``uploads/<county_code>.csv`` or ``.xlsx``, every sixth county
from the second sending Excel and every sixth from the fourth GB18030 CSV.

Files are written byte-for-byte deterministically: the Excel writer's
timestamps are pinned so that the same seed gives identical files.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from scheduler.batching import UploadRow
from scheduler.ingest.format import CATEGORY, CATEGORY_ZH, COLUMNS, COLUMNS_ZH, HEADER

_FIXED_ZIP_TIME = (2022, 1, 9, 0, 0, 0)
_FIXED_DOC_TIME = "2022-01-09T00:00:00Z"


def upload_format(position: int) -> str:
    """File format of the county at ``position`` (0-based, in code order).

    Every sixth county from the second sends Excel, every sixth from the
    fourth GB18030 CSV; the rest UTF-8 CSV.
    """
    return {1: "xlsx", 3: "gb18030"}.get(position % 6, "csv")


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M")


def _zh_ts(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%d %H:%M")


def _values(row: UploadRow, chinese: bool) -> list[Any]:
    ts = _zh_ts if chinese else _iso
    return [
        row.county_code,
        row.site_id,
        row.site_name,
        repr(row.lat),
        repr(row.lon),
        ts(row.window_start),
        ts(row.window_end),
        CATEGORY_ZH[row.category] if chinese else row.category,
        row.pool_size,
        row.people,
        row.tubes,
        ts(row.due_at) if row.due_at is not None else "",
    ]


def _csv_text(rows: Iterable[UploadRow], chinese: bool) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n" if chinese else "\n")
    w.writerow([COLUMNS_ZH[c] for c in COLUMNS] if chinese else COLUMNS)
    w.writerows(_values(r, chinese) for r in rows)
    return buf.getvalue()


def _xlsx_bytes(rows: Sequence[UploadRow]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "采样数据"
    ws.append([COLUMNS_ZH[c] for c in COLUMNS])
    for r in rows:
        ws.append(
            [
                r.county_code,
                r.site_id,
                r.site_name,
                r.lat,
                r.lon,
                r.window_start,
                r.window_end,
                CATEGORY_ZH[r.category],
                r.pool_size,
                r.people,
                r.tubes,
                r.due_at,
            ]
        )
    for col in ("F", "G", "L"):
        for cell in ws[col][1:]:
            cell.number_format = "yyyy-mm-dd hh:mm"
    raw = io.BytesIO()
    wb.save(raw)
    # openpyxl stamps "now" into docProps/core.xml and the zip entries; pin
    # both so that a seed gives byte-identical files
    out = io.BytesIO()
    with zipfile.ZipFile(raw) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = re.sub(
                    rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(<)",
                    rb"\g<1>" + _FIXED_DOC_TIME.encode() + rb"\g<2>",
                    data,
                )
            zi = zipfile.ZipInfo(info.filename, date_time=_FIXED_ZIP_TIME)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o600 << 16
            dst.writestr(zi, data)
    return out.getvalue()


def write_uploads(uploads: dict[str, list[UploadRow]], folder: str | Path) -> list[Path]:
    """Write one file per county into ``folder``; returns the paths in county order."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in [*folder.glob("*.csv"), *folder.glob("*.xlsx")]:
        stale.unlink()
    paths: list[Path] = []
    for pos, code in enumerate(sorted(uploads)):
        rows = uploads[code]
        fmt = upload_format(pos)
        if fmt == "xlsx":
            path = folder / f"{code}.xlsx"
            path.write_bytes(_xlsx_bytes(rows))
        elif fmt == "gb18030":
            path = folder / f"{code}.csv"
            path.write_bytes(_csv_text(rows, chinese=True).encode("gb18030"))
        else:
            path = folder / f"{code}.csv"
            path.write_bytes(_csv_text(rows, chinese=False).encode("utf-8"))
        paths.append(path)
    return paths


# --------------------------------------------------------------------------- reading


def _ts(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).strip().replace(" ", "T"))


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("gb18030")


def read_upload(path: str | Path) -> list[UploadRow]:
    """Rows of one upload file, in file order (any of the documented variants).

    A minimal reader for tests and for checking the format; the ingestion
    adds error reporting on top.
    """
    path = Path(path)
    table: list[list[Any]]
    if path.suffix.lower() == ".xlsx":
        from openpyxl import load_workbook

        wb = load_workbook(path, read_only=True, data_only=True)
        table = [list(r) for r in wb.worksheets[0].iter_rows(values_only=True)]
        wb.close()
    else:
        table = list(csv.reader(io.StringIO(_decode(path.read_bytes()))))
    header = [HEADER[str(h).strip()] for h in table[0]]
    out: list[UploadRow] = []
    for raw in table[1:]:
        if not any(v not in (None, "") for v in raw):
            continue
        v = dict(zip(header, raw, strict=False))
        start, end = _ts(v["window_start"]), _ts(v["window_end"])
        assert start is not None and end is not None, f"{path}: a window without times"
        out.append(
            UploadRow(
                county_code=str(v["county_code"]).strip(),
                site_id=str(v["site_id"]).strip(),
                site_name=str(v["site_name"]).strip(),
                lat=float(v["lat"]),
                lon=float(v["lon"]),
                window_start=start,
                window_end=end,
                category=CATEGORY[str(v["category"]).strip()],
                pool_size=int(v["pool_size"]),
                people=int(v["people"]),
                due_at=_ts(v.get("due_at")),
            )
        )
    return out


def read_uploads(folder: str | Path) -> dict[str, list[UploadRow]]:
    """All upload files of ``folder`` by county code (the file name's stem)."""
    folder = Path(folder)
    files = sorted([*folder.glob("*.csv"), *folder.glob("*.xlsx")], key=lambda p: p.stem)
    return {p.stem: read_upload(p) for p in files}
