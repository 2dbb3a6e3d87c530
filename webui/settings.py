"""The web app's settings, their defaults, and the security wiring that depends on them.

Every setting can come from the environment as ``NATSCHED_<NAME>`` (e.g.
``NATSCHED_DATABASE_URL``, ``NATSCHED_SECRET_KEY``) or from the mapping
given to ``create_app``. The secret key is never in the repository: without
``NATSCHED_SECRET_KEY`` one is generated into ``instance/secret_key`` (mode
0600) on first start and reused.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask, Request, request
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect
from werkzeug.wrappers import Response

from scheduler.ingest.reader import MAX_BYTES
from scheduler.ingest.upload import IngestSettings
from scheduler.store.db import database_url


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


DEFAULTS: dict[str, Any] = {
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "REMEMBER_COOKIE_HTTPONLY": True,
    "REMEMBER_COOKIE_SAMESITE": "Lax",
    "SESSION_COOKIE_NAME": "natsched_session",
    # an upload is at most MAX_BYTES; the form around it adds a little
    "MAX_CONTENT_LENGTH": MAX_BYTES + 1024 * 1024,
    # Logins. Behind a government network's proxy every coordinator shares one address,
    # so the tight limit is on failed passwords per account; the per-address cap only
    # stops a flood (LOGIN_RATE_LIMIT, the older name, overrides it when set).
    "LOGIN_FAILURES_PER_ACCOUNT": "10 per 15 minutes",
    "LOGIN_RATE_PER_ADDRESS": "600 per minute",
    # Flask-Limiter's counters: memory:// is per process; with several web processes
    # use shared storage, e.g. redis://127.0.0.1:6379
    "RATELIMIT_STORAGE_URI": "memory://",
    "RATELIMIT_KEY_PREFIX": "natsched",
    # a limiter whose storage is down must not lock every coordinator out: it logs instead
    "RATELIMIT_SWALLOW_ERRORS": True,
    # trusted reverse proxies in front of the app (0: none, X-Forwarded-* are ignored)
    "PROXY_FIX": 0,
    # scrypt hashes at once; callers whose turn is due within the wait queue (each
    # holds a server thread, hence a cap on them), the others get 503 at once
    "PASSWORD_HASH_SLOTS": max(1, _cores() - 1),
    "PASSWORD_HASH_QUEUE": 256,
    "PASSWORD_HASH_WAIT_SECONDS": 120.0,
    # requests rendering at once, and how long one may wait for that (then 503);
    # `natsched serve` sets the slots from its thread count (webui.overload)
    "REQUEST_SLOTS": 12,
    "REQUEST_SLOT_WAIT_SECONDS": 2.0,
    # uploads checked and stored at once, off the render slots, and how long one may
    # wait for a place (then 503): a morning's fifty files must leave the pages room
    "UPLOAD_SLOTS": 4,
    "UPLOAD_SLOT_WAIT_SECONDS": 60.0,
    "WTF_CSRF_TIME_LIMIT": 8 * 3600,  # a coordinator's shift, not an hour
    "CLOCK": None,
    "JOB_WORKERS": 2,
    "REPLAN_INTERVAL_MINUTES": 15.0,
    "REPLAN_DEBOUNCE_SECONDS": 60.0,
    "REPLAN_LEASE_SECONDS": 300.0,
    "REPLAN_FREEZE_MINUTES": 60,
    "REPLAN_TIME_LIMIT": 30.0,
    "REPLAN_SEED": 0,
    # cores per re-plan solve (0: all); 1 makes re-plans repeatable
    "REPLAN_WORKERS": 0,
    "REPLAN_MOVE_PENALTY": 100.0,
    "HEALTH_WORKER_STALE_SECONDS": 120.0,  # no re-planner heartbeat this long: 503
    "UPLOAD_MAX_FUTURE_HOURS": 6.0,
    # a commit of a larger file is stored by a background job (county page and API)
    "UPLOAD_JOB_BYTES": 2 * 2**20,
    "BENCH_DIR": "build/bench",
}

csrf = CSRFProtect()


def configure(app: Flask, config: dict[str, Any] | None) -> None:
    app.config.update(DEFAULTS)
    app.config.from_prefixed_env("NATSCHED")
    if config:
        app.config.update(config)
    app.config["DATABASE_URL"] = database_url(app.config.get("DATABASE_URL"))
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _instance_secret(Path(app.instance_path))


def ingest_settings(app: Flask) -> IngestSettings:
    """How uploads are checked, from the app's settings (county page and API alike)."""
    return IngestSettings(max_future_hours=float(app.config["UPLOAD_MAX_FUTURE_HOURS"]))


def _instance_secret(folder: Path) -> str:
    path = folder / "secret_key"
    if path.exists():
        return path.read_text().strip()
    folder.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key)
    return key


class _SessionInterface(SecureCookieSessionInterface):
    """Session cookies are Secure whenever the request came over HTTPS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(super().get_cookie_secure(app) or (request and request.is_secure))


def _headers(resp: Response) -> Response:
    h = resp.headers
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("X-Frame-Options", "DENY")
    h.setdefault("Referrer-Policy", "same-origin")
    # everything the pages need ships with the package: no other origin is ever asked
    h.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'self'",
    )
    return resp


def init_security(app: Flask) -> None:
    app.session_interface = _SessionInterface()
    csrf.init_app(app)
    app.after_request(_headers)
    _trust_proxies(app)


def _trust_proxies(app: Flask) -> None:
    """Believe X-Forwarded-For/-Proto from ``PROXY_FIX`` proxies, and only then.

    A client reaching the app directly could otherwise name any address and escape
    the per-address login cap, or claim HTTPS."""
    value = app.config.get("PROXY_FIX") or 0
    hops = 1 if value is True else int(value)
    if hops < 1:
        return
    from werkzeug.middleware.proxy_fix import ProxyFix

    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]


def wants_json(req: Request) -> bool:
    return req.path.startswith("/api/") or req.accept_mimetypes.best == "application/json"
