"""Who may call an operation, and what reaches its validation.

``guard`` runs before every API view, ahead of flask-openapi3's parsing, in
this order:

1. authentication: an ``Authorization: Bearer`` token (only the token counts
   when the header is there) or the session cookie; none -> 401;
2. the operation's roles: another role -> 403;
3. CSRF on writes when the caller came with a session cookie (the
   ``X-CSRFToken`` header); bearer clients need none;
4. the body's envelope: JSON bodies are small (413), of the right content type
   (415), JSON (400) and a JSON object (400); a query parameter is given once.

The fields themselves are the framework's to check: its pydantic errors come
back through ``invalid`` as the API's 422 with field-level details.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from flask import g, request
from pydantic import ValidationError
from werkzeug.exceptions import UnsupportedMediaType

from webui import db
from webui.accounts import Principal, user_of_token
from webui.auth import principal
from webui.clock import now
from webui.errors import ApiError, json_error
from webui.settings import csrf

#: a JSON body is small; the upload's multipart body has the app's (file-sized) limit
MAX_JSON_BYTES = 64 * 1024
ROLES = ("ops", "county", "lab")
PUBLIC = "anonymous"


@dataclass(frozen=True)
class Access:
    roles: tuple[str, ...]
    body: Literal["json", "form"] | None = None
    body_required: bool = True


#: endpoint -> who may call it and the body it takes (declared by ``blueprint.route``)
_OPERATIONS: dict[str, Access] = {}


def declare(endpoint: str, rule: Access) -> None:
    _OPERATIONS[endpoint] = rule


def guard() -> Any:
    if request.method == "OPTIONS":
        return None  # Flask answers it with the allowed methods; no view runs
    op = _OPERATIONS.get(request.endpoint or "")
    if op is None:  # pragma: no cover - every API view is declared by route()
        raise ApiError(500, "an API operation without its access rule")
    if op.body == "json":
        request.max_content_length = MAX_JSON_BYTES
    if PUBLIC not in op.roles:
        who = _authenticate()
        if who is None:
            resp, status = json_error(401, "unauthorized", "log in or send a bearer token")
            resp.headers["WWW-Authenticate"] = 'Bearer realm="natsched"'
            return resp, status
        if who.role not in op.roles:
            raise ApiError(
                403, f"a {who.role} account may not use this; it is for {', '.join(op.roles)}"
            )
        if request.method not in ("GET", "HEAD", "OPTIONS") and not g.get("api_bearer"):
            csrf.protect()
    for key in request.args:
        if len(request.args.getlist(key)) > 1:
            raise ApiError(
                422,
                "invalid query string",
                [{"field": key, "message": "give this parameter once", "type": "repeated"}],
            )
    if op.body == "json":
        _check_json(op.body_required)
    elif op.body == "form" and request.mimetype != "multipart/form-data":
        raise UnsupportedMediaType("send the upload as multipart/form-data")
    return None


def _authenticate() -> Principal | None:
    """The bearer token's user when the header is there (a wrong token is a 401), else the
    session's."""
    header = request.headers.get("Authorization")
    if header is None:
        return principal()
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    s = db.session()
    user = user_of_token(s, token.strip(), now())
    if user is None:
        return None
    s.commit()  # the token's last use
    who = Principal.of(user)
    g._login_user = who  # Flask-Login's current user for this request: the token's, not a cookie's
    g.api_bearer = True
    return who


def _check_json(required: bool) -> None:
    """The body is a JSON object, or absent where the operation's body model allows none
    (the model then says what absent means)."""
    raw = request.get_data(cache=True)
    if not raw.strip() and not required:
        return
    if request.mimetype != "application/json":
        raise UnsupportedMediaType("send the body as JSON (Content-Type: application/json)")
    try:
        doc = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "the body is not valid JSON", [{"message": str(exc)[:200]}]) from None
    if not isinstance(doc, dict):
        raise ApiError(400, f"the body must be a JSON object, not {_json_type(doc)}")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json_type(doc: Any) -> str:
    if isinstance(doc, list):
        return "an array"
    if isinstance(doc, str):
        return "a string"
    if doc is None:
        return "null"
    if isinstance(doc, bool):
        return "a boolean"
    return "a number"


def invalid(exc: ValidationError) -> Any:
    """flask-openapi3's hook for a request its models refuse: the API's 422 (raised, so the
    app's one error handler answers it)."""
    op = _OPERATIONS.get(request.endpoint or "")
    body = op.body if op is not None else None
    # no operation takes both a query and a body; path ids are the routes' converters' to check
    where = "body" if body == "json" else "upload form" if body == "form" else "query"
    raise ApiError(422, f"invalid {where}", field_errors(exc))


def field_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """pydantic's errors as ``{field, message, type}``, the field as a dotted path."""
    return [
        {
            "field": ".".join(str(p) for p in e["loc"]) or "(body)",
            "message": e["msg"],
            "type": e["type"],
        }
        for e in exc.errors(include_url=False, include_input=False)
    ]
