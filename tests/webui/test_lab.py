"""Lab coordinator pages: the day's boxes from the published plan, status changes, day sheets."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta

import openpyxl
from sqlalchemy import func, select

from scheduler.store import models as m
from tests.support.lab import first_slots, shown
from tests.support.web import NOW, token_of


def _first_slots(app, lab: str) -> dict[str, datetime]:
    return first_slots(app, lab)


def _shown(html: str) -> set[str]:
    return set(shown(html))


def test_schedule_shows_the_boxes_the_plan_sends_here(app, as_role, lab_ids):
    c = as_role("lab")
    first = _first_slots(app, lab_ids[0])
    # the clock is NOW (2022-01-09 08:00); no box is held by a lab in this world
    today, tomorrow = NOW.date(), NOW.date() + timedelta(days=1)
    expected = {
        day: {bid for bid, at in first.items() if at.date() == date}
        for day, date in (("today", today), ("tomorrow", tomorrow))
    }
    # the demo's boxes are collected on its first day: tomorrow's list is empty
    assert expected["today"] and not expected["tomorrow"]
    assert expected["today"] == set(first)
    for day, boxes in expected.items():
        # exactly the boxes whose first slot is on that day
        assert _shown(c.get(f"/lab/{lab_ids[0]}/?day={day}").text) == boxes, day


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
    assert 'value="received"' not in r.text.split(f'data-batch="{batch}"')[1].split("</tr>")[0]
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
    # the message is in the user's language
    r = c.post(
        url + "?lang=zh",
        data={
            "csrf_token": tok,
            "kind": "outage",
            "outage_from": "2022-01-09T12:00",
            "outage_to": "2022-01-09T10:00",
        },
        follow_redirects=True,
    )
    assert "停机结束时间须晚于开始时间" in r.text
    c.get(f"/lab/{lab_ids[0]}/?lang=en")
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
    assert "Saved" in r.text and "Outage 01-09 12:00 to 01-09 14:00" in r.text
    assert "planned beyond capacity" in r.text  # the plan predates the outage
    # the chart's capacity drops to nothing in the outage hours
    caps = {h: cap for cap, h in re.findall(r'data-cap="(\d+)"><title>(\d\d):00', r.text)}
    assert caps.get("12") == "0" and caps.get("13") == "0"
    r = c.post(url, data={"csrf_token": tok, "kind": "normal"}, follow_redirects=True)
    assert "Saved" in r.text and "No outage reported." in r.text
    with app.app_context():
        from webui import db

        kinds = db.session().scalars(select(m.LabStatusChange.kind)).all()
        assert sorted(kinds) == ["capacity", "normal", "outage"]


def test_day_sheet_csv_and_xlsx_hold_the_same_rows(as_role, lab_ids):
    c = as_role("lab")
    shown = _shown(c.get(f"/lab/{lab_ids[0]}/").text)
    rows = list(
        csv.reader(io.StringIO(c.get(f"/lab/{lab_ids[0]}/sheet.csv").data.decode("utf-8-sig")))
    )
    ws = openpyxl.load_workbook(io.BytesIO(c.get(f"/lab/{lab_ids[0]}/sheet.xlsx").data)).active
    xrows = [
        [
            "" if v is None else v.strftime("%Y-%m-%d %H:%M") if isinstance(v, datetime) else str(v)
            for v in r
        ]
        for r in ws.iter_rows(values_only=True)
    ]
    # the XLSX adds its totals row under the boxes
    assert rows[0][0] == "batch_id" and rows == xrows[:-1]
    assert {r[0] for r in rows[1:]} == shown


def test_xlsx_day_sheet_keeps_counts_and_times_as_such_and_totals_them(as_role, lab_ids):
    c = as_role("lab")
    ws = openpyxl.load_workbook(io.BytesIO(c.get(f"/lab/{lab_ids[0]}/sheet.xlsx").data)).active
    rows = list(ws.iter_rows(values_only=True))
    tubes = rows[0].index("tubes")
    boxes, total = rows[1:-1], rows[-1]
    assert boxes and all(isinstance(r[tubes], int) for r in boxes)
    assert all(isinstance(r[rows[0].index("result_due")], datetime) for r in boxes)
    assert total[0] == f"Total ({len(boxes)})"
    assert total[tubes] == sum(r[tubes] for r in boxes)
    zh = c.get(f"/lab/{lab_ids[0]}/sheet.xlsx?lang=zh").data
    assert openpyxl.load_workbook(io.BytesIO(zh)).active.cell(len(rows), 1).value == (
        f"合计 ({len(boxes)})"
    )


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
        assert r.status_code == 403
    assert as_role("county").get(f"/lab/{lab_ids[0]}/").status_code == 403


def test_printable_and_chinese(as_role, lab_ids):
    c = as_role("lab")
    assert "printable" in c.get(f"/lab/{lab_ids[0]}/?print=1").text
    assert "待接收样本" in c.get(f"/lab/{lab_ids[0]}/?lang=zh").text


def test_going_back_in_status_is_refused_with_a_message(app, as_role, lab_ids):
    c = as_role("lab")
    url = f"/lab/{lab_ids[0]}/"
    batch = sorted(_shown(c.get(url).text))[0]
    tok = token_of(c, url)
    c.post(f"{url}boxes/{batch}", data={"csrf_token": tok, "action": "processing"})
    r = c.post(
        f"{url}boxes/{batch}",
        data={"csrf_token": tok, "action": "received"},
        follow_redirects=True,
    )
    assert "is processing; it cannot go back to received" in r.text and "flash-error" in r.text
    with app.app_context():
        from webui import db

        s = db.session()
        assert s.get(m.Batch, batch).status == "processing"
        assert s.scalar(select(func.count()).where(m.AuditLog.target == batch)) == 1
    # the page now offers only the states ahead of the box
    row = re.search(rf'<tr data-batch="{re.escape(batch)}">.*?</tr>', c.get(url).text, re.S)
    assert row and 'value="resulted"' in row.group(0) and 'value="received"' not in row.group(0)


def test_pool_positive_shows_the_retest_batch(app, as_role, lab_ids):
    c = as_role("lab")
    url = f"/lab/{lab_ids[0]}/"
    both = c.get(url).text + c.get(url + "?day=tomorrow").text
    pooled = re.findall(r'<tr data-batch="([^"]+)">(?:(?!</tr>).)*value="positive"', both, re.S)
    assert pooled, "the demo has pooled boxes at the first lab"
    r = c.post(
        f"{url}boxes/{pooled[0]}",
        data={"csrf_token": token_of(c, url), "action": "positive"},
        follow_redirects=True,
    )
    assert f"Retest {pooled[0]}-R1 created" in r.text
    with app.app_context():
        from webui import db

        retest = db.session().get(m.Batch, f"{pooled[0]}-R1")
        assert retest is not None and retest.priority == "urgent"
        assert retest.parent_batch_id == pooled[0]


def test_capacity_beyond_reason_is_refused(app, as_role, lab_ids):
    c = as_role("lab")
    tok = token_of(c, f"/lab/{lab_ids[0]}/")
    for bad in ("²", "99999999999999999999999", "4.5", ""):
        r = c.post(
            f"/lab/{lab_ids[0]}/status",
            data={"csrf_token": tok, "kind": "capacity", "capacity_per_hour": bad},
            follow_redirects=True,
        )
        assert r.status_code == 200 and "whole number" in r.text, bad
    with app.app_context():
        from webui import db

        assert db.session().scalar(select(func.count()).select_from(m.LabStatusChange)) == 0


def test_no_published_plan_is_said_plainly(app, as_role, lab_ids):
    with app.app_context():
        from webui import db

        s = db.session()
        for v in s.scalars(select(m.PlanVersion)):
            v.published = False
        s.commit()
    r = as_role("lab").get(f"/lab/{lab_ids[0]}/")
    assert r.status_code == 200 and "No plan has been published yet." in r.text
    assert as_role("lab").get(f"/lab/{lab_ids[0]}/sheet.csv").status_code == 200


def test_lab_other_and_county_are_forbidden_and_ops_sees_any_lab(as_role, lab_ids):
    mine, other = lab_ids
    lo = as_role("lab_other")
    tok = token_of(lo, f"/lab/{other}/")
    box = sorted(_shown(as_role("ops").get(f"/lab/{mine}/").text))[0]
    assert lo.get(f"/lab/{mine}/").status_code == 403
    assert lo.get(f"/lab/{mine}/sheet.xlsx").status_code == 403
    assert lo.get(f"/lab/{mine}/?print=1").status_code == 403
    # another lab's box, through its own lab or through the other lab's address
    assert (
        lo.post(f"/lab/{other}/boxes/{box}", data={"csrf_token": tok, "action": "received"})
    ).status_code == 403
    assert (
        lo.post(f"/lab/{mine}/boxes/{box}", data={"csrf_token": tok, "action": "received"})
    ).status_code == 403
    assert (
        lo.post(
            f"/lab/{mine}/status",
            data={"csrf_token": tok, "kind": "capacity", "capacity_per_hour": "1"},
        )
    ).status_code == 403
    county = as_role("county")
    assert county.get(f"/lab/{mine}/").status_code == 403
    assert county.get(f"/lab/{mine}/sheet.csv").status_code == 403
    ops = as_role("ops")
    assert ops.get(f"/lab/{mine}/").status_code == 200
    assert ops.get(f"/lab/{other}/").status_code == 200


def test_day_sheet_cells_never_read_as_formulas(app, as_role, lab_ids):
    c = as_role("lab")
    batch = sorted(_shown(c.get(f"/lab/{lab_ids[0]}/").text))[0]
    with app.app_context():
        from webui import db

        s = db.session()
        site = s.get(m.Site, s.get(m.Batch, batch).site_id)
        site.name = '=HYPERLINK("http://x","y")'
        s.commit()
    rows = list(
        csv.reader(io.StringIO(c.get(f"/lab/{lab_ids[0]}/sheet.csv").data.decode("utf-8-sig")))
    )
    names = {r[2] for r in rows[1:] if r[0] == batch}
    assert names == {'\'=HYPERLINK("http://x","y")'}
    ws = openpyxl.load_workbook(io.BytesIO(c.get(f"/lab/{lab_ids[0]}/sheet.xlsx").data)).active
    cells = [r[2] for r in ws.iter_rows(values_only=True) if r[0] == batch]
    assert cells and all(str(v).startswith("'=") for v in cells)
    assert all(cell.data_type != "f" for row in ws.iter_rows() for cell in row)


def test_printable_view_has_no_navigation_or_forms(as_role, lab_ids):
    html = as_role("lab").get(f"/lab/{lab_ids[0]}/?print=1").text
    assert 'class="printable"' in html and "data-print" in html
    main = html.split("<main>")[1]
    assert "<tr data-batch=" in main
    assert 'name="action"' not in main and 'name="kind"' not in main
    assert 'name="code"' not in main
    # a column to tick and sign each box, and the day's totals under them
    assert 'class="sign-off"' in main and main.count('class="tick-box"') == main.count(
        "<tr data-batch="
    )
    assert 'data-testid="totals"' in main
