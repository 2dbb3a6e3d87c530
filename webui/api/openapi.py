"""The OpenAPI 3.1 document, made from the route table (``framework.OPERATIONS``).

Every operation's parameters, body and responses come from the same
declaration Flask serves it from, and the schemas from the pydantic models
that parse the bodies and make the answers, so the document cannot describe
an API other than the one that runs.
"""

from __future__ import annotations

import copy
from typing import Any

from flask import Flask
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from scheduler import __version__
from webui.api import schemas as sc
from webui.api.framework import MAX_JSON_BYTES, OPERATIONS, Operation, bp

REF = "#/components/schemas/{model}"

DESCRIPTION = """\
The JSON API of natsched, the PCR testing network scheduler.

**Authentication.** Machine clients send `Authorization: Bearer <token>` (tokens are
issued per user by an administrator; a wrong token is a 401 even with a session
cookie). The web pages' own calls use the session cookie; their writes must then
carry the CSRF token in the `X-CSRFToken` header. Bearer calls need no CSRF token.

**Roles.** `ops` may do everything. A `county` account sees its county's sites,
uploads and batches, and the labs; it may send uploads for its county. A `lab`
account sees its own lab and the batches planned at or pinned to it, reports its
status and its batches' progress. Plans, KPIs and re-planning are for `ops`.

**Forbidden or not found.** An operation your role may not use answers 403.
Naming a county or lab that is not yours (path, query or body) answers 403. A
record of another county or lab (batch, upload, job) answers 404, exactly as an
unknown id does.

**Errors** always have one shape: `{"error": {"status", "code", "message",
"details"?}}`; `details` lists field errors (`field`, `message`, `type`) or an
upload's located file errors (`row`, `column`, `value`, `rule`). 400: body not
JSON, not a JSON object, or CSRF check failed; 401: not logged in; 403: not
allowed; 404: unknown id; 409: the event does not fit the stored state (e.g. a
batch status going back); 413: body too large (JSON bodies: JSON_KB KiB;
uploads: the file limit); 415: wrong content type; 422: fields missing, of the
wrong type, out of range, unknown enum values or unknown fields.

**Times** are the world's local time, ISO 8601 without a zone.
""".replace("JSON_KB", str(MAX_JSON_BYTES // 1024))

STATUS_TEXT = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    400: "Malformed body (not JSON, not an object) or CSRF check failed",
    401: "Not logged in, or a wrong bearer token",
    403: "Your role or county/lab may not do this",
    404: "Unknown id, or a record outside your county/lab",
    409: "The event does not fit the stored state",
    413: "Body too large",
    415: "Wrong content type",
    422: "Invalid fields (details list them)",
    503: "Unavailable or unhealthy: retry after `Retry-After` seconds",
}


def document(app: Flask) -> dict[str, Any]:
    """The document, built once per app."""
    doc = app.extensions.get("natsched.openapi")
    if doc is None:
        doc = build()
        app.extensions["natsched.openapi"] = doc
    return copy.deepcopy(doc)


def _models() -> list[tuple[type[BaseModel], JsonSchemaMode]]:
    seen: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {(sc.Error, "serialization"): None}
    for op in OPERATIONS:
        seen[(op.response, "serialization")] = None
        for model in op.also_bodies.values():
            seen[(model, "serialization")] = None
        if op.body is not None:
            seen[(op.body, "validation")] = None
    return list(seen)


def build() -> dict[str, Any]:
    keys, top = models_json_schema(_models(), ref_template=REF)
    schemas: dict[str, Any] = top.get("$defs", {})
    refs: dict[Any, dict[str, Any]] = {model: ref for (model, _mode), ref in keys.items()}
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(f"{bp.url_prefix}{op.path}", {})[op.method.lower()] = _operation(op, refs)
    return {
        "openapi": "3.1.0",
        "info": {"title": "natsched API", "version": __version__, "description": DESCRIPTION},
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "tags": [{"name": t} for t in dict.fromkeys(op.tag for op in OPERATIONS if op.tag)],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "an API token issued to a user",
                },
                "session": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "natsched_session",
                    "description": "the web pages' login; writes also need X-CSRFToken",
                },
            },
        },
    }


def _operation(op: Operation, refs: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "operationId": op.endpoint.removeprefix("api."),
        "summary": op.summary,
        "description": _describe(op),
        "tags": [op.tag] if op.tag else [],
        "parameters": _parameters(op),
        "responses": _responses(op, refs),
        "security": [] if op.public else [{"bearer": []}, {"session": []}],
    }
    if op.body is not None:
        out["requestBody"] = {
            "required": op.body_required,
            "content": {"application/json": {"schema": refs[op.body]}},
        }
    if op.multipart is not None:
        form = _strip(op.multipart.form.model_json_schema(mode="validation", ref_template=REF))
        props = dict(form.get("properties", {}))
        props[op.multipart.file_field] = {
            "type": "string",
            "format": "binary",
            "description": op.multipart.description or "the file",
        }
        schema = {
            "type": "object",
            "properties": props,
            "required": [*form.get("required", []), op.multipart.file_field],
            "additionalProperties": False,
        }
        out["requestBody"] = {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": schema,
                    "encoding": {op.multipart.file_field: {"contentType": "*/*"}},
                }
            },
        }
    return out


def _describe(op: Operation) -> str:
    roles = "anyone, no login needed" if op.public else ", ".join(op.roles)
    text = f"Roles: {roles}."
    return f"{op.description}\n\n{text}" if op.description else text


def _parameters(op: Operation) -> list[dict[str, Any]]:
    params = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "description": p["doc"],
            "schema": p["schema"],
        }
        for name, p in op.path_params.items()
    ]
    if op.query is not None:
        schema = op.query.model_json_schema(mode="validation", ref_template=REF)
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            prop = _strip(prop)
            param: dict[str, Any] = {
                "name": name,
                "in": "query",
                "required": name in required,
                "schema": prop,
            }
            if "description" in prop:
                param["description"] = prop["description"]
            params.append(param)
    return params


def _strip(schema: dict[str, Any]) -> dict[str, Any]:
    """A query or form field's schema without the ``null`` branch pydantic adds for
    optional fields (a parameter is left out, never sent as null) and without titles."""
    schema = {k: v for k, v in schema.items() if k != "title"}
    if "properties" in schema:
        schema["properties"] = {k: _strip(v) for k, v in schema["properties"].items()}
    branches = schema.get("anyOf")
    if branches is not None:
        rest = [b for b in branches if b != {"type": "null"}]
        if len(rest) == 1:
            schema.pop("anyOf")
            schema = {**rest[0], **schema}
            if schema.get("default", 0) is None:
                schema.pop("default")
    return schema


def _responses(op: Operation, refs: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    bodies = {status: op.response for status in (op.status, *op.also)} | op.also_bodies
    for status, model in sorted(bodies.items()):
        resp: dict[str, Any] = {
            "description": STATUS_TEXT.get(status, "OK"),
            "content": {"application/json": {"schema": refs[model]}},
        }
        if status in (201, 202):
            resp["headers"] = {
                "Location": {
                    "description": "the new resource, or the job to poll",
                    "schema": {"type": "string"},
                }
            }
        if status == 503:
            resp["headers"] = {
                "Retry-After": {
                    "description": "seconds to wait before asking again",
                    "schema": {"type": "string"},
                }
            }
        out[str(status)] = resp
    for status in op.error_statuses():
        out[str(status)] = {
            "description": STATUS_TEXT[status],
            "content": {"application/json": {"schema": refs[sc.Error]}},
        }
    return out
