"""Issue #9: mutated SPEC instance folders give a Problem or an InputError, nothing else.

Each case copies fixtures/demo (without uploads) to a fresh folder, mutates
one file (instance.json values of the wrong type, missing keys, huge numbers,
NaN/Infinity, negatives; CSV cells, columns, encodings, unknown references)
and loads it. Every InputError item names its file and has a line, a column
or a whole-file message.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from scheduler.spec_io import InputError, load_instance
from tests.support import strategies as S

DEMO = Path("fixtures/demo")
FILES = ("instance.json", "labs.csv", "sites.csv", "batches.csv", "travel.csv", "lab_outages.csv")
BATCH_ROWS = 40  # the first rows of batches.csv keep each case fast

JSON_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**30), 10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, -60, 1, 7, 59, 61, 120, 10**400, 1e308, -1e308]),
    st.sampled_from(S.HOSTILE),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.sampled_from(["urgent", "high", "routine", "x", ""]), st.integers()),
)
KEYS = [
    "plan_start",
    "horizon_hours",
    "slot_minutes",
    "travel",
    "travel.speed_kmh",
    "travel.road_factor",
    "travel.handling_minutes",
    "travel.max_travel_minutes",
    "sla_hours",
    "sla_hours.urgent",
    "priority_weight",
    "priority_weight.high",
    "late_factor",
    "timezone",
]


def _copy(dst: Path) -> None:
    for name in FILES:
        shutil.copy(DEMO / name, dst / name)
    lines = (DEMO / "batches.csv").read_text(encoding="utf-8").splitlines()
    (dst / "batches.csv").write_text("\n".join(lines[: BATCH_ROWS + 1]) + "\n", encoding="utf-8")


def _load(folder: Path) -> bool:
    """True when rejected; asserts the shape of the errors."""
    try:
        load_instance(folder)
    except InputError as exc:
        assert exc.errors, "an InputError must list problems"
        for e in exc.errors:
            assert e.file in FILES or e.file == str(folder), e
            assert e.message.strip(), e
            assert e.line is None or e.line >= 1, e
        assert str(exc)
        return True
    return False


@st.composite
def json_mutation(draw: st.DrawFn) -> Any:
    doc = json.loads((DEMO / "instance.json").read_text(encoding="utf-8"))
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from(KEYS))
        head, _, tail = key.partition(".")
        action = draw(st.sampled_from(["set", "set", "delete", "flat"]))
        if tail and isinstance(doc.get(head), dict):
            if action == "delete":
                doc[head].pop(tail, None)
            elif action == "flat":
                doc[key] = draw(JSON_VALUES)
            else:
                doc[head][tail] = draw(JSON_VALUES)
        elif action == "delete":
            doc.pop(head, None)
        else:
            doc[head] = draw(JSON_VALUES)
    if draw(st.integers(0, 9)) == 0:
        doc = draw(st.sampled_from([[], "x", 1, None, [doc]]))
    return doc


@st.composite
def csv_mutation(draw: st.DrawFn, text: str) -> bytes:
    rows = [r.split(",") for r in text.splitlines()]
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["cell", "cell", "del_col", "dup_row", "rename", "ref", "pad"]))
        width = len(rows[0])
        if op == "cell" and len(rows) > 1:
            r = draw(st.integers(1, len(rows) - 1))
            c = draw(st.integers(0, len(rows[r]) - 1))
            rows[r][c] = draw(
                S.hostile_text
                | st.sampled_from(["-1", "-999999", "1e400", "nan", "inf", "24", "25", "99" * 30])
            )
        elif op == "del_col" and width > 1:
            k = draw(st.integers(0, width - 1))
            rows = [r[:k] + r[k + 1 :] for r in rows]
        elif op == "dup_row" and len(rows) > 1:
            rows.append(list(rows[draw(st.integers(1, len(rows) - 1))]))
        elif op == "rename":
            rows[0][draw(st.integers(0, width - 1))] = draw(S.hostile_text)
        elif op == "ref" and len(rows) > 1:
            # unknown references: ids that exist nowhere
            r = draw(st.integers(1, len(rows) - 1))
            rows[r][0] = draw(st.sampled_from(["NOPE", "L999", "S999", ""]))
        elif op == "pad" and len(rows) > 1:
            rows[draw(st.integers(1, len(rows) - 1))].append("extra")
    return draw(S.encoded(S.to_csv(rows, quote=draw(st.booleans()))))


def test_fuzz_spec_json(capsys) -> None:
    stats = S.Stats("fuzz spec instance.json")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        _copy(folder)

        @S.fuzz(200)
        @given(json_mutation(), st.booleans())
        def run(doc: Any, raw: bool) -> None:
            text = json.dumps(doc, allow_nan=True)
            if raw:  # NaN/Infinity and huge literals as text
                text = text.replace("0.0", "NaN", 1).replace("1", "1" * 400, 1)
            (folder / "instance.json").write_text(text, encoding="utf-8")
            stats.run(lambda: _load(folder))

        try:
            run()
        finally:
            stats.report(capsys)


def test_fuzz_spec_csv(capsys) -> None:
    stats = S.Stats("fuzz spec csv")
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base"
        base.mkdir()
        _copy(base)
        originals = {n: (base / n).read_text(encoding="utf-8") for n in FILES[1:]}

        @S.fuzz(250)
        @given(st.sampled_from(FILES[1:]), st.data())
        def run(name: str, data: st.DataObject) -> None:
            blob = data.draw(csv_mutation(originals[name]) | st.binary(max_size=500))
            (base / name).write_bytes(blob)
            try:
                stats.run(lambda: _load(base))
            finally:
                (base / name).write_text(originals[name], encoding="utf-8")

        try:
            run()
        finally:
            stats.report(capsys)


OPTIONAL = ("travel.csv", "lab_outages.csv")


def test_fuzz_spec_missing_files(capsys, tmp_path: Path) -> None:
    stats = S.Stats("fuzz spec missing files")
    _copy(tmp_path)
    outcome: dict[str, bool] = {}

    def load_as(name: str) -> bool:
        outcome[name] = _load(tmp_path)
        return outcome[name]

    for name in FILES:
        (tmp_path / name).rename(tmp_path / (name + ".off"))
        stats.run(lambda: load_as(name))  # noqa: B023 - run at once, inside this iteration
        (tmp_path / (name + ".off")).rename(tmp_path / name)
    (tmp_path / "labs.csv").unlink()
    (tmp_path / "labs.csv").mkdir()  # a folder where a file should be
    stats.run(lambda: load_as("labs.csv is a folder"))
    stats.report(capsys)
    # each required file missing is rejected; the optional ones load without
    assert outcome == {name: name not in OPTIONAL for name in FILES} | {
        "labs.csv is a folder": True
    }
    assert (stats.cases, stats.rejected, stats.crashes) == (len(FILES) + 1, len(FILES) - 1, 0)


def test_regression_huge_json_integer(tmp_path: Path) -> None:
    """A 400-digit integer for a number key raised OverflowError from float()."""
    _copy(tmp_path)
    doc = json.loads((tmp_path / "instance.json").read_text(encoding="utf-8"))
    doc["sla_hours"]["high"] = 10**400
    doc["travel"]["speed_kmh"] = 10**400
    doc["horizon_hours"] = 10**400
    (tmp_path / "instance.json").write_text(json.dumps(doc), encoding="utf-8")
    try:
        load_instance(tmp_path)
    except InputError as exc:
        cols = {e.column for e in exc.errors}
        assert {"sla_hours.high", "travel.speed_kmh", "horizon_hours"} <= cols
    else:
        raise AssertionError("a 400-digit number was accepted")
