"""Ops / headquarters: the province dashboard, plans, administration, audit, benchmarks."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, render_template

from webui.auth import roles_required

bp = Blueprint("ops", __name__, url_prefix="/ops")


@bp.get("/")
@roles_required("ops")
def dashboard() -> Any:
    return render_template("ops/dashboard.html")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
