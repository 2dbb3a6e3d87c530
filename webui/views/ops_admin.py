"""Ops administration of labs and sites: edit a lab's capacity, hours and isolation clearance.

A capacity change is a lab status event (``events.lab_status``), so it is
recorded as the lab's own report would be. Hours and isolation clearance are
set by ``events.lab_settings``. Both check their rules (``scheduler.store.rules``)
and this form only reads the numbers and shows what a rule refused.
"""

from __future__ import annotations

from typing import Any

from flask import (
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import func, select

from scheduler.replan import events
from scheduler.store import models as m
from webui import db
from webui.auth import principal, roles_required
from webui.clock import now as _now
from webui.labels import refusal
from webui.labels import say as _t
from webui.views.ops_bp import bp

SITES_PAGE = 200


def _int(raw: str | None, what: str) -> tuple[int | None, str | None]:
    """Parse a whole number: (value, None) or (None, message)."""
    text = (raw or "").strip()
    try:
        return int(text), None
    except ValueError:
        return None, _t("ops.bad_int", what=what, value=text[:20])


def parse_lab_form(form: Any) -> tuple[dict[str, Any], list[str]]:
    """The edit form's values, or the messages that refuse it."""
    errors: list[str] = []
    values: dict[str, Any] = {}
    for name, label in (
        ("capacity_per_hour", _t("ops.cap")),
        ("open_hour", _t("ops.open_hour")),
        ("close_hour", _t("ops.close_hour")),
    ):
        value, err = _int(form.get(name), label)
        if err:
            errors.append(err)
        else:
            values[name] = value
    values["isolation_ok"] = form.get("isolation_ok") == "1"
    return values, errors


@bp.route("/admin/labs/<lab_id>", methods=["GET", "POST"])
@roles_required("ops")
def lab_edit(lab_id: str) -> Any:
    s = db.session()
    lab = s.get(m.Lab, lab_id)
    if lab is None:
        abort(404)
    if request.method == "GET":
        return render_template("ops/lab_edit.html", lab=lab, errors=[], form=None)
    values, errors = parse_lab_form(request.form)
    if errors:
        return render_template("ops/lab_edit.html", lab=lab, errors=errors, form=request.form), 400
    who = principal()
    user = who.username if who else ""
    now = _now()
    note = request.form.get("note", "").strip()[:500]
    changed: list[str] = []
    try:
        if values["capacity_per_hour"] != lab.capacity_per_hour:
            events.lab_status(
                s,
                lab_id,
                now=now,
                user=user,
                capacity_per_hour=values["capacity_per_hour"],
                note=note or "ops admin",
            )
            changed.append("capacity_per_hour")
        changed += events.lab_settings(
            s,
            lab_id,
            now=now,
            user=user,
            open_hour=values["open_hour"],
            close_hour=values["close_hour"],
            isolation_ok=values["isolation_ok"],
            note=note,
        )
        s.commit()
    except events.EventError as exc:
        s.rollback()
        return render_template(
            "ops/lab_edit.html", lab=lab, errors=[refusal(exc)], form=request.form
        ), 400
    if changed:
        flash(_t("ops.lab_saved", lab=lab_id), "ok")
    else:
        flash(_t("ops.lab_unchanged", lab=lab_id), "info")
    return redirect(url_for("ops.admin") + "#labs")


@bp.get("/admin/sites/")
@roles_required("ops")
def sites() -> Any:
    s = db.session()
    page = max(1, request.args.get("page", 1, type=int) or 1)
    county = request.args.get("county", "").strip()
    q = select(m.Site)
    total_q = select(func.count()).select_from(m.Site)
    if county:
        q = q.where(m.Site.county_code == county)
        total_q = total_q.where(m.Site.county_code == county)
    rows = s.scalars(
        q.order_by(m.Site.site_id).offset((page - 1) * SITES_PAGE).limit(SITES_PAGE + 1)
    ).all()
    shown = rows[:SITES_PAGE]
    counts = dict(
        s.execute(
            select(m.Batch.site_id, func.count())
            .where(m.Batch.site_id.in_([x.site_id for x in shown]))
            .group_by(m.Batch.site_id)
        ).all()
    )
    return render_template(
        "ops/sites.html",
        sites=shown,
        counts=counts,
        total=s.scalar(total_q),
        page=page,
        more=len(rows) > SITES_PAGE,
        county=county,
        counties=s.scalars(select(m.County).order_by(m.County.code)).all(),
    )
