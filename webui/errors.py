"""Errors: a page in the user's language, or on the API one stable JSON shape.

API errors are ``{"error": {"status": 400, "code": "bad_request", "message":
"...", "details": [...]}}``. A 500 never shows a traceback; it is logged.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from webui.auth import retry_after
from webui.labels import translate
from webui.overload import LaneBusy
from webui.settings import wants_json

log = logging.getLogger(__name__)


class ApiError(Exception):
    """Raised by API views: answered as the JSON error shape with this status."""

    def __init__(self, status: int, message: str, details: list[Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details or []


def json_error(status: int, code: str, message: str, details: list[Any] | None = None) -> Any:
    body: dict[str, Any] = {"status": status, "code": code, "message": message}
    if details:
        body["details"] = details
    return jsonify(error=body), status


def _code(e: HTTPException) -> str:
    return (e.name or "error").lower().replace(" ", "_").replace("'", "")


def init_app(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def api_error(e: ApiError) -> Any:
        return json_error(e.status, _code_of(e.status), e.message, e.details)

    @app.errorhandler(CSRFError)
    def csrf_error(e: CSRFError) -> Any:
        if wants_json(request):
            return json_error(400, "csrf_failed", f"CSRF check failed: {e.description}")
        return render_template("error.html", status=400, key="error.csrf"), 400

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException) -> Any:
        status = e.code or 500
        # a limit's 429 says when to come back, so clients need not guess
        headers = {"Retry-After": str(retry_after())} if status == 429 else {}
        if wants_json(request):
            body, _ = json_error(status, _code(e), e.description or e.name)
            return body, status, headers
        key = f"error.{status}" if status in (400, 403, 404, 413, 429) else "error.400"
        return render_template("error.html", status=status, key=key), status, headers

    @app.errorhandler(LaneBusy)
    def lane_busy(e: LaneBusy) -> Any:
        headers = {"Retry-After": str(e.retry_after)}
        if wants_json(request):
            body, _ = json_error(503, "overloaded", translate("error.overloaded", "en"))
            return body, 503, headers
        return render_template("error.html", status=503, key="error.503"), 503, headers

    @app.errorhandler(OperationalError)
    def busy(e: OperationalError) -> Any:
        # the database is busy (SQLite's one writer, a restarting server): nothing was
        # changed; the client may send the same request again
        log.warning("database busy on %s %s: %s", request.method, request.path, e.orig)
        if wants_json(request):
            resp = json_error(503, "busy", "the database is busy; nothing was changed, retry")
            resp[0].headers["Retry-After"] = "5"
            return resp
        return render_template("error.html", status=503, key="error.503"), 503, {"Retry-After": "5"}

    @app.errorhandler(Exception)
    def crash(e: Exception) -> Any:
        log.exception("unhandled error on %s %s", request.method, request.path)
        if wants_json(request):
            return json_error(500, "internal_error", "the server failed; nothing was changed")
        return render_template("error.html", status=500, key="error.500"), 500


def _code_of(status: int) -> str:
    return {
        400: "bad_request",
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        409: "conflict",
        413: "too_large",
        422: "invalid",
        429: "too_many_requests",
    }.get(status, "error")
