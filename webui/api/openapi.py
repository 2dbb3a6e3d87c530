"""The OpenAPI 3.1 document, served at ``/api/v1/openapi.json``.

flask-openapi3 collects every operation from its declaration (path, query,
body and form models, responses) and the schemas from the pydantic models
that parse the requests and make the answers, so the document cannot describe
an API other than the one that runs. This module adds what the framework does
not know: the API's description, its security schemes, the error statuses'
texts and headers, and query parameters without pydantic's titles and
``null`` branches (a parameter is left out, never sent as null).
"""

from __future__ import annotations

import copy
from typing import Any

from flask import Flask, Response, current_app
from flask_openapi3.models import APISpec, Components, Info

from scheduler import __version__
from webui.api import schemas as sc
from webui.api.access import MAX_JSON_BYTES, PUBLIC
from webui.api.blueprint import answer, bp, route

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
HEADERS = {
    201: {"Location": "the new resource, or the job to poll"},
    202: {"Location": "the new resource, or the job to poll"},
    503: {"Retry-After": "seconds to wait before asking again"},
}
#: the document's tags, in the order a reader meets the resources
TAGS = ("meta", "labs", "sites", "uploads", "batches", "plans")
#: JSON Schema bounds the framework's ``Schema`` reads as floats; integers as pydantic wrote them
BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "an API token issued to a user"},
    "session": {
        "type": "apiKey",
        "in": "cookie",
        "name": "natsched_session",
        "description": "the web pages' login; writes also need X-CSRFToken",
    },
}


@route(
    "GET",
    "/openapi.json",
    summary="This API's OpenAPI 3.1 document",
    roles=(PUBLIC,),
    responses={200: sc.OpenApiDoc},
    tag="meta",
)
def openapi_doc() -> Response:
    return answer(sc.OpenApiDoc(document(current_app)))


def document(app: Flask) -> dict[str, Any]:
    """The document, built once per app (every operation is declared by then)."""
    doc = app.extensions.get("natsched.openapi")
    if doc is None:
        doc = build()
        app.extensions["natsched.openapi"] = doc
    return copy.deepcopy(doc)


def build() -> dict[str, Any]:
    spec = APISpec(
        openapi="3.1.0",
        info=Info(title="natsched API", version=__version__, description=DESCRIPTION),
        paths=bp.paths,
        tags=bp.tags,
        components=Components(schemas=bp.components_schemas),
    )
    doc: dict[str, Any] = spec.model_dump(
        mode="json", by_alias=True, exclude_unset=True, warnings=False
    )
    doc["jsonSchemaDialect"] = "https://spec.openapis.org/oas/3.1/dialect/base"
    doc["tags"] = sorted(doc.get("tags", []), key=lambda t: TAGS.index(t["name"]))
    schemas = doc["components"]["schemas"]
    doc["components"]["securitySchemes"] = SECURITY_SCHEMES
    for ops in doc["paths"].values():
        for op in ops.values():
            op.setdefault("security", [])
            op["parameters"] = [_parameter(p) for p in op.get("parameters", [])]
            form = op.get("requestBody", {}).get("content", {}).get("multipart/form-data")
            if form is not None:
                _inline_form(form, schemas)
            for status, resp in op["responses"].items():
                code = int(status)
                resp["description"] = STATUS_TEXT.get(code, resp["description"])
                if code in HEADERS:
                    resp["headers"] = {
                        name: {"description": text, "schema": {"type": "string"}}
                        for name, text in HEADERS[code].items()
                    }
    return _whole_bounds(doc)


def _whole_bounds(node: Any) -> Any:
    """``node`` with whole-number bounds as integers, as pydantic wrote them."""
    if isinstance(node, dict):
        return {
            k: int(v)
            if k in BOUNDS and isinstance(v, float) and v.is_integer()
            else _whole_bounds(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_whole_bounds(v) for v in node]
    return node


def _parameter(param: dict[str, Any]) -> dict[str, Any]:
    schema = _strip(param["schema"])
    if "description" in schema:
        # a path parameter says it once; a query parameter in its schema too, for the UIs
        param["description"] = (
            schema.pop("description") if param["in"] == "path" else schema["description"]
        )
    param["schema"] = schema
    return param


def _inline_form(form: dict[str, Any], schemas: dict[str, Any]) -> None:
    """A form's schema in its operation, as a form's fields are no shape of their own, and
    each file field sent as whatever type the file has."""
    name = form["schema"]["$ref"].rsplit("/", 1)[1]
    schema = _strip(schemas.pop(name))
    schema["properties"] = {k: _strip(v) for k, v in schema["properties"].items()}
    form["schema"] = schema
    form["encoding"] = {
        k: {"contentType": "*/*"}
        for k, v in schema["properties"].items()
        if v.get("format") == "binary"
    }


def _strip(schema: dict[str, Any]) -> dict[str, Any]:
    """A parameter's schema without its title and the ``null`` branch pydantic adds for
    optional fields."""
    schema = {k: v for k, v in schema.items() if k != "title"}
    branches = schema.get("anyOf")
    if branches is not None:
        rest = [b for b in branches if b != {"type": "null"}]
        if len(rest) == 1:
            schema.pop("anyOf")
            schema = {**rest[0], **schema}
            if schema.get("default", 0) is None:
                schema.pop("default")
    return schema
