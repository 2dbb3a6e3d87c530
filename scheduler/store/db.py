"""Engines, sessions and migrations.

The embedded default is a SQLite file in ``./instance/`` with WAL and foreign
keys on; ``NATSCHED_DATABASE_URL`` names any other SQLAlchemy URL
(PostgreSQL is tested).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

DEFAULT_SQLITE = Path("instance") / "natsched.sqlite"
MIGRATIONS = Path(__file__).with_name("migrations")


def database_url(url: str | None = None) -> str:
    """``url``, else ``NATSCHED_DATABASE_URL``, else the embedded SQLite file."""
    if url:
        return url
    env = os.environ.get("NATSCHED_DATABASE_URL")
    if env:
        return env
    DEFAULT_SQLITE.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{DEFAULT_SQLITE.resolve()}"


def make_engine(url: str | None = None) -> Engine:
    url = database_url(url)
    kwargs: dict[str, Any] = {"future": True}
    if url.startswith("sqlite"):
        # many offices write at once in a mass screening: wait for the one writer
        kwargs["connect_args"] = {"timeout": 120}
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets readers and one writer work at once; foreign keys are off by default
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=120000")
    cur.close()


def begin_write(session: Session) -> None:
    """Take the database's writer lock now, at the start of a short write transaction.

    pysqlite begins a transaction only at the first INSERT/UPDATE/DELETE, so reads
    before it see whatever was committed at their moment, and a writer that read,
    decided and then wrote could act on a state another writer has since changed
    (two copies of one file both found "not stored yet"). ``BEGIN IMMEDIATE`` takes
    the one writer lock first, waiting up to the busy timeout for it, so everything
    read afterwards is what the write applies to; and since the snapshot starts with
    the lock, it can never need upgrading, which in WAL fails at once with
    SQLITE_BUSY_SNAPSHOT whatever the busy timeout. Call it after the slow work
    (parsing, checking) and before the reads the write depends on. A transaction that
    has written already holds the lock; other databases lock rows as they go.
    """
    conn = session.connection()
    if conn.dialect.name != "sqlite":
        return
    # no flag (another driver): assume a transaction is open rather than nest one
    if not getattr(conn.connection.dbapi_connection, "in_transaction", True):
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """A session whose work commits on success and rolls back on any error."""
    with session_factory(engine)() as session, session.begin():
        yield session


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Bring the database schema to ``revision`` with Alembic."""
    from alembic import command

    command.upgrade(alembic_config(database_url(url)), revision)
