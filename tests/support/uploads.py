"""Sending a county's upload file into a store the way an office does, at a fixed clock."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from scheduler.ingest.upload import IngestSettings, upload
from scheduler.store.db import transaction

NOW = datetime(2022, 1, 9, 7, 50)
LOOSE = IngestSettings(max_future_hours=24)
UPLOADS = Path("fixtures/demo/uploads")


def send(engine, path_or_bytes, county, **kw):
    if isinstance(path_or_bytes, Path):
        data, name = path_or_bytes.read_bytes(), path_or_bytes.name
    else:
        data, name = path_or_bytes, kw.pop("filename", f"{county}.csv")
    kw.setdefault("settings", LOOSE)
    with transaction(engine) as s:
        return upload(s, data, name, county, user=f"office-{county}", now=NOW, **kw)
