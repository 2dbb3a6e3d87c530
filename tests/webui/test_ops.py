"""Ops pages: dashboard figures are the evaluator's; plans, diffs, re-plan now, users, audit."""

from __future__ import annotations

import re
import time

from sqlalchemy import func, select

from scheduler.evaluate import evaluate
from scheduler.replan.core import plan_of, published
from scheduler.replan.events import lab_status
from scheduler.store import models as m
from scheduler.store.world import snapshot
from tests.support.web import NOW, PASSWORD, csrf_of, token_of
from webui import models as wm


def _evaluated(app):
    from dataclasses import replace

    with app.app_context():
        from webui import db

        s = db.session()
        pub = published(s)
        base = snapshot(s)
        problem = replace(base, config=replace(base.config, plan_start=pub.plan_start))
        return pub.score, evaluate(problem, plan_of(pub))


def test_dashboard_figures_are_the_evaluators(app, as_role):
    html = as_role("ops").get("/ops/").text
    score, ev = _evaluated(app)
    for p, k in ev.per_priority.items():
        shown = re.search(rf'data-testid="ontime-{p}">([\d.]+)%', html)
        assert shown, p
        assert abs(float(shown.group(1)) - 100 * k.on_time_rate) < 0.051, p
    shown_score = re.search(r'data-testid="score">([\d,]+)<', html).group(1)
    assert int(shown_score.replace(",", "")) == round(ev.score) == round(score)


def test_heatmap_and_map_have_one_element_per_lab(app, as_role):
    html = as_role("ops").get("/ops/").text
    labs = re.findall(r'class="heat-lab">([^<]+)<', html)
    assert labs and len(labs) == len(set(labs))
    with app.app_context():
        from webui import db

        n_labs = db.session().query(m.Lab).count()
    assert html.count('class="lab"') == n_labs
    assert 'data-testid="shortfall"' in html or "No tube is late" in html


def test_replan_now_runs_a_job_and_the_diff_shows_moves(app, as_role):
    c = as_role("ops")
    with app.app_context():
        from webui import db

        s = db.session()
        busiest = (
            s.query(m.PlanRow.lab_id)
            .group_by(m.PlanRow.lab_id)
            .order_by(func.count().desc())
            .first()[0]
        )
        lab_status(s, busiest, now=NOW, capacity_per_hour=1)
        s.commit()
        first = published(s).id
    r = c.post(
        "/ops/replan",
        data={"csrf_token": token_of(c, "/ops/")},
        headers={"Accept": "application/json"},
    )
    assert r.status_code == 202
    poll = r.get_json()["poll"]
    deadline = time.monotonic() + 90
    while (job := c.get(poll).get_json())["state"] not in ("done", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.3)
    assert job["state"] == "done" and job["result"]["published"], job
    new = job["result"]["plan_id"]
    page = c.get(f"/ops/plans/{first}/diff/{new}").text
    assert len(re.findall(r"<tr data-batch=", page)) > 0
    assert f"/ops/plans/{first}/diff/{new}" in c.get("/ops/plans/").text
    # who pressed re-plan now, and why, is in the audit log
    with app.app_context():
        from webui import db

        asked = [
            (a.user, a.detail["reason"])
            for a in db.session().scalars(
                select(m.AuditLog).where(m.AuditLog.action == "replan now")
            )
        ]
    assert asked == [("ops", "re-plan now")]


def test_users_created_disabled_and_tokens_shown_once(app, as_role):
    c = as_role("ops")
    tok = token_of(c, "/ops/admin/")
    r = c.post(
        "/ops/admin/users",
        data={"csrf_token": tok, "username": "newbie", "password": "short", "role": "ops"},
        follow_redirects=True,
    )
    assert "at least 8" in r.text
    r = c.post(
        "/ops/admin/users",
        data={
            "csrf_token": tok,
            "username": "newbie",
            "password": PASSWORD,
            "role": "county",
            "county": "411004",
        },
        follow_redirects=True,
    )
    assert "User newbie created" in r.text
    with app.app_context():
        from webui import db

        uid = db.session().query(wm.User.id).filter(wm.User.username == "newbie").scalar()
    r = c.post(f"/ops/admin/users/{uid}/token", data={"csrf_token": tok})
    token = re.search(r"<code>(nst_[^<]+)</code>", r.text).group(1)
    assert token not in c.get("/ops/admin/").text  # shown once
    api = app.test_client().get(
        "/api/v1/sites?county=411004", headers={"Authorization": f"Bearer {token}"}
    )
    assert api.status_code == 200
    c.post(f"/ops/admin/users/{uid}/active", data={"csrf_token": tok, "active": "0"})
    fresh = app.test_client()
    page = fresh.get("/login")
    r = fresh.post(
        "/login",
        data={"username": "newbie", "password": PASSWORD, "csrf_token": csrf_of(page.text)},
    )
    assert r.status_code == 401
    audit = c.get("/ops/audit/?user=ops").text
    assert "user create" in audit and "user disabled" in audit and "token issued" in audit


def test_ops_pages_are_forbidden_to_others_and_speak_chinese(as_role):
    for role in ("county", "lab"):
        c = as_role(role)
        for url in ("/ops/", "/ops/plans/", "/ops/admin/", "/ops/audit/"):
            assert c.get(url).status_code == 403, (role, url)
    assert "全省总览" in as_role("ops").get("/ops/?lang=zh").text


def test_after_a_direct_replan_the_dashboard_shows_the_new_plans_evaluation(app, as_role):
    from datetime import timedelta

    from scheduler.replan.core import ReplanSettings, planning_problem, replan_once

    c = as_role("ops")
    c.get("/ops/")  # fills the figures cache for the first plan
    with app.app_context():
        from webui import db

        s = db.session()
        first = published(s).id
        busiest = (
            s.query(m.PlanRow.lab_id)
            .filter(m.PlanRow.plan_id == first)
            .group_by(m.PlanRow.lab_id)
            .order_by(func.count().desc())
            .first()[0]
        )
        lab_status(s, busiest, now=NOW, outage_from=NOW, outage_to=NOW + timedelta(hours=12))
        problem, _ = planning_problem(s, NOW)
        out = replan_once(s, NOW, settings=ReplanSettings(time_limit=2.0))
        s.commit()
        assert out.published, out.reason
        ev = evaluate(problem, plan_of(published(s)))
    html = c.get("/ops/").text
    assert f"published plan {out.version_id} of" in html
    for p, k in ev.per_priority.items():
        shown = re.search(rf'data-testid="ontime-{p}">([\d.]+)%', html)
        assert shown and abs(float(shown.group(1)) - 100 * k.on_time_rate) < 0.051, p
    shown_score = re.search(r'data-testid="score">([\d,]+)<', html).group(1)
    assert int(shown_score.replace(",", "")) == round(ev.score) == round(out.score)
    diff = c.get(f"/ops/plans/{first}/diff/{out.version_id}").text
    moved = re.findall(r'<tr data-batch="([^"]+)"><td>[^<]*</td><td>([^<]*)</td>', diff)
    assert moved and any(src == busiest for _, src in moved)
    assert "计划" in c.get(f"/ops/plans/{first}/diff/{out.version_id}?lang=zh").text
