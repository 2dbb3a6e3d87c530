"""County offices: upload sample counts (check first, then store), their history, where boxes go.

A file is checked by ``scheduler.ingest.upload`` in dry-run mode and kept
server-side under a random token until the office commits it or an hour
passes; the browser never sends it twice and it is never served back. A
file over ``UPLOAD_JOB_BYTES`` is stored by a background job (``webui.upload_jobs``,
the API's too).
"""

from __future__ import annotations

import csv
import io
import os
import secrets
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    session,
    url_for,
)
from sqlalchemy import select

from scheduler.domain import RESULTED
from scheduler.ingest.format import COLUMNS, COLUMNS_ZH
from scheduler.ingest.reader import MAX_BYTES, UnreadableFile, read_table
from scheduler.ingest.upload import UploadReport, safe_name, upload
from scheduler.store import models as m
from webui import db
from webui import models as wm
from webui.auth import check_county, principal, roles_required
from webui.clock import now as _now
from webui.jobs import job_dict
from webui.labels import current_lang, translate
from webui.labels import say as _t
from webui.labels.county import count_key
from webui.overload import uploads_lane
from webui.settings import ingest_settings
from webui.upload_jobs import runs_as_job, submit_upload
from webui.views import county_labels, planview

bp = Blueprint("county", __name__, url_prefix="/county")
PENDING_SECONDS = 3600
PREVIEW_ROWS = 300


def counted(noun: str, n: int) -> str:
    """``n`` and its noun in the request's language: "1 row", "2 rows"."""
    return _t(count_key(noun, n), n=n)


def bilingual(key: str, **values: object) -> tuple[str, str]:
    """A label in the page's language, then in the other: printed labels carry both."""
    lang = current_lang()
    return translate(key, lang, **values), translate(key, "en" if lang == "zh" else "zh", **values)


@bp.context_processor
def _helpers() -> dict[str, object]:
    return {"counted": counted, "bilingual": bilingual, "count_key": count_key}


def _pending_dir() -> Path:
    d = Path(current_app.instance_path) / "pending-uploads"
    d.mkdir(parents=True, exist_ok=True)
    # files nobody committed within the hour go
    for f in d.iterdir():
        if time.time() - f.stat().st_mtime > PENDING_SECONDS:
            f.unlink(missing_ok=True)
    return d


def _max_bytes() -> int:
    """The largest file an office may send (``UPLOAD_MAX_BYTES``, at most the reader's limit)."""
    return min(int(current_app.config.get("UPLOAD_MAX_BYTES", MAX_BYTES)), MAX_BYTES)


def _county_or_404(code: str) -> m.County:
    check_county(code)
    county = db.session().get(m.County, code)
    if county is None:
        abort(404)
    return county


@bp.get("/<code>/")
@roles_required("county", "ops")
def home(code: str) -> Any:
    county = _county_or_404(code)
    s = db.session()
    uploads = s.scalars(
        select(m.Upload).where(m.Upload.county_code == code).order_by(m.Upload.id.desc()).limit(50)
    ).all()
    return render_template(
        "county/home.html",
        county=county,
        uploads=uploads,
        boxes=_boxes(code),
        max_mb=f"{_max_bytes() / 2**20:g}",
    )


def _boxes(code: str) -> list[dict[str, Any]]:
    """The county's open boxes: where the published plan sends them and when results come."""
    s = db.session()
    version = planview.current(s)
    plan_id = version.id if version is not None else -1
    rows = s.execute(
        select(m.Batch, m.Site.name, m.PlanOutcome)
        .join(m.Site, m.Site.site_id == m.Batch.site_id)
        .outerjoin(
            m.PlanOutcome,
            (m.PlanOutcome.plan_id == plan_id) & (m.PlanOutcome.batch_id == m.Batch.batch_id),
        )
        .where(m.Site.county_code == code, m.Batch.status != RESULTED)
        .order_by(m.Batch.ready_at, m.Batch.batch_id)
    ).all()
    out = []
    for b, site_name, row in rows:
        oc = planview.Outcome.of(row) if row is not None else None
        lab = oc.lab_id if oc else None
        out.append(
            {
                "batch_id": b.batch_id,
                "site": site_name or b.site_id,
                "tubes": b.tubes,
                "priority": b.priority,
                "isolation": b.isolation,
                "status": b.status,
                "lab": lab,
                "arrival": oc.arrival_at if oc and lab else None,
                "result_at": oc.result_at if oc and lab else None,
                "due": oc.due_at if oc else b.deadline,
                "late": (not oc.on_time) if oc and lab else None,
            }
        )
    return out


@bp.get("/<code>/labels")
@roles_required("county", "ops")
def labels(code: str) -> Any:
    """A printable sheet of labels for the county's boxes not yet picked up."""
    county = _county_or_404(code)
    s = db.session()
    version = planview.current(s)
    day = county_labels.parse_day(request.args.get("day"))
    boxes = county_labels.labels(s, version.id, code, day) if version is not None else []
    return render_template(
        "county/labels.html", county=county, boxes=boxes, day=day, planned=version is not None
    )


@bp.post("/<code>/upload")
@roles_required("county", "ops")
def check(code: str) -> Any:
    _county_or_404(code)
    f = request.files.get("file")
    if f is None or not f.filename:
        flash(_t("county.no_file"), "error")
        return redirect(url_for("county.home", code=code))
    limit = _max_bytes()
    data = f.read(limit + 1)
    name = safe_name(f.filename)
    if len(data) > limit:
        flash(_t("county.too_large", mb=f"{limit / 2**20:g}"), "error")
        return redirect(url_for("county.home", code=code))
    who = principal()
    assert who is not None
    lane = uploads_lane(current_app._get_current_object())  # type: ignore[attr-defined]
    with lane.enter(request.environ):
        report = _checked(data, name, code, who.username)
    db.session().rollback()  # a dry run stores nothing
    return _preview_page(report, data, name, code)


def _checked(data: bytes, name: str, code: str, user: str) -> UploadReport:
    return upload(
        db.session(),
        data,
        name,
        code,
        user=user,
        now=_now(),
        mode="dry-run",
        settings=ingest_settings(current_app),
    )


def _preview_page(report: UploadReport, data: bytes, name: str, code: str) -> Any:
    """The checked file as a table, every bad cell marked; the file kept for its commit."""
    token = secrets.token_urlsafe(16)
    path = _pending_dir() / f"{token}.bin"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    pending = dict(session.get("pending_uploads", {}))
    pending[token] = {"name": name, "county": code, "size": len(data)}
    session["pending_uploads"] = dict(list(pending.items())[-5:])
    table, cols = _preview(data, name)
    errors_at: dict[tuple[int, str], list[str]] = {}
    general = []
    for e in report.errors:
        if e.row is not None and e.column:
            errors_at.setdefault((e.row, e.column), []).append(e.rule)
        else:
            general.append(e)
    warnings_at: dict[tuple[int, str], list[str]] = {}
    for e in report.warnings:
        if e.row is not None and e.column:
            warnings_at.setdefault((e.row, e.column), []).append(e.rule)
    rows_with_errors = {r for r, _ in errors_at} | {r for r, _ in warnings_at}
    shown = [r for r in table if r[0] in rows_with_errors]
    shown += [r for r in table if r[0] not in rows_with_errors][: max(0, PREVIEW_ROWS - len(shown))]
    shown.sort(key=lambda r: r[0])
    return render_template(
        "county/preview.html",
        county=db.session().get(m.County, code),
        report=report,
        token=token,
        filename=name,
        columns=cols,
        rows=shown,
        total_rows=len(table),
        errors_at=errors_at,
        warnings_at=warnings_at,
        general=general,
        cell_errors=sum(len(v) for v in errors_at.values()),
    )


def _preview(data: bytes, name: str) -> tuple[list[tuple[int, dict[str, str]]], list[str]]:
    try:
        df = read_table(data, name)
    except UnreadableFile:
        return [], list(COLUMNS)
    cols = [c for c in COLUMNS if c in df.columns]
    return [(int(str(i)), {c: str(r[c]) for c in cols}) for i, r in df.iterrows()], cols


@bp.post("/<code>/commit")
@roles_required("county", "ops")
def commit(code: str) -> Any:
    _county_or_404(code)
    token = request.form.get("token", "")
    pending = dict(session.get("pending_uploads", {}))
    meta = pending.pop(token, None)
    path = _pending_dir() / f"{token}.bin"
    if (
        meta is None
        or meta.get("county") != code
        or not token.replace("-", "").replace("_", "").isalnum()
        or not path.exists()
    ):
        flash(_t("county.expired"), "error")
        return redirect(url_for("county.home", code=code))
    session["pending_uploads"] = pending
    data = path.read_bytes()
    path.unlink(missing_ok=True)
    accept = request.form.get("accept_valid_rows") == "1"
    who = principal()
    assert who is not None
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if runs_as_job(app, len(data)):
        job = submit_upload(
            app,
            data,
            meta["name"],
            code,
            user=who.username,
            accept_valid_rows=accept,
        )
        flash(_t("county.job_started", job=job), "info")
        return redirect(url_for("county.home", code=code, job=job))
    s = db.session()
    with uploads_lane(app).enter(request.environ):
        report = upload(
            s,
            data,
            meta["name"],
            code,
            user=who.username,
            now=_now(),
            mode="commit",
            accept_valid_rows=accept,
            settings=ingest_settings(current_app),
        )
        s.commit()
    _flash_report(report.status, report.rows_stored, report.batches_created, len(report.errors))
    return redirect(url_for("county.home", code=code))


def _flash_report(status: str, rows: int, batches: int, errors: int) -> None:
    if status in ("stored", "partial"):
        flash(
            _t(
                "county.stored",
                rows=counted("row", rows),
                boxes=counted("new_box", batches),
                errors=counted("row", errors),
            ),
            "ok",
        )
    elif status == "duplicate":
        flash(_t("county.duplicate"), "info")
    else:
        flash(_t("county.rejected", problems=counted("problem", errors)), "error")


@bp.get("/<code>/jobs/<job_id>")
@roles_required("county", "ops")
def job(code: str, job_id: str) -> Any:
    _county_or_404(code)
    who = principal()
    rec = db.session().get(wm.Job, job_id)
    if (
        rec is None
        or rec.kind != "upload"
        or (who and who.role != "ops" and rec.user != who.username)
    ):
        abort(404)
    return jsonify(job_dict(rec))


@bp.get("/<code>/template.<fmt>")
@roles_required("county", "ops")
def template(code: str, fmt: str) -> Any:
    county = _county_or_404(code)
    site = _community_site(code)
    now = _now().replace(minute=0, second=0)
    example = {
        "county_code": code,
        "site_id": site.site_id if site else f"S{code}-0001",
        "site_name": site.name if site else f"{county.name} site 1",
        "lat": f"{site.lat:.5f}" if site else "34.0",
        "lon": f"{site.lon:.5f}" if site else "113.8",
        "window_start": now.strftime("%Y-%m-%dT%H:%M"),
        # an hour's window, past midnight when need be (23:00 used to end at 23:00: empty)
        "window_end": (now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "category": "community",
        "pool_size": "10",
        "people": "120",
        "tubes": "12",
        "due_at": "",
    }
    header = list(COLUMNS) if current_lang() == "en" else [COLUMNS_ZH[c] for c in COLUMNS]
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(header)
        w.writerow([example[c] for c in COLUMNS])
        data = ("\ufeff" + buf.getvalue()).encode("utf-8")
        mime = "text/csv; charset=utf-8"
    elif fmt == "xlsx":
        from openpyxl import Workbook

        wb = Workbook()
        ws = wb.active
        ws.append(header)
        ws.append([example[c] for c in COLUMNS])
        out = io.BytesIO()
        wb.save(out)
        data = out.getvalue()
        mime = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    else:
        abort(404)
    return send_file(
        io.BytesIO(data),
        mimetype=mime,
        as_attachment=True,
        download_name=f"natsched-upload-template-{code}.{fmt}",
    )


def _community_site(code: str) -> m.Site | None:
    """A site of the county that samples the community, for the template's example row.

    The example is typed ``community`` (10:1 pooling, routine), so its site must be
    one: a fever clinic or an isolation point there would teach a wrong row. A site
    is known as one by its stored counts, else by its boxes (routine, not isolated).
    """
    s = db.session()
    by_count = (
        select(m.Site)
        .join(m.SampleCount, m.SampleCount.site_id == m.Site.site_id)
        .where(m.SampleCount.county_code == code, m.SampleCount.category == "community")
        .limit(1)
    )
    by_box = (
        select(m.Site)
        .join(m.Batch, m.Batch.site_id == m.Site.site_id)
        .where(m.Site.county_code == code, m.Batch.priority == "routine", ~m.Batch.isolation)
        .limit(1)
    )
    anyone = select(m.Site).where(m.Site.county_code == code).order_by(m.Site.site_id).limit(1)
    return s.scalar(by_count) or s.scalar(by_box) or s.scalar(anyone)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
