"""One engine per app, one session per request (committed by the view, rolled back otherwise)."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, g
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from scheduler.store.db import make_engine, session_factory, upgrade


def init_app(app: Flask) -> None:
    url = app.config["DATABASE_URL"]
    if app.config.get("MIGRATE", True):
        upgrade(url)
    # every render slot may read at once, and a few more requests (probes, a login's
    # last write) outside the slots
    engine = make_engine(url, connections=int(app.config["REQUEST_SLOTS"] or 12) + 4)
    app.extensions["natsched.engine"] = engine
    app.extensions["natsched.sessions"] = session_factory(engine)
    app.teardown_appcontext(_close)


def engine() -> Engine:
    e: Engine = current_app.extensions["natsched.engine"]
    return e


def session() -> Session:
    """The request's session; views call ``session().commit()`` when their work is done."""
    if "db" not in g:
        g.db = current_app.extensions["natsched.sessions"]()
    s: Session = g.db
    return s


def _close(_exc: BaseException | None) -> Any:
    s = g.pop("db", None)
    if s is not None:
        s.rollback()
        s.close()
