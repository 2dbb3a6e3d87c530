"""County offices: upload sample counts, their upload history, where their boxes go."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, render_template

from webui.auth import check_county, roles_required

bp = Blueprint("county", __name__, url_prefix="/county")


@bp.get("/<code>/")
@roles_required("county", "ops")
def home(code: str) -> Any:
    check_county(code)
    return render_template("county/home.html", code=code)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
