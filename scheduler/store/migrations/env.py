"""Alembic environment: migrations run on the URL the caller configured."""

from __future__ import annotations

import contextlib

from alembic import context

from scheduler.store.db import make_engine
from scheduler.store.models import Base

# The web tables (accounts, tokens, jobs) are declared by the web side on this metadata;
# autogenerate must see every table. Upgrading needs none of it (the migrations name
# every table), so without the web extra installed the schema is still made whole.
with contextlib.suppress(ImportError):
    import webui.models  # noqa: F401

target_metadata = Base.metadata


def run_migrations_online() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    engine = make_engine(url)
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            # SQLite rebuilds tables to alter them; with foreign keys on, dropping
            # the old copy of a referenced table fails (must be set outside a transaction)
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
