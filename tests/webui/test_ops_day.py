"""Headquarters' day (issue 17): the plans list's count is the diff's, re-timed rows show
both times, the late boxes of a priority with why, and a far worse plan says why."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import select

from scheduler.replan.core import published
from scheduler.replan.views import EXPLAIN_MAX
from scheduler.store import models as m
from tests.support.replans import replan_after_drop


def test_plans_list_moved_is_the_diffs_count(app, as_role):
    a, b, _ = replan_after_drop(app)
    c = as_role("ops")
    plans = c.get("/ops/plans/").text
    cell = re.search(
        rf'data-testid="changed-{b}"><a href="/ops/plans/{a}/diff/{b}">([\d,]+)</a> '
        rf'<span class="muted" data-testid="moved-{b}">\(([\d,]+) to another lab',
        plans,
    )
    assert cell, plans
    changed, moved = (int(x.replace(",", "")) for x in cell.groups())
    diff = c.get(f"/ops/plans/{a}/diff/{b}").text
    codes = re.findall(r'<tr data-batch="[^"]+">.*?data-code="(\w+)"', diff, re.S)
    assert changed == len(codes) > 0
    assert moved == sum(code in ("lab_change", "better_lab") for code in codes) > 0
    said = re.search(r'data-testid="diff-count">([\d,]+) boxes changed.*?; ([\d,]+) of', diff)
    assert said and said.groups() == (f"{changed:,}", f"{moved:,}")


def test_retimed_rows_show_the_old_and_the_new_time(app, as_role):
    # a copy of the published plan with one box two hours later at the same lab
    with app.app_context():
        from webui import db

        s = db.session()
        old = published(s)
        box = old.rows[0].batch_id
        new = m.PlanVersion(
            created_at=old.created_at + timedelta(minutes=1),
            plan_start=old.plan_start,
            solver="opt",
            status="feasible",
            figures={},
            published=False,
        )
        s.add(new)
        s.flush()
        for r in old.rows:
            later = timedelta(hours=2) if r.batch_id == box else timedelta(0)
            s.add(
                m.PlanRow(
                    plan_id=new.id,
                    batch_id=r.batch_id,
                    lab_id=r.lab_id,
                    slot_start=r.slot_start + later,
                    tubes=r.tubes,
                )
            )
        s.commit()
        a, b = old.id, new.id
    diff = as_role("ops").get(f"/ops/plans/{a}/diff/{b}").text
    rows = re.findall(r'<tr data-batch="([^"]+)">(.*?)</tr>', diff, re.S)
    assert [bid for bid, _ in rows] == [box]
    retimed = [r for _, r in rows if 'data-code="retimed"' in r]
    assert len(retimed) == 1 and "re-timed at the same lab" in retimed[0]
    for r in retimed:
        old = re.search(r'data-testid="old-time">([^<]+)<', r).group(1)
        new = re.search(r'data-testid="new-time">([^<]+)<', r).group(1)
        assert re.fullmatch(r"\d\d-\d\d \d\d:\d\d", old) and re.fullmatch(
            r"\d\d-\d\d \d\d:\d\d", new
        )
        assert old != new
        assert (
            datetime.strptime(new, "%m-%d %H:%M") - datetime.strptime(old, "%m-%d %H:%M")
        ) == timedelta(hours=2)


def _late_of(app: Flask, priority: str) -> tuple[int, set[str]]:
    with app.app_context():
        from webui import db

        s = db.session()
        pid = published(s).id
        prio = dict(s.execute(select(m.Batch.batch_id, m.Batch.priority)).all())
        late = {
            b
            for b, on_time in s.execute(
                select(m.PlanOutcome.batch_id, m.PlanOutcome.on_time).where(
                    m.PlanOutcome.plan_id == pid
                )
            )
            if not on_time and prio[b] == priority
        }
        return pid, late


def test_drill_down_lists_exactly_the_late_boxes_of_the_priority_and_why(app, as_role):
    replan_after_drop(app, capacity=0)  # an outage: some boxes of every priority come late
    c = as_role("ops")
    dash = c.get("/ops/").text
    links = 0
    explained: list[float] = []
    unexplained: list[float] = []
    for p in ("urgent", "high", "routine"):
        _, late = _late_of(app, p)
        if not late:
            assert f'data-testid="late-{p}"' not in dash
            continue
        assert f'href="/ops/late/{p}" data-testid="late-{p}"' in dash
        shown: list[str] = []
        hours: list[float] = []
        page = 1
        while True:
            html = c.get(f"/ops/late/{p}?page={page}").text
            rows = re.findall(r'<tr data-batch="([^"]+)">(.*?)</tr>', html, re.S)
            for bid, row in rows:
                shown.append(bid)
                hours.append(float(re.findall(r'class="num"[^>]*>([\d.]+)<', row)[-1]))
                why = re.search(r'data-testid="why">(.*?)</td>', row, re.S).group(1)
                if "<li>" in why:
                    explained.append(hours[-1])
                else:
                    assert "only the most late boxes are explained" in why, (bid, row)
                    unexplained.append(hours[-1])
                lab = re.search(r'href="(/lab/[^"]+)" data-testid="lab-link"', row)
                if lab is None:  # a box no lab could take is late too, and said so
                    assert "not planned" in row
                else:
                    assert c.get(lab.group(1)).status_code == 200
                    links += 1
            if f"?page={page + 1}" not in html:
                break
            page += 1
        assert sorted(shown) == sorted(late)
        assert hours == sorted(hours, reverse=True)
        least = c.get(f"/ops/late/{p}?sort=least").text
        first = re.search(r'<tr data-batch="([^"]+)">', least).group(1)
        assert first in shown[-50:]
    assert links > 0
    # the most late boxes of the plan carry scheduler.explain's reasons, made at publish
    assert len(explained) == min(EXPLAIN_MAX, len(explained) + len(unexplained))
    assert not unexplained or min(explained) >= max(unexplained)
    assert c.get("/ops/late/asap").status_code == 404


def test_a_far_worse_plan_says_why_on_the_dashboard(app, as_role):
    c = as_role("ops")
    assert 'data-testid="worse-note"' not in c.get("/ops/").text
    a, b, lab = replan_after_drop(app, capacity=0)
    with app.app_context():
        from webui import db

        s = db.session()
        ratio = s.get(m.PlanVersion, b).score / s.get(m.PlanVersion, a).score
    dash = c.get("/ops/").text
    assert ratio >= 1.25, "an outage of the busiest lab makes the plan far worse"
    note = re.search(r'data-testid="worse-note">(.*?)</section>', dash, re.S).group(1)
    assert f"plan {a}" in note and f"Lab {lab} reported: capacity" in note
    zh = c.get("/ops/?lang=zh").text
    assert f"实验室 {lab} 报告：检测能力" in zh
