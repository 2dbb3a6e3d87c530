"""A lab's reception in the browser: a box received by typing its id into the scan field and
Enter (as a USB scanner does), a wrong code refused loudly, then the receipt undone; in English
and Chinese, at desktop and phone width. Screenshots go to build/screenshots/."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from scheduler.replan.core import published
from scheduler.store import models as m
from scheduler.store.db import make_engine, transaction
from tests.support.browser import COUNTY, shot

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
#: what each language says: a refused code, the undo done
SAID = {
    "en": {"unknown": "is no known box", "undone": "is planned again"},
    "zh": {"unknown": "不是已知的样本箱", "undone": "已退回已计划"},
}
CASES = [("en", DESKTOP), ("zh", DESKTOP), ("en", PHONE), ("zh", PHONE)]


def _busiest_labs(db_url: str, n: int) -> list[str]:
    """The labs with most boxes in the published plan (the test county's aside: another test
    uploads them)."""
    eng = make_engine(db_url)
    try:
        with transaction(eng) as s:
            pub = published(s)
            assert pub is not None
            count = func.count(func.distinct(m.PlanRow.batch_id))
            rows = s.execute(
                select(m.PlanRow.lab_id, count)
                .where(m.PlanRow.plan_id == pub.id, ~m.PlanRow.batch_id.like(f"B{COUNTY}-%"))
                .group_by(m.PlanRow.lab_id)
                .order_by(count.desc(), m.PlanRow.lab_id)
            ).all()
    finally:
        eng.dispose()
    return [lab for lab, _ in rows[:n]]


def _status(db_url: str, batch: str) -> tuple[str, str | None]:
    eng = make_engine(db_url)
    try:
        with transaction(eng) as s:
            b = s.get(m.Batch, batch)
            return b.status, b.pinned_lab
    finally:
        eng.dispose()


def _focused(page: Any) -> str:
    return str(page.evaluate("document.activeElement && document.activeElement.id"))


@pytest.mark.parametrize(
    ("lang", "viewport"), CASES, ids=["en-1280", "zh-1280", "en-390", "zh-390"]
)
def test_receive_by_scanning_then_undo(server, page_as, lang, viewport):
    lab_id = _busiest_labs(server.db_url, len(CASES))[CASES.index((lang, viewport))]
    name = f"lab-reception-{lang}-{viewport['width']}"
    page = page_as(f"lab-{lab_id}", lang=lang, viewport=viewport)
    page.goto(f"{server.url}/lab/{lab_id}/")
    # the scan field has the focus from the start: a scanner needs no click
    assert _focused(page) == "scan-code"
    rows = page.locator(
        f"[data-testid=schedule] tr[data-batch]:not([data-batch^=B{COUNTY}-])"
        ":has([data-testid=mark-received])"
    )
    assert rows.count() > 0, f"lab {lab_id} has no box to receive"
    batch = rows.last.get_attribute("data-batch")
    assert batch and _status(server.db_url, batch) == ("planned", None)

    # lab.js swaps the page in place: a mark on this window survives every scan below
    page.evaluate("window.notReloaded = true")
    # a code that is no box: said loudly, the field emptied and focused for the next scan
    page.keyboard.type("NO-SUCH-BOX")
    page.keyboard.press("Enter")
    page.wait_for_selector(".scan-said.scan-error")
    said = page.locator("[data-testid=scan-said]").inner_text()
    assert "NO-SUCH-BOX" in said and SAID[lang]["unknown"] in said
    assert page.input_value("#scan-code") == "" and _focused(page) == "scan-code"
    shot(page, f"{name}-refused")

    # the box's id typed as a scanner does, then Enter: received, on top
    page.keyboard.type(batch)
    page.keyboard.press("Enter")
    page.wait_for_selector(".scan-said.scan-ok")
    top = page.locator("[data-testid=schedule] tbody tr").first
    assert top.get_attribute("data-batch") == batch
    assert top.get_attribute("data-testid") == "scanned"
    assert _status(server.db_url, batch) == ("received", lab_id)
    assert _focused(page) == "scan-code"
    assert page.evaluate("window.notReloaded") is True
    # nothing wider than the screen but the tables' own scroll boxes
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= viewport["width"] + 1, width
    shot(page, f"{name}-received")

    # undone (beside the receipt on a desktop, where the row's own undo is scrolled away;
    # in the row on a phone): the box is as it was before the scan
    if viewport is DESKTOP:
        page.locator("[data-testid=scan-undo]").click()
    else:
        top.locator("[data-testid=undo]").click()
    page.wait_for_selector(".flash-ok")
    assert f"{batch} {SAID[lang]['undone']}" in page.locator(".flash-ok").inner_text()
    assert _status(server.db_url, batch) == ("planned", None)
    row = page.locator(f"tr[data-batch='{batch}']")
    assert row.locator("[data-testid=mark-received]").count() == 1
    assert row.locator("[data-testid=undo]").count() == 0
    shot(page, f"{name}-undone")


def test_resulted_asks_first_and_the_printable_sheet_has_a_sign_off_column(server, page_as):
    lab_id = _busiest_labs(server.db_url, len(CASES) + 1)[-1]
    page = page_as(f"lab-{lab_id}")
    page.goto(f"{server.url}/lab/{lab_id}/")
    row = page.locator(
        f"[data-testid=schedule] tr[data-batch]:not([data-batch^=B{COUNTY}-])"
        ":has([data-testid=mark-resulted])"
    ).last
    batch = row.get_attribute("data-batch")
    assert batch
    row.locator("[data-testid=mark-resulted]").click()
    # a page of its own asks once more; nothing changed yet
    page.wait_for_selector("[data-testid=confirm-resulted]")
    assert batch in page.locator("h1").inner_text()
    assert _status(server.db_url, batch)[0] == "planned"
    shot(page, "lab-confirm-resulted")
    page.click("[data-testid=confirm-yes]")
    page.wait_for_selector(".flash-ok")
    assert _status(server.db_url, batch)[0] == "resulted"
    # the resulted box stays on the page while its undo is open
    page.locator(f"tr[data-batch='{batch}'] [data-testid=undo]").click()
    page.wait_for_selector(".flash-ok")
    assert _status(server.db_url, batch) == ("planned", None)

    page.goto(f"{server.url}/lab/{lab_id}/?print=1&lang=zh")
    assert page.locator("th.sign-off").inner_text() == "核对签字"
    assert page.locator("td.sign-off .tick-box").count() == page.locator("tr[data-batch]").count()
    assert page.locator("[data-testid=totals]").inner_text().startswith("合计")
    shot(page, "lab-printable-zh")
