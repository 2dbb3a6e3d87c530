"""County uploads: every good file lands, every bad one is refused and changes nothing."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from scheduler.spec_io import load_instance
from scheduler.store import models as m
from scheduler.store.db import make_engine, transaction
from scheduler.store.world import export_instance
from tests.support import badfiles
from tests.support.db import fingerprint
from tests.support.uploads import UPLOADS, send


def test_whole_preset_ingests_and_exports_the_generated_instance(engine, demo_world, tmp_path):
    for f in sorted(UPLOADS.iterdir()):
        rep = send(engine, f, f.stem)
        assert rep.status == "stored", rep.errors[:3]
        assert rep.errors == []
    with transaction(engine) as s:
        export_instance(s, tmp_path / "exp")
    back, gen = load_instance(tmp_path / "exp"), load_instance("fixtures/demo")
    key = lambda b: b.batch_id  # noqa: E731
    assert sorted(back.batches, key=key) == sorted(gen.batches, key=key)


def test_resent_file_changes_nothing(engine, demo_world):
    f = UPLOADS / "411003.csv"
    assert send(engine, f, "411003").status == "stored"
    before = fingerprint(engine)
    again = send(engine, f, "411003")
    assert again.status == "duplicate"
    assert fingerprint(engine) == before


def test_correction_replaces_counts_and_is_audited(engine, demo_world):
    f = UPLOADS / "411001.csv"
    send(engine, f, "411001")
    lines = f.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    cells = lines[1].split(",")
    p = header.index("people")
    cells[p] = str(int(cells[p]) + 250)
    lines[1] = ",".join(cells)
    rep = send(engine, ("\n".join(lines) + "\n").encode(), "411001")
    assert rep.status == "stored"
    assert rep.counts_replaced == 1 and rep.counts_unchanged == len(lines) - 2
    with transaction(engine) as s:
        log = s.scalars(select(m.AuditLog).where(m.AuditLog.action == "counts replaced")).all()
        assert len(log) == 1
        assert log[0].detail["new"]["people"] == log[0].detail["old"]["people"] + 250
        site = cells[header.index("site_id")]
        boxes = s.scalars(select(m.Batch).where(m.Batch.site_id == site)).all()
        assert sum(b.people or 0 for b in boxes) > 0


def test_dry_run_stores_nothing_and_reports(engine, demo_world):
    before = fingerprint(engine)
    rep = send(engine, badfiles._with_cell("pool_size", "3"), "411001", mode="dry-run")
    assert rep.status == "dry-run"
    assert [(e.row, e.column, e.value) for e in rep.errors] == [(2, "pool_size", "3")]
    assert fingerprint(engine) == before


def test_accept_valid_rows_stores_the_rest(engine, demo_world):
    data = badfiles._with_cell("people", "-5", row=2)
    rep = send(engine, data, "411001", accept_valid_rows=True)
    assert rep.status == "partial"
    assert rep.rows_stored == rep.rows_total - 1
    assert rep.errors[0].row == 3 and rep.errors[0].column == "people"
    with transaction(engine) as s:
        stored = s.scalar(select(m.Upload).where(m.Upload.id == rep.upload_id))
        assert stored is not None and stored.errors[0]["column"] == "people"


def test_every_bad_cell_is_reported_at_once(engine, demo_world):
    data = badfiles._with_cell("people", "-5", row=2)
    lines = data.decode().splitlines()
    header = lines[0].split(",")
    cells = lines[4].split(",")
    cells[header.index("category")] = "tourists"
    lines[4] = ",".join(cells)
    rep = send(engine, ("\n".join(lines) + "\n").encode(), "411001")
    assert rep.status == "rejected"
    assert {(e.row, e.column) for e in rep.errors} == {(3, "people"), (5, "category")}


CASES = badfiles.corpus()


def test_corpus_is_large_enough():
    assert len(CASES) >= 30


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_file_is_refused_and_changes_nothing(engine, demo_world, case):
    name, filename, data, phrase = case
    send(engine, UPLOADS / "411002.xlsx", "411002")  # something already stored
    before = fingerprint(engine)
    rep = send(engine, data, "411001", filename=filename)
    assert rep.status == "rejected", name
    assert rep.errors, name
    text = " ".join(str(e) for e in rep.errors)
    assert phrase.lower() in text.lower(), (name, text[:300])
    assert fingerprint(engine) == before, name


def test_path_tricks_in_the_file_name_are_not_paths(engine, demo_world):
    rep = send(engine, UPLOADS / "411001.csv", "411001")
    assert rep.status == "stored"
    rep = send(engine, b"x", "411001", filename="../../etc/passwd.csv")
    assert rep.filename == "passwd.csv"


def test_two_offices_at_once_both_land(db_url, demo_world):
    results: dict[str, str] = {}

    def go(county: str, file: str) -> None:
        eng = make_engine(db_url)
        try:
            results[county] = send(eng, UPLOADS / file, county).status
        finally:
            eng.dispose()

    threads = [
        threading.Thread(target=go, args=("411001", "411001.csv")),
        threading.Thread(target=go, args=("411003", "411003.csv")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == {"411001": "stored", "411003": "stored"}
    eng = make_engine(db_url)
    with transaction(eng) as s:
        assert s.scalar(select(func.count()).select_from(m.Upload)) == 2
    eng.dispose()


def test_site_configuration_overrides_the_category_rule(engine, demo_world):
    # a community site inside a sealed compound: its community tubes are high + isolation
    site = "S411001-0010"
    with transaction(engine) as s:
        row = s.get(m.Site, site)
        assert row is not None
        row.category_rules = {"community": {"priority": "high", "isolation": True}}
    send(engine, UPLOADS / "411001.csv", "411001")
    with transaction(engine) as s:
        boxes = s.scalars(select(m.Batch).where(m.Batch.site_id == site)).all()
        others = s.scalars(
            select(m.Batch).where(m.Batch.site_id != site, m.Batch.priority == "routine")
        ).all()
    assert boxes and all(b.priority == "high" and b.isolation for b in boxes)
    assert others  # everyone else keeps the default rule
