"""Lab coordinators: their lab's schedule for today and tomorrow, box and lab status, day sheets.

Boxes come from the published plan (rows at this lab) and from the boxes
the lab already holds (received, processing). Every change goes through
``scheduler.replan.events``, which audits it and asks for a re-plan.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    session,
    url_for,
)
from markupsafe import Markup, escape
from sqlalchemy import select

from scheduler.domain import AT_LAB_STATES, PROCESSING, RECEIVED, RESULTED
from scheduler.ingest.upload import FORMULA_START as INGEST_FORMULA_START
from scheduler.replan import events
from scheduler.spec_io import parse_ts
from scheduler.store import models as m
from scheduler.store import rules
from webui import db
from webui.auth import check_lab, principal, roles_required
from webui.clock import now as _now
from webui.labels import refusal, status_labels
from webui.labels import say as _t
from webui.views import planview
from webui.views.planview import VersionInfo

bp = Blueprint("lab", __name__, url_prefix="/lab")
#: the states a lab marks its boxes with (pickup is the courier's)
MARKS = (RECEIVED, PROCESSING, RESULTED)
ACTIONS = (*MARKS, "positive")
SHEET_COLUMNS = (
    "batch_id",
    "site_id",
    "site_name",
    "tubes",
    "priority",
    "isolation",
    "status",
    "arrival",
    "slots",
    "result_expected",
    "result_due",
)
#: the session key of the last scan's outcome, shown once beside the scan field
SCAN_KEY = "lab_scan"
#: what a spreadsheet may read as a formula: the ingest's list, and a leading tab or CR
FORMULA_START = (*INGEST_FORMULA_START, "\t", "\r")


def _lab_or_404(lab_id: str) -> m.Lab:
    check_lab(lab_id)
    lab = db.session().get(m.Lab, lab_id)
    if lab is None:
        abort(404)
    return lab


def _day() -> tuple[str, datetime, datetime]:
    which = request.args.get("day", "today")
    if which not in ("today", "tomorrow"):
        which = "today"
    start = _now().replace(hour=0, minute=0, second=0, microsecond=0)
    if which == "tomorrow":
        start += timedelta(days=1)
    return which, start, start + timedelta(days=1)


def _order(row: dict[str, Any]) -> tuple[datetime, str]:
    slots: list[tuple[datetime, int]] = row["slots"]
    return (slots[0][0] if slots else datetime.max, str(row["batch_id"]))


def _rows(
    lab: m.Lab, version: VersionInfo | None, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """The lab's boxes with a first slot in [start, end), and today those it holds."""
    s = db.session()
    planned = planview.at_lab(s, version.id, lab.lab_id, start, end) if version else {}
    held = s.scalars(
        select(m.Batch.batch_id).where(
            m.Batch.pinned_lab == lab.lab_id, m.Batch.status.in_(AT_LAB_STATES)
        )
    ).all()
    # a box the lab holds is today's work, whatever its planned slots; so is one it
    # changed a moment ago (resulted, say), while that change may be undone
    today = start <= _now() < end
    undo = events.undoable(s, now=_now()) if today else {}
    recent = (
        s.scalars(
            select(m.Batch.batch_id).where(
                m.Batch.pinned_lab == lab.lab_id, m.Batch.batch_id.in_(list(undo))
            )
        ).all()
        if undo
        else []
    )
    extra = [bid for bid in {*held, *recent} if bid not in planned] if today else []
    outcomes = dict(planned)
    if version and extra:
        outcomes.update(planview.of_batches(s, version.id, extra))
    ids = set(planned) | set(extra)
    if not ids:
        return []
    b_ = m.Batch
    batches = {
        r.batch_id: (r, r.name)
        for r in s.execute(
            select(
                b_.batch_id,
                b_.site_id,
                b_.tubes,
                b_.people,
                b_.priority,
                b_.isolation,
                b_.status,
                b_.deadline,
                m.Site.name,
            )
            .join(m.Site, m.Site.site_id == b_.site_id)
            .where(b_.batch_id.in_(ids))
        )
    }
    out = []
    for bid in ids:
        if bid not in batches:
            continue
        b, site_name = batches[bid]
        oc = outcomes.get(bid)
        at_this_lab = oc is not None and oc.lab_id == lab.lab_id
        if bid not in planned and b.status not in AT_LAB_STATES and bid not in undo:
            continue
        change = undo.get(bid)
        out.append(
            {
                "batch_id": bid,
                "site_id": b.site_id,
                "site_name": site_name,
                "tubes": b.tubes,
                "priority": b.priority,
                "isolation": b.isolation,
                "status": b.status,
                "arrival": oc.arrival_at if oc and at_this_lab else None,
                "slots": oc.slots if oc and at_this_lab else [],
                "slots_text": ", ".join(
                    f"{at:%H:%M}×{k}" for at, k in (oc.slots if oc and at_this_lab else [])
                ),
                "result_expected": oc.result_at if oc and oc.lab_id else None,
                "late": (not oc.on_time) if oc and oc.lab_id else None,
                "result_due": oc.due_at if oc else b.deadline,
                "pooled": (b.people or b.tubes) > b.tubes,
                # the marks ahead of the box (marking its own state again changes nothing)
                "next": [a for a in MARKS if a != b.status and rules.may_move(b.status, a)],
                # the undo of its last status change: back to which state, until when
                "undo": (change.previous, change.at + rules.UNDO_WINDOW) if change else None,
            }
        )
    out.sort(key=_order)
    return out


def _chart(
    lab: m.Lab, version: VersionInfo | None, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """Per slot of the day: planned tubes and capacity (after backlog and outages)."""
    if version is None:
        return []
    return planview.lab_load(db.session(), version.id, lab, start, end)


def _svg(points: list[dict[str, Any]]) -> dict[str, Any]:
    """The load chart: bar geometry, and its SVG drawn here.

    Drawn in Python, not in the template: a day's 24 bars are some 400 template
    expressions, most of a small lab's page render, for markup that is the same
    shape every time.
    """
    if not points:
        return {"bars": [], "w": 0, "h": 0, "top": 0, "svg": Markup("")}
    top = max(1, max(max(p["load"], p["cap"]) for p in points))
    w, h, pad = 24 * len(points) + 40, 180, 20
    bars = []
    for i, p in enumerate(points):
        x = 36 + i * 24
        lh = (h - 2 * pad) * p["load"] / top
        ch = (h - 2 * pad) * p["cap"] / top
        bars.append(
            {
                "x": x,
                "load_y": h - pad - lh,
                "load_h": lh,
                "cap_y": h - pad - ch,
                "cap_h": ch,
                "label": p["at"].strftime("%H"),
                "load": p["load"],
                "cap": p["cap"],
                "over": p["load"] > p["cap"],
            }
        )
    cap_word, load_word, title = (
        escape(_t("lab.cap_short")),
        escape(_t("lab.load_short")),
        escape(_t("lab.load_title")),
    )
    parts = [
        f'<svg preserveAspectRatio="xMinYMid meet" viewBox="0 0 {w} {h}" role="img" '
        f'aria-label="{title}" data-testid="load-chart">',
        f'<text x="2" y="24" font-size="13" fill="#5b6570">{top}</text>',
    ]
    for b in bars:
        fill = "#c62828" if b["over"] else "#0b5cad"
        parts.append(
            f'<rect x="{b["x"]}" y="{b["cap_y"]:.1f}" width="20" height="{b["cap_h"]:.1f}" '
            f'fill="#c9daee" data-cap="{b["cap"]}"><title>{b["label"]}:00 {cap_word} '
            f"{b['cap']}</title></rect>"
            f'<rect x="{b["x"] + 4}" y="{b["load_y"]:.1f}" width="12" '
            f'height="{b["load_h"]:.1f}" fill="{fill}" data-load="{b["load"]}"><title>'
            f"{b['label']}:00 {load_word} {b['load']} / {b['cap']}</title></rect>"
            f'<text x="{b["x"] + 10}" y="{h - 6}" font-size="13" text-anchor="middle" '
            f'fill="#5b6570">{b["label"]}</text>'
        )
    parts.append("</svg>")
    return {"bars": bars, "w": w, "h": h, "top": top, "svg": Markup("".join(parts))}


def _scanned_first(rows: list[dict[str, Any]], scanned: str) -> list[dict[str, Any]]:
    """The box just received by a scan on top, so the person at reception sees it."""
    top = [r for r in rows if r["batch_id"] == scanned]
    return top + [r for r in rows if r["batch_id"] != scanned]


@bp.get("/<lab_id>/")
@roles_required("lab", "ops")
def schedule(lab_id: str) -> Any:
    lab = _lab_or_404(lab_id)
    which, start, end = _day()
    version = planview.current(db.session())
    points = _chart(lab, version, start, end)
    scanned = request.args.get("scanned", "")
    return render_template(
        "lab/schedule.html",
        lab=lab,
        day=which,
        day_start=start,
        now=_now(),
        scanned=scanned,
        scan=session.pop(SCAN_KEY, None),
        rows=_scanned_first(_rows(lab, version, start, end), scanned),
        chart=_svg(points),
        version=version,
        status_labels=status_labels(),
        action_labels={a: _t(f"lab.action.{a}") for a in MARKS},
        outages=db.session()
        .scalars(
            select(m.Outage)
            .where(m.Outage.lab_id == lab.lab_id, m.Outage.end > _now())
            .order_by(m.Outage.start)
        )
        .all(),
        printable=request.args.get("print") == "1",
    )


def _planned_lab(b: m.Batch) -> str | None:
    """The box's lab in the published plan."""
    s = db.session()
    version = planview.current(s)
    oc = planview.of_batch(s, version.id, b.batch_id) if version is not None else None
    return oc.lab_id if oc is not None else None


def _lab_of(b: m.Batch) -> str | None:
    """Where a box goes: its pinned lab, else its lab in the published plan."""
    return b.pinned_lab if b.pinned_lab is not None else _planned_lab(b)


def _box_here(lab: m.Lab, batch_id: str) -> m.Batch:
    """One of this lab's boxes: pinned here, or planned here (the plan may not yet know of a
    pin, and the coordinator has the box in hand)."""
    b = db.session().get(m.Batch, batch_id)
    if b is None:
        abort(404)
    if lab.lab_id not in (b.pinned_lab, _planned_lab(b)):
        abort(403)
    return b


@bp.post("/<lab_id>/boxes/<batch_id>")
@roles_required("lab", "ops")
def box(lab_id: str, batch_id: str) -> Any:
    lab = _lab_or_404(lab_id)
    action = request.form.get("action", "")
    day = request.args.get("day", "today")
    back = redirect(url_for("lab.schedule", lab_id=lab.lab_id, day=day))
    s = db.session()
    _box_here(lab, batch_id)
    if action == RESULTED and request.form.get("confirm") != "1":
        # a result reported is the end of a box's day: asked once more, on a page of its
        # own, so that it holds without JavaScript
        return render_template(
            "lab/confirm.html",
            lab=lab,
            batch_id=batch_id,
            day=day,
            minutes=rules.UNDO_WINDOW_MINUTES,
        )
    who = principal()
    assert who is not None
    try:
        if action == "positive":
            retest = events.positive_pool(s, batch_id, now=_now(), user=who.username)
            flash(_t("lab.retest", batch=retest.batch_id, tubes=retest.tubes), "ok")
        elif action in MARKS:
            events.batch_status(
                s, batch_id, action, now=_now(), user=who.username, lab_id=lab.lab_id
            )
            flash(_t("lab.marked", batch=batch_id, status=_t(f"common.status.{action}")), "ok")
        else:
            flash(_t("lab.bad_action"), "error")
            return back
        s.commit()
    except events.EventError as exc:
        s.rollback()
        flash(refusal(exc), "error")
    return back


@bp.post("/<lab_id>/boxes/<batch_id>/undo")
@roles_required("lab", "ops")
def undo(lab_id: str, batch_id: str) -> Any:
    lab = _lab_or_404(lab_id)
    day = request.args.get("day", "today")
    s = db.session()
    _box_here(lab, batch_id)
    who = principal()
    assert who is not None
    try:
        undone = events.undo_batch_status(s, batch_id, now=_now(), user=who.username)
        s.commit()
        status = undone.previous or ""
        flash(_t("lab.undone", batch=batch_id, status=_t(f"common.status.{status}")), "ok")
    except events.EventError as exc:
        s.rollback()
        flash(refusal(exc), "error")
    return redirect(url_for("lab.schedule", lab_id=lab.lab_id, day=day))


def _scan_refusal(lab: m.Lab, code: str) -> str | None:
    """Why a scanned code is not one of this lab's boxes, or ``None`` when it is."""
    if not code:
        return _t("lab.scan_empty")
    b = db.session().get(m.Batch, code)
    if b is None:
        return _t("lab.scan_unknown", code=code)
    elsewhere = _lab_of(b)
    if elsewhere is None:
        return _t("lab.scan_unplanned", code=code)
    if elsewhere != lab.lab_id:
        return _t("lab.scan_other_lab", code=code, lab=elsewhere)
    return None


@bp.post("/<lab_id>/scan")
@roles_required("lab", "ops")
def scan(lab_id: str) -> Any:
    """A box's label scanned at reception (a USB scanner types its id and Enter)."""
    lab = _lab_or_404(lab_id)
    # a scanner may send a trailing CR or tab; the id is at most a column's width
    code = request.form.get("code", "").strip()[:96]
    s = db.session()
    who = principal()
    assert who is not None
    why = _scan_refusal(lab, code)
    if why is None:
        try:
            events.receive_scanned(s, code, now=_now(), user=who.username, lab_id=lab.lab_id)
            s.commit()
        except events.EventError as exc:
            s.rollback()
            why = _t("lab.scan_refused", reason=refusal(exc))
    # said beside the scan field, not among the page's other messages: the person at
    # reception looks there, and a refusal must not be missed
    if why is not None:
        session[SCAN_KEY] = {"ok": False, "text": why}
        return redirect(url_for("lab.schedule", lab_id=lab.lab_id, _anchor="scan"))
    session[SCAN_KEY] = {"ok": True, "text": _t("lab.scan_ok", batch=code, time=f"{_now():%H:%M}")}
    return redirect(url_for("lab.schedule", lab_id=lab.lab_id, scanned=code, _anchor="scan"))


@bp.post("/<lab_id>/status")
@roles_required("lab", "ops")
def lab_status(lab_id: str) -> Any:
    lab = _lab_or_404(lab_id)
    day = request.args.get("day", "today")
    back = redirect(url_for("lab.schedule", lab_id=lab.lab_id, day=day))
    kind = request.form.get("kind", "")
    s = db.session()
    who = principal()
    assert who is not None
    try:
        if kind == "capacity":
            text = request.form.get("capacity_per_hour", "").strip()
            # ASCII digits only: str.isdigit() also takes "²", which int() refuses; the
            # length only keeps int() small, the limit is the service's rule
            if not re.fullmatch(r"[0-9]{1,18}", text):
                raise events.EventError(_t("lab.bad_capacity", hi=rules.MAX_CAPACITY_PER_HOUR))
            events.lab_status(
                s,
                lab.lab_id,
                now=_now(),
                user=who.username,
                capacity_per_hour=int(text),
                note=request.form.get("note", "")[:500],
            )
        elif kind == "outage":
            try:
                start = parse_ts(request.form.get("outage_from", "").replace(" ", "T"))
                end = parse_ts(request.form.get("outage_to", "").replace(" ", "T"))
            except ValueError as exc:
                raise events.EventError(_t("lab.bad_time")) from exc
            events.lab_status(
                s,
                lab.lab_id,
                now=_now(),
                user=who.username,
                outage_from=start,
                outage_to=end,
                note=request.form.get("note", "")[:500],
            )
        elif kind == "normal":
            events.lab_status(s, lab.lab_id, now=_now(), user=who.username, back_to_normal=True)
        else:
            raise events.EventError(_t("lab.bad_action"))
        s.commit()
        flash(_t("lab.status_saved"), "ok")
    except events.EventError as exc:
        s.rollback()
        flash(refusal(exc), "error")
    return back


def _cell(v: object) -> str:
    text = "" if v is None else str(v)
    # a spreadsheet must never read a cell as a formula
    return "'" + text if text.startswith(FORMULA_START) else text


#: a sheet's cell before it is written: text, a count, or a time
Cell = str | int | datetime | None
SHEET_TIME = "%Y-%m-%d %H:%M"


def _sheet(lab: m.Lab) -> tuple[list[list[Cell]], str]:
    """The day's boxes, one row each, counts and times kept as such for the spreadsheet."""
    _, start, end = _day()
    rows = _rows(lab, planview.current(db.session()), start, end)
    table: list[list[Cell]] = [list(SHEET_COLUMNS)]
    for r in rows:
        table.append(
            [
                r["batch_id"],
                r["site_id"],
                r["site_name"],
                int(r["tubes"]),
                r["priority"],
                "yes" if r["isolation"] else "no",
                r["status"],
                r["arrival"],
                " ".join(f"{at:%H:%M}x{k}" for at, k in r["slots"]),
                r["result_expected"],
                r["result_due"],
            ]
        )
    return table, f"{lab.lab_id}-{start:%Y-%m-%d}"


def _text(v: Cell) -> str:
    return v.strftime(SHEET_TIME) if isinstance(v, datetime) else _cell(v)


@bp.get("/<lab_id>/sheet.csv")
@roles_required("lab", "ops")
def sheet_csv(lab_id: str) -> Response:
    table, name = _sheet(_lab_or_404(lab_id))
    buf = io.StringIO()
    csv.writer(buf).writerows([_text(v) for v in row] for row in table)
    return send_file(
        io.BytesIO(("\ufeff" + buf.getvalue()).encode("utf-8")),
        mimetype="text/csv",
        as_attachment=True,
        download_name=f"{name}.csv",
    )


@bp.get("/<lab_id>/sheet.xlsx")
@roles_required("lab", "ops")
def sheet_xlsx(lab_id: str) -> Response:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    table, name = _sheet(_lab_or_404(lab_id))
    wb = Workbook()
    ws = wb.active
    tubes = SHEET_COLUMNS.index("tubes")
    for row in table:
        # counts and times as the spreadsheet's own numbers and dates, so that they sum
        # and sort; text guarded against formulas
        ws.append([v if isinstance(v, int | datetime) else _cell(v) for v in row])
        for cell in ws[ws.max_row]:
            if isinstance(cell.value, datetime):
                cell.number_format = "yyyy-mm-dd hh:mm"
    # the day's totals under the boxes: how many, and their tubes
    total: list[Cell] = [f"{_t('lab.total')} ({len(table) - 1})"] + [None] * (
        len(SHEET_COLUMNS) - 1
    )
    total[tubes] = sum(v for r in table[1:] if isinstance(v := r[tubes], int))
    ws.append(total)
    for cell in ws[ws.max_row]:
        cell.font = Font(bold=True)
    ws.freeze_panes = "A2"
    out = io.BytesIO()
    wb.save(out)
    out.seek(0)
    return send_file(
        out,
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        as_attachment=True,
        download_name=f"{name}.xlsx",
    )


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
