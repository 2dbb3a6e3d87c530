"""Lab coordinators: their lab's schedule, box status, lab status, day sheet exports."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, render_template

from webui.auth import check_lab, roles_required

bp = Blueprint("lab", __name__, url_prefix="/lab")


@bp.get("/<lab_id>/")
@roles_required("lab", "ops")
def schedule(lab_id: str) -> Any:
    check_lab(lab_id)
    return render_template("lab/schedule.html", lab_id=lab_id)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
