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

from scheduler.store.errors import NoDatabase

DEFAULT_SQLITE = Path("instance") / "natsched.sqlite"
MIGRATIONS = Path(__file__).with_name("migrations")


def database_url(url: str | None = None) -> str:
    """``url``, else ``NATSCHED_DATABASE_URL``, else the embedded SQLite file."""
    if url:
        return url
    env = os.environ.get("NATSCHED_DATABASE_URL")
    if env:
        return env
    return f"sqlite:///{DEFAULT_SQLITE.resolve()}"


def _sqlite_file(url: str) -> Path | None:
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


def _first_line(exc: object) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def existing_database(url: str | None = None) -> str:
    """The URL of a database that exists and holds natsched's schema, or :class:`NoDatabase`.

    Commands that read or change a deployment use this, so that one run in
    the wrong folder says which URL it tried instead of making an empty
    ``./instance/natsched.sqlite`` and answering "no user".
    """
    from sqlalchemy import inspect
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    url = database_url(url)
    where = "set NATSCHED_DATABASE_URL or --db to your database"
    if url == f"sqlite:///{DEFAULT_SQLITE.resolve()}" and "NATSCHED_DATABASE_URL" not in os.environ:
        where += " (without either, the default is ./instance/natsched.sqlite in this folder)"
    try:
        path = _sqlite_file(url)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise NoDatabase(f"not a usable database URL: {_first_line(exc)}") from exc
    if path is not None and not path.exists():
        raise NoDatabase(
            f"no database at {url}: {where}, or make a new one with `natsched db upgrade`"
        )
    try:
        engine = make_engine(url)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise NoDatabase(f"not a usable database URL: {_first_line(exc)}") from exc
    try:
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
    except Exception as exc:  # the server, the URL or the file: the user fixes any of them
        detail = _first_line(getattr(exc, "orig", None) or exc)
        raise NoDatabase(f"cannot open the database at {url}: {detail}; {where}") from exc
    finally:
        engine.dispose()
    if "alembic_version" not in tables:
        raise NoDatabase(
            f"the database at {url} holds no natsched tables: {where}, "
            "or make them with `natsched db upgrade`"
        )
    return url


def make_engine(url: str | None = None, *, connections: int | None = None) -> Engine:
    """An engine for ``url``; ``connections``: how many requests may hold one at once.

    SQLAlchemy's default pool (5, and 10 more on demand) is sized for a script, not
    for a web process whose render slots all read at once: a request waiting for a
    connection holds its slot while it waits.
    """
    url = database_url(url)
    kwargs: dict[str, Any] = {"future": True}
    if connections is not None:
        kwargs["pool_size"] = connections
        kwargs["max_overflow"] = connections
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

    url = database_url(url)
    path = _sqlite_file(url)
    if path is not None:
        # the embedded database's folder is made when a database is made, not before
        path.parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), revision)
