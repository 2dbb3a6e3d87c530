"""A damaged workbook is a located rejection, never a crash (found by fuzzing)."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime
from pathlib import Path

from scheduler.ingest.upload import upload
from scheduler.spec_io import load_instance
from scheduler.store.db import transaction
from scheduler.store.world import seed

NOW = datetime(2022, 1, 10, 0, 0)
GOOD_XLSX = Path("fixtures/demo/uploads/411002.xlsx").read_bytes()


def test_damaged_deflate_stream_is_a_rejection_not_a_crash(engine) -> None:  # type: ignore[no-untyped-def]
    """Found by the fuzzer: zlib.error escaped from a damaged workbook."""
    data = bytearray(GOOD_XLSX)
    info = zipfile.ZipFile(io.BytesIO(GOOD_XLSX)).getinfo("xl/worksheets/sheet1.xml")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for k in range(start + 5, start + 40):
        data[k] ^= 0x5A
    with transaction(engine) as s:
        seed(s, load_instance("fixtures/demo"), now=NOW, with_batches=False)
    with transaction(engine) as s:
        rep = upload(s, bytes(data), "x.xlsx", "411001", user="fuzz", now=NOW)
    assert rep.status == "rejected" and "XLSX" in str(rep.errors[0])
