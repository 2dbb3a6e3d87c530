"""natsched's web layer: a thin Flask app over the ``scheduler`` library.

For now it serves a health check; the pages for lab coordinators, county
offices and ops come with the web UI issue.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify

from scheduler import __version__


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Application factory (Flask's pattern): settings from the environment or ``test_config``."""
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_prefixed_env("NATSCHED")
    if test_config is not None:
        app.config.update(test_config)

    @app.get("/healthz")
    def healthz() -> Any:
        return jsonify(status="ok", version=__version__)

    return app
