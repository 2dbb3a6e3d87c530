"""An upload parses and checks its file before it takes the writer lock, and two copies
of one file sent at once are stored once."""

from __future__ import annotations

import importlib
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from scheduler.store import models as m
from scheduler.store.db import make_engine, transaction
from tests.support.uploads import UPLOADS, send

# the package's ``upload`` is the function; the module is needed for its steps
upload_module = importlib.import_module("scheduler.ingest.upload")


def _hook_after_checks(monkeypatch: pytest.MonkeyPatch, then: Callable[[], Any]) -> None:
    """Run ``then`` in the upload's thread once its file is parsed, checked and boxed:
    the last step before it writes."""
    real = upload_module._boxes

    def boxes(*args: Any, **kwargs: Any) -> Any:
        out = real(*args, **kwargs)
        then()
        return out

    monkeypatch.setattr(upload_module, "_boxes", boxes)


def _in_thread(db_url: str, county: str, results: list[str]) -> threading.Thread:
    def go() -> None:
        eng = make_engine(db_url)
        try:
            results.append(send(eng, UPLOADS / f"{county}.csv", county).status)
        finally:
            eng.dispose()

    t = threading.Thread(target=go, daemon=True)
    t.start()
    return t


# SQLite's one writer lock is what this guards (PostgreSQL locks rows), so SQLite alone:
# a case that is not generated rather than one that skips in CI
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_parsing_and_checking_hold_no_writer_lock(db_url, demo_world, engine, monkeypatch):
    assert send(engine, UPLOADS / "411001.csv", "411001").status == "stored"
    with transaction(engine) as s:
        box = s.scalars(select(m.Batch.batch_id).order_by(m.Batch.batch_id)).first()
    checked, go_on = threading.Event(), threading.Event()
    _hook_after_checks(monkeypatch, lambda: (checked.set(), go_on.wait(60)))
    results: list[str] = []
    t = _in_thread(db_url, "411003", results)
    try:
        assert checked.wait(60), "the upload never finished its checks"
        # a lab marks a box received while the other county's file is being checked: it
        # must commit now (a held writer lock would answer "database is locked" in 2 s)
        lab = sqlite3.connect(make_url(db_url).database or "", timeout=2)
        try:
            lab.execute("UPDATE batches SET status = 'received' WHERE batch_id = ?", (box,))
            lab.commit()
        finally:
            lab.close()
    finally:
        go_on.set()
        t.join(60)
    assert results == ["stored"]
    with transaction(engine) as s:
        assert s.get(m.Batch, box).status == "received"


def test_one_file_sent_twice_at_once_is_stored_once(db_url, demo_world, engine, monkeypatch):
    # both copies finish their checks before either writes: the duplicate check must
    # then be made under the lock, or both copies find "not stored yet"
    both_checked = threading.Barrier(2, timeout=60)
    _hook_after_checks(monkeypatch, both_checked.wait)
    results: list[str] = []
    threads = [_in_thread(db_url, "411003", results) for _ in range(2)]
    for t in threads:
        t.join(120)
    assert sorted(results) == ["duplicate", "stored"]
    monkeypatch.undo()
    rows = len((UPLOADS / "411003.csv").read_text(encoding="utf-8").splitlines()) - 1
    with transaction(engine) as s:
        uploads = s.scalars(select(m.Upload)).all()
        assert [(u.outcome, u.rows_stored) for u in uploads] == [("stored", rows)]
        counts = s.scalar(select(func.count()).select_from(m.SampleCount))
        boxes = s.scalars(select(m.Batch.batch_id)).all()
    assert counts == rows
    assert len(boxes) == len(set(boxes)) > 0
    # exactly the boxes one copy alone makes
    assert send(engine, UPLOADS / "411003.csv", "411003").status == "duplicate"
    with transaction(engine) as s:
        assert sorted(s.scalars(select(m.Batch.batch_id))) == sorted(boxes)
