"""Lab coordinator pages: the day's boxes from the published plan, status changes, day sheets."""

from __future__ import annotations

import csv
import io
import re

import openpyxl
from sqlalchemy import func, select

from scheduler.replan.core import published
from scheduler.store import models as m
from tests.webui.conftest import token_of


def _planned(app, lab: str) -> set[str]:
    with app.app_context():
        from webui import db

        s = db.session()
        pub = published(s)
        return set(
            s.scalars(
                select(m.PlanRow.batch_id).where(
                    m.PlanRow.plan_id == pub.id, m.PlanRow.lab_id == lab
                )
            )
        )


def _shown(html: str) -> set[str]:
    return set(re.findall(r'<tr data-batch="([^"]+)"', html))


def test_schedule_shows_the_boxes_the_plan_sends_here(app, as_role, lab_ids):
    c = as_role("lab")
    planned = _planned(app, lab_ids[0])
    both = _shown(c.get(f"/lab/{lab_ids[0]}/?day=today").text) | _shown(
        c.get(f"/lab/{lab_ids[0]}/?day=tomorrow").text
    )
    assert planned and both <= planned
    # every planned box whose slots are today or tomorrow is listed
    assert len(both) >= 0.9 * len(planned)


def test_chart_load_never_exceeds_capacity(as_role, lab_ids):
    html = as_role("lab").get(f"/lab/{lab_ids[0]}/").text
    caps = [int(x) for x in re.findall(r'data-cap="(\d+)"', html)]
    loads = [int(x) for x in re.findall(r'data-load="(\d+)"', html)]
    assert caps and len(caps) == len(loads)
    assert all(load <= cap for load, cap in zip(loads, caps, strict=True))


def test_mark_received_is_audited_and_asks_for_a_replan(app, as_role, lab_ids):
    c = as_role("lab")
    page = c.get(f"/lab/{lab_ids[0]}/").text
    batch = sorted(_shown(page))[0]
    r = c.post(
        f"/lab/{lab_ids[0]}/boxes/{batch}",
        data={"csrf_token": token_of(c, f"/lab/{lab_ids[0]}/"), "action": "received"},
        follow_redirects=True,
    )
    assert "marked received" in r.text
    with app.app_context():
        from webui import db

        s = db.session()
        assert s.get(m.Batch, batch).status == "received"
        assert s.scalar(select(func.count()).where(m.AuditLog.target == batch)) == 1
        assert s.get(m.Setting, "replan_request") is not None
    # a box does not go back
    r = c.post(
        f"/lab/{lab_ids[0]}/boxes/{batch}",
        data={"csrf_token": token_of(c, f"/lab/{lab_ids[0]}/"), "action": "received"},
        follow_redirects=True,
    )
    r = c.post(
        f"/lab/{lab_ids[0]}/boxes/{batch}",
        data={"csrf_token": token_of(c, f"/lab/{lab_ids[0]}/"), "action": "planned"},
        follow_redirects=True,
    )
    assert "Unknown action" in r.text


def test_lab_status_forms_check_their_values(app, as_role, lab_ids):
    c = as_role("lab")
    url = f"/lab/{lab_ids[0]}/status"
    tok = token_of(c, f"/lab/{lab_ids[0]}/")
    for bad in (
        {"kind": "capacity", "capacity_per_hour": "-5"},
        {"kind": "capacity", "capacity_per_hour": "lots"},
        {"kind": "outage", "outage_from": "2022-01-09T12:00", "outage_to": "2022-01-09T10:00"},
        {"kind": "outage", "outage_from": "soon", "outage_to": "later"},
        {"kind": "nonsense"},
    ):
        r = c.post(url, data={"csrf_token": tok, **bad}, follow_redirects=True)
        assert r.status_code == 200 and "flash-error" in r.text, bad
    with app.app_context():
        from webui import db

        assert db.session().scalar(select(func.count()).select_from(m.LabStatusChange)) == 0
    r = c.post(
        url,
        data={"csrf_token": tok, "kind": "capacity", "capacity_per_hour": "40"},
        follow_redirects=True,
    )
    assert "Saved" in r.text and "40 tubes/hour" in r.text
    r = c.post(
        url,
        data={
            "csrf_token": tok,
            "kind": "outage",
            "outage_from": "2022-01-09T12:00",
            "outage_to": "2022-01-09T14:00",
        },
        follow_redirects=True,
    )
    assert "Saved" in r.text


def test_day_sheet_csv_and_xlsx_hold_the_same_rows(as_role, lab_ids):
    c = as_role("lab")
    shown = _shown(c.get(f"/lab/{lab_ids[0]}/").text)
    rows = list(
        csv.reader(io.StringIO(c.get(f"/lab/{lab_ids[0]}/sheet.csv").data.decode("utf-8-sig")))
    )
    ws = openpyxl.load_workbook(io.BytesIO(c.get(f"/lab/{lab_ids[0]}/sheet.xlsx").data)).active
    xrows = [[("" if v is None else str(v)) for v in r] for r in ws.iter_rows(values_only=True)]
    assert rows[0][0] == "batch_id" and rows == xrows
    assert {r[0] for r in rows[1:]} == shown


def test_other_labs_are_forbidden(as_role, lab_ids):
    c = as_role("lab")
    other = lab_ids[1]
    assert c.get(f"/lab/{other}/").status_code == 403
    assert c.get(f"/lab/{other}/sheet.csv").status_code == 403
    tok = token_of(c, f"/lab/{lab_ids[0]}/")
    assert (
        c.post(f"/lab/{other}/status", data={"csrf_token": tok, "kind": "normal"}).status_code
        == 403
    )
    # a box planned elsewhere cannot be marked through this lab
    ops_page = as_role("ops").get(f"/lab/{other}/").text
    foreign = sorted(_shown(ops_page))
    if foreign:
        r = c.post(
            f"/lab/{lab_ids[0]}/boxes/{foreign[0]}", data={"csrf_token": tok, "action": "received"}
        )
        assert r.status_code == 404
    assert as_role("county").get(f"/lab/{lab_ids[0]}/").status_code == 403


def test_printable_and_chinese(as_role, lab_ids):
    c = as_role("lab")
    assert "printable" in c.get(f"/lab/{lab_ids[0]}/?print=1").text
    assert "待接收样本" in c.get(f"/lab/{lab_ids[0]}/?lang=zh").text
