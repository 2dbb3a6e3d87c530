"""The day through the browser: a county office uploads, a re-plan follows, the lab works it,
ops sees the evaluator's figures. Screenshots of each main page go to build/screenshots/."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import openpyxl
from sqlalchemy import func, select

from scheduler.evaluate import evaluate
from scheduler.replan.core import plan_of, planning_problem, published
from scheduler.store import models as m
from scheduler.store.db import make_engine, transaction
from tests.support.browser import COUNTY, DEMO, shot

GOOD = DEMO / "uploads" / f"{COUNTY}.xlsx"


def _bad_csv(tmp: Path) -> Path:
    """The county's file as CSV with one impossible pool size (3) on line 4."""
    ws = openpyxl.load_workbook(GOOD).active
    lines = []
    for row in ws.iter_rows(values_only=True):
        lines.append(
            ",".join(
                ""
                if v is None
                else v.strftime("%Y-%m-%dT%H:%M")
                if hasattr(v, "strftime")
                else str(v)
                for v in row
            )
        )
    cells = lines[3].split(",")
    cells[8] = "3"
    lines[3] = ",".join(cells)
    path = tmp / f"{COUNTY}.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _published_id(db_url: str) -> int:
    eng = make_engine(db_url)
    try:
        with transaction(eng) as s:
            pub = published(s)
            return pub.id if pub else 0
    finally:
        eng.dispose()


def _wait_for_plan(db_url: str, newer_than: int, timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = _published_id(db_url)
        if now > newer_than:
            return now
        time.sleep(0.5)
    raise AssertionError("no re-plan followed within the time")


def _settled(db_url: str, timeout: float = 120) -> None:
    """Wait until the newest plan is published and no event is newer than it."""
    eng = make_engine(db_url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with transaction(eng) as s:
                last = s.scalar(select(m.PlanVersion).order_by(m.PlanVersion.id.desc()))
                req = s.get(m.Setting, "replan_request")
                pending = req is not None and req.value["at"] >= last.created_at.isoformat()
                if last.status != "running" and last.published and not pending:
                    return
            time.sleep(0.5)
    finally:
        eng.dispose()
    raise AssertionError("the planner did not settle")


def test_upload_replan_lab_and_dashboard(server, page_as, tmp_path):
    _settled(server.db_url)
    before = _published_id(server.db_url)

    # 1. the county office checks a file with a bad cell and sees it marked
    county = page_as("county")
    shot(county, "county-home")
    county.set_input_files("input[type=file]", str(_bad_csv(tmp_path)))
    county.click("[data-testid=dry-run]")
    county.wait_for_selector("[data-testid=preview-errors]")
    bad = county.locator("td.cell-error")
    assert bad.count() >= 1
    assert "pool size" in (bad.first.get_attribute("data-error") or "")
    shot(county, "county-preview-errors")
    # 2. the fixed file: clean check, then stored
    county.goto(f"{server.url}/county/{COUNTY}/")
    county.set_input_files("input[type=file]", str(GOOD))
    county.click("[data-testid=dry-run]")
    county.wait_for_selector("[data-testid=preview-ok]")
    shot(county, "county-preview-ok")
    county.click("[data-testid=commit]")
    county.wait_for_selector(".flash-ok")
    assert "Stored" in county.locator(".flash-ok").inner_text()
    assert county.locator("[data-testid=history] tbody tr").count() == 1

    # 3. a re-plan follows
    plan_id = _wait_for_plan(server.db_url, before)
    eng = make_engine(server.db_url)
    with transaction(eng) as s:
        lab_id, n = s.execute(
            select(m.PlanRow.lab_id, func.count(func.distinct(m.PlanRow.batch_id)))
            .where(m.PlanRow.plan_id == plan_id, m.PlanRow.batch_id.like(f"B{COUNTY}-%"))
            .group_by(m.PlanRow.lab_id)
            .order_by(func.count(func.distinct(m.PlanRow.batch_id)).desc())
        ).first()
    assert n > 0
    county.goto(f"{server.url}/county/{COUNTY}/")
    assert county.locator("[data-testid=boxes] tbody tr").count() > 0
    shot(county, "county-where-boxes-go")

    # 4. the lab coordinator sees the new boxes, marks one received, exports the day sheet
    lab = page_as(f"lab-{lab_id}")
    rows = lab.locator(f"[data-testid=schedule] tr[data-batch^=B{COUNTY}-]")
    if rows.count() == 0:
        lab.goto(f"{server.url}/lab/{lab_id}/?day=tomorrow")
        rows = lab.locator(f"[data-testid=schedule] tr[data-batch^=B{COUNTY}-]")
    assert rows.count() > 0, "the new boxes are not on the lab's schedule"
    shot(lab, "lab-schedule")
    batch = rows.first.get_attribute("data-batch")
    rows.first.locator("[data-testid=mark-received]").click()
    lab.wait_for_selector(".flash-ok")
    assert "received" in lab.locator(f"tr[data-batch='{batch}'] [data-testid=status]").inner_text()
    with lab.expect_download() as dl:
        lab.click("[data-testid=export-csv]")
    sheet = list(csv.reader(io.StringIO(Path(dl.value.path()).read_text(encoding="utf-8-sig"))))
    assert sheet[0][0] == "batch_id" and batch in {r[0] for r in sheet[1:]}
    with transaction(eng) as s:
        assert s.get(m.Batch, batch).status == "received"

    # 5. ops: after the re-plan the receipt asked for, the dashboard shows the evaluator's figures
    _settled(server.db_url)
    ops = page_as("ops")
    shot(ops, "ops-dashboard")
    with transaction(eng) as s:
        pub = published(s)
        problem, _ = planning_problem(s, pub.created_at)
        ev = evaluate(problem, plan_of(pub))
    assert ev.valid
    for p, k in ev.per_priority.items():
        shown = ops.locator(f"[data-testid=ontime-{p}]").inner_text()
        assert abs(float(shown.rstrip("%")) - 100 * k.on_time_rate) < 0.051, (p, shown)
    assert int(ops.locator("[data-testid=score]").inner_text().replace(",", "")) == round(ev.score)
    for path in ("/ops/plans/", "/ops/admin/", "/ops/audit/", "/ops/bench/"):
        ops.goto(f"{server.url}{path}")
        shot(ops, "ops-" + path.strip("/").replace("/", "-"))
    eng.dispose()


def test_pages_on_a_phone_in_chinese(server, page_as):
    phone = {"width": 390, "height": 844}
    county = page_as("county", lang="zh", viewport=phone)
    assert "上报采样人数" in county.content()
    shot(county, "county-home-zh-phone")
    ops = page_as("ops", lang="zh", viewport=phone)
    assert "全省总览" in ops.content()
    shot(ops, "ops-dashboard-zh-phone")
    # nothing wider than the screen but the tables' own scroll boxes
    width = ops.evaluate("document.documentElement.scrollWidth")
    assert width <= phone["width"] + 1, width
