"""The JSON API under ``/api/v1``, on flask-openapi3 (machine clients and the pages' fetch calls).

``blueprint`` holds the blueprint and ``route``, the one way an operation is
declared; ``access`` who may call it; ``schemas`` the pydantic shapes; one
module per resource holds its operations; ``refusals`` how the service
layer's refusals are answered; ``openapi`` the document served at
``/api/v1/openapi.json``.
"""

from __future__ import annotations

from flask import Flask

from webui.api import (  # noqa: F401  (each module declares its operations on bp)
    batches,
    health,
    jobs,
    labs,
    openapi,
    plans,
    sites,
    uploads,
)
from webui.api.access import invalid
from webui.api.blueprint import bp


def init_app(app: Flask) -> None:
    # flask-openapi3 asks the app how to answer a request its models refuse
    app.validation_error_callback = invalid  # type: ignore[attr-defined]
    app.register_blueprint(bp)
