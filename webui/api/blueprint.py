"""The API's blueprint on flask-openapi3, and how an operation is declared on it.

flask-openapi3 routes each operation, parses its path, query, body or form
into the pydantic models its view is annotated with (``path``, ``query``,
``body``, ``form``) and records the operation for the OpenAPI document.
``route`` adds what is ours: who may call it (``access``), the error statuses
it documents and the operation's id. Views answer with ``answer(model)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypeVar, get_type_hints

from flask import Response
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel

from scheduler.store.errors import RuleViolation
from webui.api import access, refusals
from webui.api import schemas as sc
from webui.settings import csrf

bp = APIBlueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)
bp.before_request(access.guard)
bp.register_error_handler(RuleViolation, refusals.rule_violation)

F = TypeVar("F", bound=Callable[..., Any])


def route(
    method: str,
    rule: str,
    *,
    summary: str,
    roles: tuple[str, ...],
    responses: dict[int, type[BaseModel]],
    errors: tuple[int, ...] = (),
    description: str = "",
    tag: str = "",
) -> Callable[[F], F]:
    """Declare an operation: ``rule`` in Flask syntax under ``/api/v1``; ``responses`` its
    success statuses and bodies; ``errors`` error statuses beyond those its roles and
    inputs imply."""

    def wrap(view: F) -> F:
        hints = get_type_hints(view)
        body: Literal["json", "form"] | None = (
            "json" if "body" in hints else "form" if "form" in hints else None
        )
        # a body model may say it can be left out (``openapi_extra``), for the document too
        extra = hints["body"].model_config.get("openapi_extra", {}) if body == "json" else {}
        public = access.PUBLIC in roles
        access.declare(
            f"{bp.name}.{view.__name__}",
            access.Access(roles, body, body_required=extra.get("required", True)),
        )
        statuses = _error_statuses(method, public, set(hints), errors)
        declare = getattr(bp, method.lower())
        return declare(
            rule,
            operation_id=view.__name__,
            summary=summary,
            description=_describe(roles, description),
            tags=[Tag(name=tag)] if tag else None,
            responses={**responses, **dict.fromkeys(statuses, sc.Error)},
            security=None if public else [{"bearer": []}, {"session": []}],
        )(view)

    return wrap


def _error_statuses(
    method: str, public: bool, inputs: set[str], extra: tuple[int, ...]
) -> list[int]:
    codes = set(extra)
    if not public:
        codes |= {401, 403}
        if method != "GET":
            codes.add(400)  # CSRF
    if "path" in inputs:
        codes.add(404)
    if inputs & {"query", "body", "form"}:
        codes.add(422)
    if inputs & {"body", "form"}:
        codes |= {400, 413, 415}
    return sorted(codes)


def _describe(roles: tuple[str, ...], description: str) -> str:
    who = "anyone, no login needed" if access.PUBLIC in roles else ", ".join(roles)
    text = f"Roles: {who}."
    return f"{description}\n\n{text}" if description else text


def answer(body: BaseModel, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A view's JSON answer."""
    resp = Response(body.model_dump_json(), status=status, mimetype="application/json")
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp
