"""Every API route, every role, every method: the status each role gets (issue #9's matrix).

One table, ``TABLE``, says for each (endpoint, method) what each role gets
when it asks about something in its own part of the world (its lab, its
county, its records) and, where a route names a lab, county or record, about
someone else's. A route in the url_map under /api/v1 without an entry fails
the test, so a new operation cannot slip in unchecked.

The rule the table follows (and the OpenAPI document states): 401 without
login; 403 for an operation the role may not use, or for naming a county or
lab that is not yours; 404 for a record (batch, upload, job) of another
county, lab or user, as for an unknown id.

Logged-in roles use the session cookie with the CSRF header here; bearer
tokens are checked in ``test_api.py``.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule

from scheduler.replan.worker import Beat, write_beat
from scheduler.store import models as m
from tests.support.api import World, world_of
from tests.support.web import COUNTY, NOW, OTHER_COUNTY, token_of
from webui import db
from webui import models as wm

API = "/api/v1"
ROLES = ("anonymous", "ops", "county", "lab")
UPLOADS = Path("fixtures/demo/uploads")
Statuses = dict[str, int]


def _all(anonymous: int, ops: int, county: int, lab: int) -> Statuses:
    return {"anonymous": anonymous, "ops": ops, "county": county, "lab": lab}


@dataclass(frozen=True)
class Entry:
    own: Statuses
    #: when the route names a lab, county or record: asking about someone else's
    other: Statuses | None = None
    #: query string for own / other (``{county}``, ``{other_county}``, ``{other_lab}`` filled)
    own_query: str = ""
    other_query: str | dict[str, str] = ""
    json: dict[str, Any] | None = None
    upload: bool = False
    ctx: dict[str, Any] = field(default_factory=dict)


OPS_ONLY = Entry(own=_all(401, 200, 403, 403))

TABLE: dict[tuple[str, str], Entry] = {
    ("api.openapi_doc", "GET"): Entry(own=_all(200, 200, 200, 200)),
    ("api.health", "GET"): Entry(own=_all(200, 200, 200, 200)),
    ("api.list_labs", "GET"): Entry(own=_all(401, 200, 200, 200)),
    ("api.get_lab", "GET"): Entry(own=_all(401, 200, 200, 200), other=_all(401, 200, 200, 403)),
    ("api.lab_status", "POST"): Entry(
        own=_all(401, 200, 403, 200),
        other=_all(401, 200, 403, 403),
        json={"kind": "capacity", "capacity_per_hour": 50},
    ),
    ("api.list_sites", "GET"): Entry(
        own=_all(401, 200, 200, 403),
        other=_all(401, 200, 403, 403),
        own_query="county={county}",
        other_query="county={other_county}",
    ),
    ("api.post_upload", "POST"): Entry(
        own=_all(401, 200, 200, 403), other=_all(401, 200, 403, 403), upload=True
    ),
    ("api.list_uploads", "GET"): Entry(
        own=_all(401, 200, 200, 403),
        other=_all(401, 200, 403, 403),
        own_query="county={county}",
        other_query="county={other_county}",
    ),
    ("api.get_upload", "GET"): Entry(own=_all(401, 200, 200, 403), other=_all(401, 200, 404, 403)),
    ("api.list_batches", "GET"): Entry(
        own=_all(401, 200, 200, 200),
        other=_all(401, 200, 403, 403),
        other_query={
            "anonymous": "county={other_county}",
            "ops": "county={other_county}",
            "county": "county={other_county}",
            "lab": "lab={other_lab}",
        },
    ),
    ("api.get_batch", "GET"): Entry(own=_all(401, 200, 200, 200), other=_all(401, 200, 404, 404)),
    ("api.batch_status", "POST"): Entry(
        own=_all(401, 200, 403, 200),
        other=_all(401, 200, 403, 404),
        json={"status": "picked_up"},
    ),
    # undoes the status change just made by the row above
    ("api.undo_batch_status", "POST"): Entry(
        own=_all(401, 200, 403, 200), other=_all(401, 200, 403, 404), json={}
    ),
    ("api.positive_pool", "POST"): Entry(
        own=_all(401, 201, 403, 201), other=_all(401, 201, 403, 404), json={}
    ),
    ("api.list_plans", "GET"): OPS_ONLY,
    ("api.get_plan", "GET"): OPS_ONLY,
    ("api.plan_rows", "GET"): OPS_ONLY,
    ("api.plan_diff", "GET"): OPS_ONLY,
    ("api.kpis", "GET"): OPS_ONLY,
    ("api.replan", "POST"): Entry(own=_all(401, 202, 403, 403), json={"reason": "matrix"}),
    ("api.get_job", "GET"): Entry(own=_all(401, 200, 200, 200), other=_all(401, 200, 404, 404)),
}


def api_rules(app: Flask) -> list[tuple[Rule, str]]:
    return [
        (rule, method)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(API + "/")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
    ]


def test_every_api_route_is_in_the_table(app):
    routes = {(rule.endpoint, method) for rule, method in api_rules(app)}
    missing = routes - TABLE.keys()
    assert not missing, f"add these API routes to TABLE: {sorted(missing)}"
    assert not TABLE.keys() - routes, "TABLE names routes that are gone"


@dataclass(frozen=True)
class Ids:
    world: World
    upload_own: int
    upload_other: int


def _ids(app: Flask, lab_ids: tuple[str, str]) -> Ids:
    world = world_of(app, lab_ids)
    with app.app_context():
        s = db.session()
        ups = []
        for county in (COUNTY, OTHER_COUNTY):
            u = m.Upload(
                county_code=county,
                user="x",
                received_at=NOW,
                filename=f"{county}.csv",
                checksum=county * 10,
                size_bytes=1,
                mode="commit",
                outcome="stored",
                rows_total=1,
                rows_stored=1,
                errors=[],
            )
            s.add(u)
            ups.append(u)
        for user in ("ops", "county", "county_other", "lab", "lab_other"):
            s.add(
                wm.Job(
                    id=f"job-{user}",
                    kind="replan",
                    user=user,
                    created_at=NOW,
                    state="done",
                    progress=1.0,
                    message="",
                    result={},
                )
            )
        s.commit()
    # a re-planner beats: the health check answers 200 (its 503 has a shape of its own)
    app.config["HEALTH_WORKER_STALE_SECONDS"] = 1e9
    write_beat(app.extensions["natsched.engine"], Beat("w", NOW, datetime.now(), "idle"))
    return Ids(world, ups[0].id, ups[1].id)


def _values(rule: Rule, role: str, own: bool, ids: Ids) -> dict[str, Any]:
    w = ids.world
    own_batch = {"county": w.county_batch, "lab": w.lab_batch}.get(role, w.lab_batch)
    other_batch = {"lab": w.other_lab_batch}.get(role, w.other_county_batch)
    user = role if role != "anonymous" else "ops"
    pick = {
        "lab_id": w.own_lab if own else w.other_lab,
        "batch_id": own_batch if own else other_batch,
        "upload_id": ids.upload_own if own else ids.upload_other,
        "job_id": f"job-{user}" if own else "job-county_other",
        "plan_id": w.pub_plan,
        "other_id": w.pub_plan,
    }
    return {arg: pick[arg] for arg in rule.arguments}


def _names_something(rule: Rule, entry: Entry) -> bool:
    return bool(rule.arguments - {"plan_id", "other_id"}) or bool(entry.other_query) or entry.upload


def _request(
    client: FlaskClient,
    rule: Rule,
    method: str,
    entry: Entry,
    role: str,
    own: bool,
    ids: Ids,
    csrf: str | None,
) -> Any:
    url = rule.build(_values(rule, role, own, ids), append_unknown=False)[1]  # type: ignore[index]
    query = entry.own_query if own else entry.other_query
    if isinstance(query, dict):
        query = query[role]
    if query:
        url += "?" + query.format(
            county=COUNTY, other_county=OTHER_COUNTY, other_lab=ids.world.other_lab
        )
    kwargs: dict[str, Any] = {}
    if csrf is not None and method != "GET":
        kwargs["headers"] = {"X-CSRFToken": csrf}
    if entry.json is not None:
        kwargs["json"] = entry.json
    if entry.upload:
        county = COUNTY if own else OTHER_COUNTY
        f = next(UPLOADS.glob(f"{county}.*"))
        kwargs["data"] = {"file": (io.BytesIO(f.read_bytes()), f.name), "county": county}
        kwargs["content_type"] = "multipart/form-data"
    return client.open(url, method=method, **kwargs)


Check = Callable[[str, Any], None]


@pytest.mark.parametrize("role", ROLES)
def test_api_role_matrix(app, as_role, lab_ids, role):
    ids = _ids(app, lab_ids)
    client = app.test_client() if role == "anonymous" else as_role(role)
    csrf = None if role == "anonymous" else token_of(client)
    checked, wrong = 0, []
    for rule, method in api_rules(app):
        entry = TABLE[(rule.endpoint, method)]
        cases = [(True, entry.own)]
        if _names_something(rule, entry):
            assert entry.other is not None, f"{rule.endpoint} names a lab/county: say `other`"
            cases.append((False, entry.other))
        for own, expect in cases:
            r = _request(client, rule, method, entry, role, own, ids, csrf)
            checked += 1
            want = expect[role]
            if r.status_code != want:
                wrong.append(
                    (
                        method,
                        rule.rule,
                        "own" if own else "other",
                        r.status_code,
                        want,
                        r.get_data(as_text=True)[:200],
                    )
                )
            assert r.mimetype == "application/json", (rule.rule, r.mimetype)
            if r.status_code >= 400:
                assert set(r.get_json()["error"]) >= {"status", "code", "message"}
    assert not wrong, "\n".join(map(str, wrong))
    assert checked >= len(TABLE)
