"""The API's route table: one declaration per operation, read by Flask and by the OpenAPI document.

``operation(...)`` registers a view on the ``api`` blueprint *and* records
what the OpenAPI document says about it (roles, parameters, body, responses),
so the two cannot drift apart. The wrapper it puts around every view does, in
this order:

1. authentication: a ``Authorization: Bearer`` token (only the token counts
   when the header is there) or the session cookie; none -> 401;
2. the operation's roles: another role -> 403;
3. CSRF on writes when the caller came with a session cookie (the
   ``X-CSRFToken`` header); bearer clients need none;
4. query string, JSON body or multipart form into typed values (pydantic);
   anything malformed -> 400/413/415/422 with field-level details;
5. the view, whose pydantic answer is sent as JSON.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Blueprint, Response, g, request
from pydantic import BaseModel, ConfigDict, ValidationError
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import UnsupportedMediaType

from scheduler.store import models as m
from webui import db
from webui.accounts import Principal, user_of_token
from webui.auth import principal
from webui.clock import now
from webui.errors import ApiError, json_error
from webui.settings import csrf

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)

#: a JSON body is small; the upload's multipart body has the app's (file-sized) limit
MAX_JSON_BYTES = 64 * 1024
#: largest id the integer path parameters accept (larger ones are unknown routes: 404)
MAX_INT_ID = 2**31 - 1
ROLES = ("ops", "county", "lab")
PUBLIC = "anonymous"

F = TypeVar("F", bound=Callable[..., Any])


class Strict(BaseModel):
    """Request bodies: exact JSON types, no unknown fields."""

    model_config = ConfigDict(strict=True, extra="forbid")


class Query(BaseModel):
    """Query strings: text converted to the field's type, no unknown parameters."""

    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    """Responses."""

    model_config = ConfigDict(ser_json_inf_nan="null")


@dataclass(frozen=True)
class FileField:
    """A multipart body: the form fields of ``form`` plus one file."""

    form: type[BaseModel]
    file_field: str = "file"
    description: str = ""


@dataclass
class Operation:
    method: str
    path: str  # OpenAPI syntax, under the blueprint's prefix
    rule: str  # Flask syntax, under the blueprint's prefix
    endpoint: str
    summary: str
    roles: tuple[str, ...]
    response: type[BaseModel]
    status: int = 200
    also: tuple[int, ...] = ()  # other success statuses with the same body
    also_bodies: dict[int, type[BaseModel]] = field(default_factory=dict)  # ... with their own
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    body_required: bool = True
    multipart: FileField | None = None
    errors: tuple[int, ...] = ()
    description: str = ""
    tag: str = ""
    path_params: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def public(self) -> bool:
        return PUBLIC in self.roles

    @property
    def has_body(self) -> bool:
        return self.body is not None or self.multipart is not None

    def error_statuses(self) -> list[int]:
        codes = set(self.errors)
        if not self.public:
            codes |= {401, 403}
        if self.path_params:
            codes.add(404)
        if self.query is not None or self.has_body:
            codes.add(422)
        if self.has_body:
            codes |= {400, 413, 415}
        if self.method != "GET" and not self.public:
            codes.add(400)  # CSRF
        return sorted(codes)


OPERATIONS: list[Operation] = []

#: path parameters by name: their Flask converter and OpenAPI schema
PATH_PARAMS: dict[str, tuple[str, dict[str, Any], str]] = {
    "lab_id": ("string", {"type": "string", "maxLength": 64}, "a lab's id"),
    "batch_id": ("string", {"type": "string", "maxLength": 96}, "a batch's id"),
    "job_id": ("string", {"type": "string", "maxLength": 32}, "a job's id"),
    "upload_id": (
        f"int(max={MAX_INT_ID})",
        {"type": "integer", "minimum": 0, "maximum": MAX_INT_ID},
        "an upload's id",
    ),
    "plan_id": (
        f"int(max={MAX_INT_ID})",
        {"type": "integer", "minimum": 0, "maximum": MAX_INT_ID},
        "a plan version's id",
    ),
    "other_id": (
        f"int(max={MAX_INT_ID})",
        {"type": "integer", "minimum": 0, "maximum": MAX_INT_ID},
        "the plan version compared with",
    ),
}
_PARAM = re.compile(r"\{(\w+)\}")


@dataclass
class Reply:
    """A view's answer with a status and headers other than the operation's default."""

    body: BaseModel
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)


def operation(
    method: str,
    path: str,
    *,
    summary: str,
    roles: tuple[str, ...],
    response: type[BaseModel],
    status: int = 200,
    also: tuple[int, ...] = (),
    also_bodies: dict[int, type[BaseModel]] | None = None,
    query: type[BaseModel] | None = None,
    body: type[BaseModel] | None = None,
    body_required: bool = True,
    multipart: FileField | None = None,
    errors: tuple[int, ...] = (),
    description: str = "",
    tag: str = "",
) -> Callable[[F], F]:
    """Declare an operation. ``path`` uses OpenAPI syntax (``/labs/{lab_id}``).

    ``also`` lists other success statuses answered with ``response``; ``also_bodies``
    other success statuses with a body of their own (e.g. 202 with a job to poll)."""
    names = _PARAM.findall(path)
    rule = _PARAM.sub(lambda mt: f"<{PATH_PARAMS[mt.group(1)][0]}:{mt.group(1)}>", path)
    rule = rule.replace("<string:", "<")

    def wrap(view: F) -> F:
        op = Operation(
            method=method,
            path=path,
            rule=rule,
            endpoint=f"api.{view.__name__}",
            summary=summary,
            roles=roles,
            response=response,
            status=status,
            also=also,
            also_bodies=dict(also_bodies or {}),
            query=query,
            body=body,
            body_required=body_required,
            multipart=multipart,
            errors=errors,
            description=description,
            tag=tag,
            path_params={n: {"schema": PATH_PARAMS[n][1], "doc": PATH_PARAMS[n][2]} for n in names},
        )
        OPERATIONS.append(op)

        @functools.wraps(view)
        def run(**kwargs: Any) -> Any:
            return _run(op, view, kwargs)

        bp.add_url_rule(rule, endpoint=view.__name__, view_func=run, methods=[method])
        return view

    return wrap


# ---------------------------------------------------------------------------
# the wrapper


def _run(op: Operation, view: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    if op.has_body and op.multipart is None:
        request.max_content_length = MAX_JSON_BYTES
    if not op.public:
        who = _authenticate()
        if who is None:
            resp, status = json_error(401, "unauthorized", "log in or send a bearer token")
            resp.headers["WWW-Authenticate"] = 'Bearer realm="natsched"'
            return resp, status
        if who.role not in op.roles:
            raise ApiError(
                403, f"a {who.role} account may not use this; it is for {', '.join(op.roles)}"
            )
        if op.method not in ("GET", "HEAD", "OPTIONS") and not g.get("api_bearer"):
            csrf.protect()
    if op.query is not None:
        kwargs["q"] = _parse(op.query, _query_args(), strict=False, where="query")
    if op.body is not None:
        kwargs["body"] = _json_body(op)
    if op.multipart is not None:
        kwargs["form"], kwargs["file"] = _multipart(op.multipart)
    out = view(**kwargs)
    reply = out if isinstance(out, Reply) else Reply(out)
    resp = Response(
        reply.body.model_dump_json(), status=reply.status or op.status, mimetype="application/json"
    )
    for k, v in reply.headers.items():
        resp.headers[k] = v
    return resp


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


def _query_args() -> dict[str, Any]:
    args: dict[str, Any] = {}
    for key in request.args:
        values = request.args.getlist(key)
        if len(values) > 1:
            raise ApiError(
                422,
                "invalid query string",
                [{"field": key, "message": "give this parameter once", "type": "repeated"}],
            )
        args[key] = values[0]
    return args


def _parse(model: type[BaseModel], data: Any, *, strict: bool, where: str) -> Any:
    try:
        return model.model_validate(data, strict=strict)
    except ValidationError as exc:
        raise ApiError(422, f"invalid {where}", field_errors(exc)) from None


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


def _json_body(op: Operation) -> Any:
    assert op.body is not None
    raw = request.get_data(cache=True)
    if not raw.strip() and not op.body_required:
        return op.body.model_validate({})
    if request.mimetype != "application/json":
        raise UnsupportedMediaType("send the body as JSON (Content-Type: application/json)")
    try:
        doc = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "the body is not valid JSON", [{"message": str(exc)[:200]}]) from None
    if not isinstance(doc, dict):
        raise ApiError(400, f"the body must be a JSON object, not {_json_type(doc)}")
    try:
        return op.body.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        raise ApiError(422, "invalid body", field_errors(exc)) from None


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


def _multipart(spec: FileField) -> tuple[Any, FileStorage]:
    if request.mimetype != "multipart/form-data":
        raise UnsupportedMediaType("send the upload as multipart/form-data")
    form = {k: request.form.get(k) for k in request.form}
    errors: list[dict[str, Any]] = []
    file = request.files.get(spec.file_field)
    if file is None:
        errors.append(
            {"field": spec.file_field, "message": "a file is required", "type": "missing"}
        )
    unknown = set(request.files) - {spec.file_field}
    errors += [
        {"field": k, "message": "unexpected file field", "type": "extra_forbidden"}
        for k in sorted(unknown)
    ]
    parsed = None
    try:
        parsed = spec.form.model_validate(form)
    except ValidationError as exc:
        errors = field_errors(exc) + errors
    if errors or parsed is None or file is None:
        raise ApiError(422, "invalid upload form", errors)
    return parsed, file


# ---------------------------------------------------------------------------
# helpers for views


def who() -> Principal:
    """The caller (the wrapper has checked there is one)."""
    p = principal()
    if p is None:  # pragma: no cover - the wrapper answers 401 first
        raise ApiError(401, "log in or send a bearer token")
    return p


def not_found(what: str) -> ApiError:
    return ApiError(404, f"no {what}")


def known_county(code: str) -> bool:
    return db.session().get(m.County, code) is not None
