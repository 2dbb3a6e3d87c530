"""A command run in the wrong folder says which database it tried; it never makes one."""

from __future__ import annotations

from pathlib import Path

import pytest

from natsched.cli import main


@pytest.mark.parametrize(
    "argv",
    [
        ["users", "token", "ops"],
        ["users", "list"],
        ["plans", "list"],
        ["replan", "--now"],
        ["event", "batch", "B1", "--status", "received"],
    ],
)
def test_no_database_is_said_and_not_made(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NATSCHED_DATABASE_URL", raising=False)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "no database at sqlite:///" in err and str(tmp_path) in err, err
    assert "NATSCHED_DATABASE_URL" in err and "natsched db upgrade" in err
    assert len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_a_database_without_the_schema_is_said(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    import sqlite3

    empty = tmp_path / "other.sqlite"
    sqlite3.connect(empty).close()
    assert main(["users", "list", "--db", f"sqlite:///{empty}"]) == 2
    assert "holds no natsched tables" in capsys.readouterr().err


def test_db_upgrade_makes_it_and_then_commands_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NATSCHED_DATABASE_URL", raising=False)
    assert main(["db", "upgrade"]) == 0
    assert (tmp_path / "instance" / "natsched.sqlite").exists()
    assert main(["users", "list"]) == 0
    assert main(["users", "token", "nobody"]) == 2
    assert "no user 'nobody'" in capsys.readouterr().err
