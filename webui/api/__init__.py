"""The JSON API under ``/api/v1`` (issue: machine clients and the pages' fetch calls).

``framework`` holds the route table and the wrapper every operation runs in
(auth, roles, CSRF, strict parsing), ``schemas`` the pydantic shapes,
``resources`` the operations and ``openapi`` the document served at
``/api/v1/openapi.json``.
"""

from __future__ import annotations

from flask import Flask

from webui.api import health, resources  # noqa: F401  (register the operations on bp)
from webui.api.framework import bp


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
