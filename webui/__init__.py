"""natsched's web layer: a thin Flask app over the ``scheduler`` library.

One blueprint per audience (``lab``, ``county``, ``ops``) plus ``api``
(``/api/v1``). Settings come from ``NATSCHED_*`` environment variables or the
mapping passed to ``create_app``; see ``webui.settings``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask, jsonify

from scheduler import __version__


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Application factory (Flask's pattern)."""
    from webui import auth, db, errors, health, jobs, labels, overload, settings
    from webui.clock import Clock

    # the instance folder (secret key, SQLite file, demo accounts) is ./instance, as the
    # library's default database is, not a folder inside the installed package
    folder = os.environ.get("NATSCHED_INSTANCE_PATH", "instance")
    app = Flask(__name__, instance_path=str(Path(folder).resolve()))
    settings.configure(app, config)
    app.extensions["natsched.clock"] = Clock.parse(app.config.get("CLOCK"))
    db.init_app(app)
    settings.init_security(app)
    labels.init_app(app)
    auth.init_app(app)
    jobs.init_app(app)
    errors.init_app(app)
    health.init_app(app)
    overload.init_app(app)
    _register_views(app)

    @app.context_processor
    def common_context() -> dict[str, Any]:
        return {
            "now": app.extensions["natsched.clock"].now(),
            "nav_endpoints": app.view_functions.keys(),
        }

    @app.get("/healthz")
    def healthz() -> Any:
        return jsonify(status="ok", version=__version__)

    return app


def _register_views(app: Flask) -> None:
    """Each audience's blueprint, when its module is there."""
    import importlib

    for name in (
        "webui.views.lab",
        "webui.views.county",
        "webui.views.ops",
        "webui.views.bench",
        "webui.api",
    ):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.init_app(app)
