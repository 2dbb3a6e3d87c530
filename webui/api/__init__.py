"""The JSON API under ``/api/v1``, on flask-openapi3 (machine clients and the pages' fetch calls).

``blueprint`` holds the blueprint and ``route``, the one way an operation is
declared; ``access`` who may call it; ``schemas`` the pydantic shapes; one
module per resource holds its operations; ``openapi`` the document served at
``/api/v1/openapi.json``.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from scheduler.store.errors import RuleViolation
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
from webui.errors import json_error

#: today's status and code of a rule's refusal by the field it names: a box's state going
#: back conflicts with the stored state (409); every other rule is an invalid field (422)
RULE_STATUS = {"status": (409, "conflict")}


@bp.errorhandler(RuleViolation)
def rule_violation(e: RuleViolation) -> Any:
    """The service layer's one refusal, as the API's error shape naming its field and rule."""
    status, code = RULE_STATUS.get(e.field, (422, "invalid"))
    message = "invalid body" if status == 422 else e.message
    return json_error(
        status, code, message, [{"field": e.field, "message": e.message, "type": e.code}]
    )


def init_app(app: Flask) -> None:
    # flask-openapi3 asks the app how to answer a request its models refuse
    app.validation_error_callback = invalid  # type: ignore[attr-defined]
    app.register_blueprint(bp)
