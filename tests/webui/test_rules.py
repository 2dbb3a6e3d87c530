"""The forms, the API and the service refuse the same lab changes, by the same rule.

The rule is the service's (``scheduler.store.rules``, raised by
``events.lab_status``, the function the API's lab status operation calls);
the lab page's forms and ops admin's lab form show that rule's message, found
by its ``code``, and store nothing.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from scheduler.replan import events
from scheduler.spec_io import parse_ts
from scheduler.store import models as m
from scheduler.store import rules
from tests.support.api import API, as_bearer
from tests.support.web import NOW, token_of
from webui.labels import translate

TOO_MANY = rules.MAX_CAPACITY_PER_HOUR + 1
BACKWARDS = ("2022-01-09T12:00", "2022-01-09T10:00")
TOO_FAR = ("2022-01-09T12:00", "2099-01-09T10:00")


def _service_refusal(app: Flask, lab_id: str, **change: Any) -> events.RuleViolation:
    """What the service says of ``change``; nothing is kept."""
    from webui import db

    with app.app_context():
        s = db.session()
        with pytest.raises(events.RuleViolation) as info:
            events.lab_status(s, lab_id, now=NOW, **change)
        s.rollback()
    return info.value


def _stored(app: Flask) -> tuple[int, int]:
    from webui import db

    with app.app_context():
        s = db.session()
        return (
            s.scalar(select(func.count()).select_from(m.LabStatusChange)) or 0,
            s.scalar(select(func.count()).select_from(m.Outage)) or 0,
        )


def test_forms_and_api_refuse_the_same_capacity_by_the_capacity_rule(app, as_role, lab_ids):
    lab = lab_ids[0]
    err = _service_refusal(app, lab, capacity_per_hour=TOO_MANY)
    assert err.code == "capacity.out_of_range" and err.field == "capacity_per_hour"
    said = translate(f"rule.{err.code}", "en", **err.params)
    assert "between 0 and 100000" in said
    before = _stored(app)

    c = as_role("lab")
    r = c.post(
        f"/lab/{lab}/status",
        data={
            "csrf_token": token_of(c, f"/lab/{lab}/"),
            "kind": "capacity",
            "capacity_per_hour": str(TOO_MANY),
        },
        follow_redirects=True,
    )
    assert "flash-error" in r.text and said in r.text

    ops = as_role("ops")
    url = f"/ops/admin/labs/{lab}"
    with app.app_context():
        from webui import db

        row = db.session().get(m.Lab, lab)
        form = {"open_hour": str(row.open_hour), "close_hour": str(row.close_hour)}
    r = ops.post(
        url, data={"csrf_token": token_of(ops, url), "capacity_per_hour": str(TOO_MANY), **form}
    )
    assert r.status_code == 400 and said in r.text
    # ops admin's limit was 1,000,000: the one limit now holds there too
    r = ops.post(
        url, data={"csrf_token": token_of(ops, url), "capacity_per_hour": "500000", **form}
    )
    assert r.status_code == 400 and said in r.text

    # the API refuses it by the same rule, on the body's path of the same field
    api = as_bearer(app, "lab")
    r = api.post(
        f"{API}/labs/{lab}/status", json={"kind": "capacity", "capacity_per_hour": TOO_MANY}
    )
    assert r.status_code == 422
    # (the field's path may name the change's kind first: "capacity.capacity_per_hour")
    details = r.get_json()["error"]["details"]
    assert [(d["field"], d["type"]) for d in details] == [
        ("capacity.capacity_per_hour", "capacity.out_of_range")
    ]
    assert _stored(app) == before


@pytest.mark.parametrize(
    ("times", "code", "api_field"),
    [(BACKWARDS, "outage.order", "end"), (TOO_FAR, "outage.out_of_range", "end")],
)
def test_forms_and_api_refuse_the_same_outage_by_the_outage_rule(
    app, as_role, lab_ids, times, code, api_field
):
    lab = lab_ids[0]
    start, end = (parse_ts(t) for t in times)
    err = _service_refusal(app, lab, outage_from=start, outage_to=end)
    assert err.code == code and err.field == "outage_to"
    before = _stored(app)

    c = as_role("lab")
    for lang in ("en", "zh"):
        r = c.post(
            f"/lab/{lab}/status?lang={lang}",
            data={
                "csrf_token": token_of(c, f"/lab/{lab}/"),
                "kind": "outage",
                "outage_from": times[0],
                "outage_to": times[1],
            },
            follow_redirects=True,
        )
        assert "flash-error" in r.text
        assert translate(f"rule.{code}", lang, **err.params) in r.text, lang

    api = as_bearer(app, "lab")
    r = api.post(
        f"{API}/labs/{lab}/status", json={"kind": "outage", "start": times[0], "end": times[1]}
    )
    assert r.status_code == 422
    details = r.get_json()["error"]["details"]
    assert [(d["field"], d["type"]) for d in details] == [(api_field, code)]
    assert _stored(app) == before


def test_every_rule_and_box_state_has_its_label_in_both_languages():
    import inspect
    import re

    from scheduler.domain import BATCH_STATES
    from webui.labels import LABELS

    # a rule's code is the second argument of each RuleViolation(...) it raises
    source = inspect.getsource(rules)
    codes = set(re.findall(r'RuleViolation\(\s*[^,]+,\s*"([a-z_]+\.[a-z_]+)"', source))
    codes |= set(re.findall(r'_within\(\s*[^,]+,\s*"([a-z_]+\.[a-z_]+)"', source))
    assert len(codes) == 16, codes
    keys = {f"rule.{c}" for c in codes} | {f"common.status.{s}" for s in BATCH_STATES}
    assert keys <= LABELS.keys(), keys - LABELS.keys()
    assert {k for k in LABELS if k.startswith("rule.")} == {f"rule.{c}" for c in codes}
    assert all(all(LABELS[k]) for k in keys)
