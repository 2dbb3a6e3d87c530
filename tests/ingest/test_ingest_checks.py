"""What a county file gets wrong within its format: old dates, tube counts, encodings."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from scheduler.ingest.format import COLUMNS
from scheduler.ingest.upload import upload
from scheduler.store.db import transaction
from tests.support.db import fingerprint
from tests.support.uploads import LOOSE, NOW, UPLOADS, send

DEMO = UPLOADS / "411001.csv"


def _shifted(path: Path, delta: timedelta) -> bytes:
    """``path`` with every window moved by ``delta`` (a file of another day or year)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    cols = [header.index("window_start"), header.index("window_end")]
    out = [lines[0]]
    for line in lines[1:]:
        cells = line.split(",")
        for c in cols:
            cells[c] = (datetime.fromisoformat(cells[c]) + delta).strftime("%Y-%m-%dT%H:%M")
        out.append(",".join(cells))
    return ("\n".join(out) + "\n").encode("utf-8")


def test_a_file_from_last_year_is_refused_by_row_and_column(engine, demo_world):
    before = fingerprint(engine)
    rep = send(engine, _shifted(DEMO, -timedelta(days=365)), "411001")
    assert rep.status == "rejected" and rep.rows_stored == 0
    assert rep.errors and all(e.column == "window_start" for e in rep.errors)
    assert {e.row for e in rep.errors} == set(range(2, rep.rows_total + 2))
    assert "more than a day before the plan's start" in rep.errors[0].rule
    assert fingerprint(engine) == before


def test_swabs_past_the_cold_chain_are_refused(engine, demo_world):
    # the same file sent a day and a half late: inside the plan's days, but its
    # first windows' swabs are older than the cold chain allows
    with transaction(engine) as s:
        rep = upload(
            s,
            DEMO.read_bytes(),
            DEMO.name,
            "411001",
            user="office",
            now=NOW + timedelta(hours=36),
            mode="dry-run",
            settings=LOOSE,
        )
    stale = [e for e in rep.errors if e.column == "window_end"]
    assert stale, rep.errors[:3]
    assert all("can no longer be tested" in e.rule for e in stale)
    assert "h before now" in stale[0].rule
    assert not any(e.column == "window_start" for e in rep.errors)


def test_todays_file_passes(engine, demo_world):
    rep = send(engine, DEMO, "411001", mode="dry-run")
    assert rep.errors == [] and rep.warnings == []


def test_a_tube_count_that_disagrees_is_a_warning_on_its_row(engine, demo_world):
    lines = DEMO.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    row = lines[1].split(",")
    people, pool = int(row[header.index("people")]), int(row[header.index("pool_size")])
    row[header.index("tubes")] = str(-(-people // pool) + 3)
    data = "\n".join([lines[0], ",".join(row), *lines[2:]]).encode("utf-8") + b"\n"
    rep = send(engine, data, "411001")
    assert rep.status == "stored" and rep.errors == []
    assert [(w.row, w.column) for w in rep.warnings] == [(2, "tubes")]
    assert f"make {-(-people // pool)} tubes" in rep.warnings[0].rule


def _refusal(engine, data: bytes) -> str:  # type: ignore[no-untyped-def]
    rep = send(engine, data, "411001", mode="dry-run")
    assert rep.status == "rejected"
    assert len(rep.errors) == 1, [str(e) for e in rep.errors]
    return rep.errors[0].rule


def test_other_encodings_are_named_with_what_to_do(engine, demo_world):
    text = DEMO.read_text(encoding="utf-8")
    for enc in ("utf-16", "utf-16-le"):
        rule = _refusal(engine, text.encode(enc))
        assert "UTF-16" in rule and "CSV UTF-8" in rule, enc
    trad = "".join(
        f"411001,S411001-000{i},許昌市合成縣{i:02d} 發熱門診{i:03d}號,34.0,113.8,"
        "2022-01-09T06:00,2022-01-09T07:00,community,10,60,6,\n"
        for i in range(1, 6)
    )
    assert "Big5" in _refusal(engine, (",".join(COLUMNS) + "\n" + trad).encode("big5"))
    jp = "".join(
        f"411001,S411001-000{i},ひがし{i:02d}さんのけんさじょ,34.0,113.8,"
        "2022-01-09T06:00,2022-01-09T07:00,community,10,60,6,\n"
        for i in range(1, 6)
    )
    assert "Shift-JIS" in _refusal(engine, (",".join(COLUMNS) + "\n" + jp).encode("shift_jis"))
    # GB18030, as Chinese Excel saves it, is read as before
    assert send(engine, text.encode("gb18030"), "411001", mode="dry-run").errors == []
