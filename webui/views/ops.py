"""Ops / headquarters: the province dashboard, plans and diffs, re-plan now, users, audit."""

from __future__ import annotations

import threading
from typing import Any

from flask import (
    Flask,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from markupsafe import Markup
from sqlalchemy import func, select

from scheduler.domain import OPEN_STATES, PRIORITIES, RESULTED
from scheduler.replan.diff import BETTER_LAB, LAB_CHANGE, diff_plans
from scheduler.store import models as m
from webui import db
from webui import models as wm
from webui.accounts import ROLES, AccountError, create_user, issue_token
from webui.auth import principal, roles_required
from webui.clock import now as _now
from webui.jobs import job_dict, jobs_of
from webui.labels import current_lang
from webui.labels import say as _t
from webui.planner import replan_job

# ops_admin's routes join the blueprint when it is imported
from webui.views import ops_admin, ops_words, planview  # noqa: F401
from webui.views.ops_bp import bp
from webui.views.ops_figures import figures
from webui.views.planview import VersionInfo

AUDIT_PAGE = 100
LATE_PAGE = 50
_FIG_LOCK = threading.Lock()

bp.context_processor(ops_words.helpers)


def _figures_html() -> tuple[VersionInfo | None, Markup | None]:
    """The published version and its figures' HTML, rendered once per version and language.

    A version's figures never change (the summary is stored when it is published),
    and a province's map and heatmap are thousands of SVG shapes: drawing them for
    every refresh of every headquarters screen would cost more than the rest of
    the page together.
    """
    s = db.session()
    version = planview.current(s)
    if version is None:
        return None, None
    key = (version.id, current_lang())
    cache: dict[tuple[int, str], Markup] = current_app.extensions.setdefault(
        "natsched.figures_html", {}
    )
    with _FIG_LOCK:
        hit = cache.get(key)
    if hit is not None:
        return version, hit
    doc = planview.summary(s, version.id)
    if doc is None:
        return version, None
    html = Markup(render_template("ops/_figures.html", fig=figures(version, doc)))
    with _FIG_LOCK:
        for old in [k for k in cache if k[0] != version.id]:
            del cache[old]  # one version at a time: the newest
        cache[key] = html
    return version, html


@bp.get("/")
@roles_required("ops")
def dashboard() -> Any:
    s = db.session()
    waiting = dict(
        s.execute(
            select(m.Batch.status, func.sum(m.Batch.tubes))
            .where(m.Batch.status != RESULTED)
            .group_by(m.Batch.status)
        ).all()
    )
    version, html = _figures_html()
    return render_template(
        "ops/dashboard.html",
        waiting=waiting,
        open_states=OPEN_STATES,
        version=version,
        fig=html is not None,
        figures_html=html,
        running=s.scalar(
            select(wm.Job).where(wm.Job.kind == "replan", wm.Job.state.in_(("queued", "running")))
        ),
    )


@bp.post("/replan")
@roles_required("ops")
def replan_now() -> Any:
    who = principal()
    assert who is not None
    running = db.session().scalar(
        select(wm.Job.id).where(wm.Job.kind == "replan", wm.Job.state.in_(("queued", "running")))
    )
    if running is not None:
        job_id = running
    else:
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        job_id = jobs_of(app).submit(
            "replan", who.username, replan_job(app, who.username, "re-plan now")
        )
    poll = url_for("ops.job", job_id=job_id)
    if request.accept_mimetypes.best == "application/json":
        return jsonify(id=job_id, poll=poll), 202
    flash(_t("ops.replan_started"), "info")
    return redirect(url_for("ops.dashboard", job=job_id))


@bp.get("/jobs/<job_id>")
@roles_required("ops")
def job(job_id: str) -> Any:
    rec = db.session().get(wm.Job, job_id)
    if rec is None:
        abort(404)
    return jsonify(job_dict(rec))


@bp.get("/plans/")
@roles_required("ops")
def plans() -> Any:
    versions = (
        db.session()
        .scalars(select(m.PlanVersion).order_by(m.PlanVersion.id.desc()).limit(100))
        .all()
    )
    return render_template("ops/plans.html", versions=versions)


@bp.get("/plans/<int:a>/diff/<int:b>")
@roles_required("ops")
def diff(a: int, b: int) -> Any:
    try:
        moves = diff_plans(db.session(), a, b)
    except LookupError:
        abort(404)
    to_other_lab = sum(1 for mv in moves if mv.code in (LAB_CHANGE, BETTER_LAB))
    return render_template(
        "ops/diff.html", a=a, b=b, moves=moves[:1000], total=len(moves), moved=to_other_lab
    )


@bp.get("/late/<priority>")
@roles_required("ops")
def late(priority: str) -> Any:
    """The published plan's late boxes of one priority, each with why and a link to its lab."""
    if priority not in PRIORITIES:
        abort(404)
    s = db.session()
    version = planview.current(s)
    if version is None:
        abort(404)
    page = max(1, request.args.get("page", 1, type=int) or 1)
    most_late = request.args.get("sort", "most") != "least"
    boxes, total = planview.late_boxes(
        s, version.id, priority, page=page, per_page=LATE_PAGE, most_late=most_late
    )
    return render_template(
        "ops/late.html",
        version=version,
        priority=priority,
        boxes=boxes,
        total=total,
        page=page,
        pages=max(1, -(-total // LATE_PAGE)),
        sort="most" if most_late else "least",
    )


@bp.get("/admin/")
@roles_required("ops")
def admin() -> Any:
    return _admin_page(token=None)


def _admin_page(token: dict[str, str] | None) -> Any:
    s = db.session()
    return render_template(
        "ops/admin.html",
        users=s.scalars(select(wm.User).order_by(wm.User.username)).all(),
        labs=s.scalars(select(m.Lab).order_by(m.Lab.lab_id)).all(),
        counties=s.scalars(select(m.County).order_by(m.County.code)).all(),
        sites=s.scalar(select(func.count()).select_from(m.Site)),
        roles=ROLES,
        token=token,
    )


def _audit(action: str, target: str, **detail: object) -> None:
    who = principal()
    db.session().add(
        m.AuditLog(
            at=_now(), user=who.username if who else "", action=action, target=target, detail=detail
        )
    )


@bp.post("/admin/users")
@roles_required("ops")
def create_user_view() -> Any:
    f = request.form
    s = db.session()
    try:
        u = create_user(
            s,
            f.get("username", ""),
            f.get("password", ""),
            f.get("role", ""),
            county_code=f.get("county") or None,
            lab_id=f.get("lab") or None,
        )
        _audit("user create", u.username, role=u.role)
        s.commit()
        flash(_t("ops.user_created", user=u.username), "ok")
    except AccountError as exc:
        s.rollback()
        flash(str(exc), "error")
    return redirect(url_for("ops.admin"))


@bp.post("/admin/users/<int:user_id>/active")
@roles_required("ops")
def set_active(user_id: int) -> Any:
    s = db.session()
    u = s.get(wm.User, user_id)
    if u is None:
        abort(404)
    who = principal()
    if who is not None and who.id == u.id:
        flash(_t("ops.not_yourself"), "error")
        return redirect(url_for("ops.admin"))
    u.active = request.form.get("active") == "1"
    _audit("user active" if u.active else "user disabled", u.username)
    s.commit()
    return redirect(url_for("ops.admin"))


@bp.post("/admin/users/<int:user_id>/token")
@roles_required("ops")
def token(user_id: int) -> Any:
    s = db.session()
    u = s.get(wm.User, user_id)
    if u is None:
        abort(404)
    secret = issue_token(s, u, request.form.get("label", "")[:128], _now())
    _audit("token issued", u.username)
    s.commit()
    # shown once, on this answer only; never stored in clear
    return _admin_page(token={"user": u.username, "value": secret})


@bp.get("/audit/")
@roles_required("ops")
def audit() -> Any:
    s = db.session()
    page = max(1, request.args.get("page", 1, type=int) or 1)
    q = select(m.AuditLog)
    user = request.args.get("user", "").strip()
    action = request.args.get("action", "").strip()
    if user:
        q = q.where(m.AuditLog.user == user)
    if action:
        q = q.where(m.AuditLog.action == action)
    rows = s.scalars(
        q.order_by(m.AuditLog.id.desc()).offset((page - 1) * AUDIT_PAGE).limit(AUDIT_PAGE + 1)
    ).all()
    return render_template(
        "ops/audit.html",
        rows=rows[:AUDIT_PAGE],
        page=page,
        more=len(rows) > AUDIT_PAGE,
        user=user,
        action=action,
    )


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
