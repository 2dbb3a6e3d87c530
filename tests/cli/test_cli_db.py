"""``natsched db ...`` and ``natsched upload`` through their own ``add_parser``.

The whole path a clerk takes: seed the network, upload every county file of
the demo preset, export; and every database failure ends with exit code 2 and
one line, never a traceback.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from natsched.db import add_parser
from scheduler.spec_io import load_instance
from tests.support.db import fingerprint

UPLOADS = Path("fixtures/demo/uploads")
# late on the fixture's day: every window has begun and none is older than the cold chain
NOW = "2022-01-09T18:00"


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="natsched")
    add_parser(parser.add_subparsers())
    args = parser.parse_args(list(argv))
    code: int = args.handler(args)
    return code


def test_seed_upload_every_county_then_export(db_url, engine, tmp_path, capsys):
    assert run("db", "upgrade", "--db", db_url) == 0
    assert run("db", "seed", "fixtures/demo", "--without-batches", "--db", db_url) == 0
    for path in sorted(UPLOADS.iterdir()):
        code = run("upload", str(path), "--county", path.stem, "--now", NOW, "--db", db_url)
        assert code == 0, capsys.readouterr()
    assert run("db", "export", str(tmp_path / "out"), "--db", db_url) == 0
    back, generated = load_instance(tmp_path / "out"), load_instance("fixtures/demo")
    key = lambda b: b.batch_id  # noqa: E731
    assert sorted(back.batches, key=key) == sorted(generated.batches, key=key)
    # a re-sent file changes nothing
    before = fingerprint(engine)
    path = UPLOADS / "411001.csv"
    assert run("upload", str(path), "--county", "411001", "--now", NOW, "--db", db_url) == 0
    assert "duplicate" in capsys.readouterr().out
    assert fingerprint(engine) == before


def test_bad_upload_exits_2_and_changes_nothing(db_url, engine, tmp_path, capsys):
    run("db", "seed", "fixtures/demo", "--without-batches", "--db", db_url)
    before = fingerprint(engine)
    bad = tmp_path / "411001.csv"
    bad.write_bytes(
        (UPLOADS / "411001.csv").read_bytes().replace(b",fever_clinic,1,", b",fever_clinic,3,", 1)
    )
    code = run("upload", str(bad), "--county", "411001", "--now", NOW, "--db", db_url)
    out = capsys.readouterr().out
    assert code == 2
    assert "pool size must be 1, 5, 10 or 20" in out and "row 2" in out
    assert fingerprint(engine) == before


def test_oversized_file_is_refused_before_reading(db_url, engine, tmp_path, capsys):
    run("db", "seed", "fixtures/demo", "--without-batches", "--db", db_url)
    before = fingerprint(engine)
    big = tmp_path / "411001.csv"
    with big.open("wb") as f:
        f.truncate(51 * 2**20)  # sparse: 51 MB on paper, nothing on disk
    assert run("upload", str(big), "--county", "411001", "--db", db_url) == 2
    assert "over the 50 MB limit" in capsys.readouterr().err
    assert fingerprint(engine) == before


def test_export_of_an_empty_database_says_what_to_run(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    assert run("db", "export", str(tmp_path / "out"), "--db", url) == 2
    assert "natsched db upgrade" in capsys.readouterr().err
    run("db", "upgrade", "--db", url)
    assert run("db", "export", str(tmp_path / "out"), "--db", url) == 2
    assert "natsched db seed" in capsys.readouterr().err


@pytest.mark.parametrize(
    "url, says",
    [
        ("not a url", "not a usable database URL"),
        ("nosuchdialect://x/y", "not a usable database URL"),
        ("postgresql+psycopg://postgres@127.0.0.1:1/none", "cannot use the database"),
    ],
)
def test_unusable_database_exits_2_with_one_line(url, says, capsys):
    assert run("db", "upgrade", "--db", url) == 2
    err = capsys.readouterr().err.strip()
    assert says in err and "Traceback" not in err and len(err.splitlines()) == 1
