"""`natsched serve --demo`: the demo world runs at today's date, and so do its sample files."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from scheduler.ingest.upload import upload
from scheduler.store.db import transaction
from webui import create_app
from webui.cli import DEMO_UPLOADS_DIR, _load_demo
from webui.settings import ingest_settings

TODAY = datetime(2026, 12, 1, 10, 30)


def test_the_demo_writes_county_files_for_its_own_dates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NATSCHED_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite'}",
            "CLOCK": f"fixed:{TODAY.isoformat()}",
        }
    )
    try:
        _load_demo(app)
        files = sorted((tmp_path / "instance" / DEMO_UPLOADS_DIR).iterdir())
        assert files
        engine = app.extensions["natsched.engine"]
        for f in files:
            with transaction(engine) as s:
                rep = upload(
                    s,
                    f.read_bytes(),
                    f.name,
                    f.stem,
                    user="demo",
                    now=TODAY,
                    mode="dry-run",
                    settings=ingest_settings(app),
                )
            # today's demo takes today's files: none refused as stale or from the future
            assert rep.errors == [], (f.name, [str(e) for e in rep.errors[:3]])
    finally:
        app.extensions["natsched.jobs"].shutdown()
        app.extensions["natsched.engine"].dispose()
