"""On Chinese ops pages no enum word or stored reason is shown in English (issue 17 point 7)."""

from __future__ import annotations

import html
import re
from datetime import timedelta

from sqlalchemy import func, select

from scheduler.domain import BATCH_STATES, LAB_KINDS
from scheduler.replan.core import ReplanSettings, published, replan_once
from scheduler.replan.events import lab_status
from scheduler.store import models as m
from tests.support.web import NOW

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
        w
        for w in ENUM_WORDS
        if re.search(rf"(?<![\w-]){re.escape(w)}(?![\w-])", text, flags=re.I)
    ]


def test_the_check_sees_an_untranslated_word():
    assert english_enum_words(visible_text("<td>designated_hospital</td>")) == [
        "designated_hospital"
    ]
    assert english_enum_words(visible_text('<td title="time_limit">限时</td>')) == []


def test_ops_pages_in_chinese_show_no_enum_word_in_english(app, as_role):
    c = as_role("ops")
    with app.app_context():
        from webui import db

        s = db.session()
        first = published(s).id
        busiest = (
            s.execute(
                select(m.PlanRow.lab_id).group_by(m.PlanRow.lab_id).order_by(func.count().desc())
            )
            .scalars()
            .first()
        )
        at = NOW + timedelta(minutes=5)
        lab_status(s, busiest, now=at, user="ops", capacity_per_hour=0)
        second = replan_once(
            s, at + timedelta(minutes=1), settings=ReplanSettings(time_limit=1.0, workers=1)
        ).version_id
        s.commit()
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
