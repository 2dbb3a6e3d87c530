"""A county's sheet of box labels in a real browser: both languages, desktop and phone width,
and as the printer gets it. Screenshots go to build/screenshots/."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest

from tests.support.browser import shot
from tests.support.server import Server
from tests.support.web import OTHER_COUNTY

#: desktop and a phone (an iPhone 12-15's CSS width)
WIDTHS = {"desktop": 1280, "phone": 390}


def _labels(page: Any) -> list[dict[str, Any]]:
    """Each label's box id and the drawn size of its QR code, as the browser laid them out."""
    result: list[dict[str, Any]] = page.eval_on_selector_all(
        "article.box-label",
        """els => els.map(e => {
            const q = e.querySelector('.qr svg').getBoundingClientRect();
            const r = e.getBoundingClientRect();
            return {id: e.dataset.batch, qr: q.width, qrh: q.height,
                    right: r.right, text: e.innerText};
        })""",
    )
    return result


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("size", list(WIDTHS))
def test_the_labels_sheet_reads_and_fits(
    server: Server, page_as: Any, lang: str, size: str
) -> None:
    width = WIDTHS[size]
    # headquarters may print a county's labels too (the county office of the browser world
    # uploads its own file during the day's test, so another county has boxes from the start)
    page = page_as("ops", lang=lang, viewport={"width": width, "height": 900})
    page.goto(f"{server.url}/county/{OTHER_COUNTY}/labels?lang={lang}")
    labels = _labels(page)
    assert labels, page.content()[:2000]
    for label in labels:
        # a code a phone camera or a hand scanner can read: square and at least 90 px
        assert label["qr"] >= 90 and abs(label["qr"] - label["qrh"]) < 1, label
        assert label["id"] in label["text"]
        assert label["right"] <= width, label
        for words in (("To lab", "送往实验室"), ("Result due", "结果截止")):
            assert all(w in label["text"] for w in words), label["text"]
    # nothing wider than the screen: no sideways scrolling on a phone
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    shot(page, f"county-labels-{lang}-{size}")


def test_the_printed_sheet_is_labels_only(server: Server, page_as: Any) -> None:
    # an A4 sheet's width at 96 px an inch, less the 8 mm margins: the screenshot is the paper
    page = page_as("ops", lang="zh", viewport={"width": 734, "height": 1062})
    page.goto(f"{server.url}/county/{OTHER_COUNTY}/labels?lang=zh")
    page.emulate_media(media="print")
    assert not page.locator("header.top").is_visible()
    assert not page.get_by_test_id("labels-filter").is_visible()
    # two labels across the A4 page
    tops = page.eval_on_selector_all(
        "article.box-label", "els => els.slice(0, 2).map(e => e.getBoundingClientRect().top)"
    )
    assert len(tops) == 2 and abs(tops[0] - tops[1]) < 1, tops
    shot(page, "county-labels-zh-print")
    # on A4 paper, eight labels a sheet, none cut across two pages
    count = page.locator("article.box-label").count()
    pdf = page.pdf(format="A4", print_background=True)
    pages = len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf))
    assert pages == math.ceil(count / 8), (pages, count)
    page.emulate_media(media="screen")
