"""Ops administration: lab edits audited, bad values refused, sites, page tokens, audit."""

from __future__ import annotations

import re

from sqlalchemy import select

from scheduler.store import models as m
from tests.support.web import PASSWORD, token_of
from webui import models as wm


def _lab(app, lab_id=None):
    with app.app_context():
        from webui import db

        s = db.session()
        lab = (
            s.get(m.Lab, lab_id)
            if lab_id
            else s.scalars(select(m.Lab).order_by(m.Lab.lab_id)).first()
        )
        return {
            "lab_id": lab.lab_id,
            "capacity_per_hour": lab.capacity_per_hour,
            "open_hour": lab.open_hour,
            "close_hour": lab.close_hour,
            "isolation_ok": lab.isolation_ok,
        }


def _form(lab, **change):
    data = {
        "capacity_per_hour": str(lab["capacity_per_hour"]),
        "open_hour": str(lab["open_hour"]),
        "close_hour": str(lab["close_hour"]),
    }
    if lab["isolation_ok"]:
        data["isolation_ok"] = "1"
    data.update(change)
    return {k: v for k, v in data.items() if v is not None}


def _audits(app, target):
    with app.app_context():
        from webui import db

        return [
            (a.action, a.user, a.detail)
            for a in db.session().scalars(
                select(m.AuditLog).where(m.AuditLog.target == target).order_by(m.AuditLog.id)
            )
        ]


def _replan_reasons(app):
    with app.app_context():
        from webui import db

        rec = db.session().get(m.Setting, "replan_request")
        return list(rec.value.get("reasons", [])) if rec else []


def test_lab_capacity_and_hours_edits_are_audited_and_request_a_replan(app, as_role):
    c = as_role("ops")
    lab = _lab(app)
    url = f"/ops/admin/labs/{lab['lab_id']}"
    page = c.get(url)
    assert page.status_code == 200 and 'data-testid="lab-form"' in page.text
    assert f"/ops/admin/labs/{lab['lab_id']}" in c.get("/ops/admin/").text
    tok = token_of(c, url)
    new_cap = lab["capacity_per_hour"] + 7
    r = c.post(
        url,
        data={"csrf_token": tok, **_form(lab, capacity_per_hour=str(new_cap))},
        follow_redirects=True,
    )
    assert r.status_code == 200 and "re-plan was requested" in r.text
    after = _lab(app, lab["lab_id"])
    assert after["capacity_per_hour"] == new_cap
    acts = _audits(app, lab["lab_id"])
    assert ("lab capacity", "ops") in [(a, u) for a, u, _ in acts]
    with app.app_context():
        from webui import db

        change = (
            db.session()
            .scalars(select(m.LabStatusChange).where(m.LabStatusChange.lab_id == lab["lab_id"]))
            .all()
        )
        assert [x.capacity_per_hour for x in change][-1] == new_cap
    # hours and isolation: no event exists, so a model update with an audit row
    r = c.post(
        url,
        data={
            "csrf_token": tok,
            **_form(
                after,
                open_hour="20",
                close_hour="6",
                isolation_ok="" if after["isolation_ok"] else "1",
            ),
        },
        follow_redirects=True,
    )
    assert r.status_code == 200
    edited = _lab(app, lab["lab_id"])
    assert (edited["open_hour"], edited["close_hour"]) == (20, 6)
    assert edited["isolation_ok"] != after["isolation_ok"]
    action, user, detail = _audits(app, lab["lab_id"])[-1]
    assert action == "lab edit" and user == "ops"
    assert detail["open_hour"] == [lab["open_hour"], 20] and "isolation_ok" in detail
    assert any(f"lab {lab['lab_id']} edited" in x for x in _replan_reasons(app))
    # the audit page shows it
    assert "lab edit" in c.get("/ops/audit/?action=lab+edit&user=ops").text
    # nothing changed: nothing audited
    n = len(_audits(app, lab["lab_id"]))
    r = c.post(url, data={"csrf_token": tok, **_form(edited)}, follow_redirects=True)
    assert "nothing changed" in r.text and len(_audits(app, lab["lab_id"])) == n


def test_bad_lab_values_are_refused_with_messages(app, as_role):
    c = as_role("ops")
    lab = _lab(app)
    url = f"/ops/admin/labs/{lab['lab_id']}"
    tok = token_of(c, url)
    before = _audits(app, lab["lab_id"])
    for change, message in (
        ({"capacity_per_hour": "-5"}, "between 0 and"),
        ({"capacity_per_hour": "lots"}, "is not a whole number"),
        ({"capacity_per_hour": ""}, "is not a whole number"),
        ({"open_hour": "25"}, "between 0 and 24"),
        ({"close_hour": "7.5"}, "is not a whole number"),
        ({"open_hour": "8", "close_hour": "8"}, "never be open"),
    ):
        r = c.post(url, data={"csrf_token": tok, **_form(lab, **change)})
        assert r.status_code == 400, change
        assert message in r.text.replace("&#34;", '"'), (change, r.text[:300])
        assert 'data-testid="lab-error"' in r.text
    assert _lab(app, lab["lab_id"]) == lab
    assert _audits(app, lab["lab_id"]) == before
    assert c.get("/ops/admin/labs/NO-SUCH-LAB").status_code == 404
    # without the CSRF token the form is refused too
    assert c.post(url, data=_form(lab, capacity_per_hour="1")).status_code == 400
    assert _lab(app, lab["lab_id"]) == lab
    zh = c.post(url + "?lang=zh", data={"csrf_token": tok, **_form(lab, open_hour="99")})
    assert "必须在 0 到 24 之间" in zh.text


def test_sites_list_pages_and_filters(app, as_role):
    c = as_role("ops")
    html = c.get("/ops/admin/sites/").text
    rows = re.findall(r'<tr data-site="([^"]+)"', html)
    with app.app_context():
        from webui import db

        s = db.session()
        total = s.query(m.Site).count()
        code = s.scalars(select(m.Site.county_code).order_by(m.Site.site_id)).first()
        in_county = s.query(m.Site).filter(m.Site.county_code == code).count()
    assert len(rows) == min(total, 200) and rows == sorted(rows)
    filtered = c.get(f"/ops/admin/sites/?county={code}").text
    assert len(re.findall(r"<tr data-site=", filtered)) == min(in_county, 200)
    assert "采样点" in c.get("/ops/admin/sites/?lang=zh").text


def test_a_token_works_as_bearer_on_a_page_route(app, as_role):
    c = as_role("ops")
    tok = token_of(c, "/ops/admin/")
    with app.app_context():
        from webui import db

        s = db.session()
        ops_id = s.query(wm.User.id).filter(wm.User.username == "ops").scalar()
        county = s.query(wm.User).filter(wm.User.username == "county").one()
        county_id, code = county.id, county.county_code
    r = c.post(f"/ops/admin/users/{ops_id}/token", data={"csrf_token": tok, "label": "cli"})
    secret = re.search(r"<code>(nst_[^<]+)</code>", r.text).group(1)
    bare = app.test_client()
    assert bare.get("/ops/").status_code == 302  # no token: the login page
    assert bare.get("/ops/", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    bad = bare.get("/ops/", headers={"Authorization": "Bearer nst_wrong"})
    assert bad.status_code == 302
    # a county token opens the county's page and not the ops pages
    r = c.post(f"/ops/admin/users/{county_id}/token", data={"csrf_token": tok})
    csec = re.search(r"<code>(nst_[^<]+)</code>", r.text).group(1)
    assert secret not in c.get("/ops/admin/").text and csec not in c.get("/ops/admin/").text
    h = {"Authorization": f"Bearer {csec}"}
    assert bare.get(f"/county/{code}/", headers=h).status_code == 200
    assert bare.get("/ops/", headers=h).status_code == 403


def test_audit_log_is_newest_first_paged_and_filtered(app, as_role):
    c = as_role("ops")
    from datetime import datetime, timedelta

    with app.app_context():
        from webui import db

        s = db.session()
        t0 = datetime(2022, 1, 9, 8, 0)
        for i in range(130):
            s.add(
                m.AuditLog(
                    at=t0 + timedelta(seconds=i),
                    user="robot",
                    action="probe",
                    target=f"T{i:03d}",
                    detail={},
                )
            )
        s.commit()
    first = c.get("/ops/audit/?user=robot").text
    targets = re.findall(r"<td>(T\d{3})</td>", first)
    assert len(targets) == 100 and targets[0] == "T129" and targets == sorted(targets, reverse=True)
    assert "page=2" in first
    second = re.findall(r"<td>(T\d{3})</td>", c.get("/ops/audit/?user=robot&page=2").text)
    assert second[0] == "T029" and second[-1] == "T000" and len(second) == 30
    assert "<td>T" not in c.get("/ops/audit/?user=robot&action=other").text


def test_admin_routes_are_forbidden_to_county_and_lab(app, as_role):
    lab = _lab(app)
    for role in ("county", "lab"):
        c = as_role(role)
        for url in (f"/ops/admin/labs/{lab['lab_id']}", "/ops/admin/sites/", "/ops/jobs/x"):
            assert c.get(url).status_code == 403, (role, url)
        tok = token_of(c, "/")
        r = c.post(
            f"/ops/admin/labs/{lab['lab_id']}",
            data={"csrf_token": tok, **_form(lab, capacity_per_hour="0")},
        )
        assert r.status_code == 403
        assert c.post("/ops/replan", data={"csrf_token": tok}).status_code == 403
        assert (
            c.post(
                "/ops/admin/users",
                data={"csrf_token": tok, "username": "x", "password": PASSWORD, "role": "ops"},
            ).status_code
            == 403
        )
    assert _lab(app, lab["lab_id"]) == lab
