"""On Chinese ops pages no enum word or stored reason is shown in English (issue 17 point 7)."""

from __future__ import annotations

import html
import re

from scheduler.domain import BATCH_STATES, LAB_KINDS
from tests.support.replans import replan_after_drop

#: what the ops pages show of the store's and the re-planner's codes, as stored
ENUM_WORDS = (
    *LAB_KINDS,
    *BATCH_STATES,
    "time_limit",
    "feasible",
    "optimal",
    "infeasible",
    "running",
    "failed",
    "queued",
    "outage",
    "capacity",
    "urgent",
    "routine",
    "token issued",
    "user create",
    "replan",
    "login",
    "seed",
    "first plan",
    "inputs changed",
    "better or equal",
    "worse than the published plan",
    "new batch",
    "no longer planned",
    "another lab gives a better plan",
    "re-timed at the same lab",
    "could return it by",
    "gives the earliest result",
    "deadline cannot be met",
)


def visible_text(page: str) -> str:
    """What a reader sees: the text between tags, outside scripts and styles."""
    page = re.sub(r"<(script|style|title)\b.*?</\1>", " ", page, flags=re.S | re.I)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def english_enum_words(text: str) -> list[str]:
    return [
        w for w in ENUM_WORDS if re.search(rf"(?<![\w-]){re.escape(w)}(?![\w-])", text, flags=re.I)
    ]


def test_the_check_sees_an_untranslated_word():
    assert english_enum_words(visible_text("<td>designated_hospital</td>")) == [
        "designated_hospital"
    ]
    assert english_enum_words(visible_text('<td title="time_limit">限时</td>')) == []


def test_ops_pages_in_chinese_show_no_enum_word_in_english(app, as_role):
    c = as_role("ops")
    first, second, busiest = replan_after_drop(app, capacity=0)
    c.get("/ops/?lang=zh")
    pages = [
        "/ops/",
        "/ops/plans/",
        f"/ops/plans/{first}/diff/{second}",
        "/ops/audit/",
        "/ops/admin/",
        f"/ops/admin/labs/{busiest}",
        "/ops/admin/sites/",
        *(f"/ops/late/{p}" for p in ("urgent", "high", "routine")),
    ]
    found = {}
    for path in pages:
        r = c.get(path)
        assert r.status_code == 200, path
        words = english_enum_words(visible_text(r.text))
        if words:
            found[path] = words
    assert found == {}
