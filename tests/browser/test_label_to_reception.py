"""A box's day across two audiences, in the browser: the county office prints its label, and
the destination lab receives it by scanning the code on it (typed as a USB scanner types it,
then Enter); in English and Chinese. Screenshots go to build/screenshots/."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.support.browser import shot
from tests.support.server import Server
from tests.support.web import OTHER_COUNTY

LAB_ID = re.compile(r"\bL\d{6}-[A-Z0-9]+\b")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_printed_label_is_received_by_scanning_its_code(
    server: Server, page_as: Any, lang: str
) -> None:
    county = page_as("county-other", lang=lang, viewport={"width": 1280, "height": 900})
    county.goto(f"{server.url}/county/{OTHER_COUNTY}/labels?lang={lang}")
    labels = county.locator("article.box-label")
    assert labels.count() > 1
    # one label per language: the English run takes the first box, the Chinese the last
    label = labels.first if lang == "en" else labels.last
    batch = label.get_attribute("data-batch")
    assert batch
    # a code to scan on it (tests/webui/test_county_labels.py checks it encodes the id alone)
    assert label.locator(".qr svg").count() == 1
    lab_text = label.locator(".lab").inner_text()
    found = LAB_ID.search(lab_text)
    assert found, lab_text
    lab_id = found.group(0)
    shot(county, f"walk-label-{lang}")

    lab = page_as(f"lab-{lab_id}", lang=lang, viewport={"width": 1280, "height": 900})
    lab.goto(f"{server.url}/lab/{lab_id}/")
    row = lab.locator(f"tr[data-batch='{batch}']")
    assert row.locator("[data-testid=mark-received]").count() == 1, "the box is not due here"
    lab.keyboard.type(batch)
    lab.keyboard.press("Enter")
    lab.wait_for_selector(".scan-said.scan-ok")
    top = lab.locator("[data-testid=schedule] tbody tr").first
    assert top.get_attribute("data-batch") == batch
    assert lab.locator(f"tr[data-batch='{batch}'] [data-testid=mark-received]").count() == 0
    shot(lab, f"walk-received-{lang}")

    # scanned twice: said loudly, never accepted again in silence
    lab.keyboard.type(batch)
    lab.keyboard.press("Enter")
    lab.wait_for_selector(".scan-said.scan-error")
    assert batch in lab.locator("[data-testid=scan-said]").inner_text()
