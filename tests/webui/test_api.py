"""The JSON API (/api/v1): every operation's happy path, auth and CSRF, scopes, malformed
requests, the OpenAPI document, and schemathesis fuzzing it in-process.

Who may call what is checked route by route in ``test_api_matrix.py``.
"""

from __future__ import annotations

import io
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from scheduler.store import models as m
from tests.support.api import API, World, as_bearer, bearer_of, world_of
from tests.support.db import fingerprint
from tests.support.web import COUNTY, NOW, OTHER_COUNTY, token_of
from webui import db
from webui import models as wm
from webui.api import schemas as sc

UPLOADS = Path("fixtures/demo/uploads")


@pytest.fixture
def bearer(app: Flask):  # type: ignore[no-untyped-def]
    return lambda username: bearer_of(app, username)


@pytest.fixture
def ops(app: Flask, bearer) -> FlaskClient:  # type: ignore[no-untyped-def]
    """A test client that sends the ops user's bearer token."""
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = bearer("ops")["Authorization"]
    return client


@pytest.fixture
def world(app: Flask, lab_ids: tuple[str, str]) -> World:
    return world_of(app, lab_ids)


def assert_error(r: Any, status: int) -> dict[str, Any]:
    """The response is the API's error shape with this status."""
    assert r.status_code == status, (r.status_code, r.get_data(as_text=True)[:500])
    assert r.mimetype == "application/json"
    body = r.get_json()
    assert set(body) == {"error"}
    err = body["error"]
    assert err["status"] == status and isinstance(err["code"], str) and err["message"]
    assert set(err) <= {"status", "code", "message", "details"}
    assert "Traceback" not in r.get_data(as_text=True)
    return err  # type: ignore[no-any-return]


def ok(r: Any, status: int = 200) -> Any:
    assert r.status_code == status, (r.status_code, r.get_data(as_text=True)[:800])
    assert r.mimetype == "application/json"
    return r.get_json()


def poll(client: FlaskClient, url: str, seconds: float = 60) -> Any:
    """The job at ``url`` once it is done or failed (or as it is after ``seconds``)."""
    deadline = time.monotonic() + seconds
    while True:
        job = ok(client.get(url))
        if job["state"] in ("done", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


def csv_upload(county: str, rows: list[str]) -> bytes:
    header = (
        "county_code,site_id,site_name,lat,lon,window_start,window_end,category,"
        "pool_size,people,tubes,due_at"
    )
    return "\n".join([header, *rows]).encode()


# ---------------------------------------------------------------------------
# the document


def api_routes(app: Flask) -> set[tuple[str, str]]:
    """(OpenAPI path, method) of every API rule in the url_map."""
    out = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(API + "/"):
            continue
        path = re.sub(r"<(?:[^:>]+:)?(\w+)>", r"{\1}", rule.rule)
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            out.add((path, method.lower()))
    return out


def test_openapi_lists_exactly_the_routes_of_the_url_map(app):
    doc = ok(app.test_client().get(f"{API}/openapi.json"))
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert documented == api_routes(app)
    assert len(documented) >= 19


def test_openapi_document_is_valid_openapi_3_1(app):
    import jsonschema_rs
    import schemathesis

    doc = ok(app.test_client().get(f"{API}/openapi.json"))
    assert doc["openapi"].startswith("3.1")
    schema = schemathesis.openapi.from_dict(doc)
    schema.validate()  # the official OAS 3.1 JSON schema
    # every component is a valid JSON Schema 2020-12 schema
    for name, component in doc["components"]["schemas"].items():
        assert jsonschema_rs.meta.is_valid(component), name
    # every operation: parameters, error shape, security as declared
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert op["responses"], (path, method)
            for status, resp in op["responses"].items():
                ref = resp["content"]["application/json"]["schema"]["$ref"]
                # the health check's 503 is its report, with the status a balancer acts on
                if int(status) >= 400 and (path, status) != (f"{API}/health", "503"):
                    assert ref == "#/components/schemas/Error", (path, method, status)
            names = {p["name"] for p in op["parameters"] if p["in"] == "path"}
            assert names == set(re.findall(r"\{(\w+)\}", path))
            if path not in (f"{API}/openapi.json", f"{API}/health"):
                assert {"401", "403"} <= op["responses"].keys()
                assert op["security"]
            if method == "post":
                assert "requestBody" in op and "422" in op["responses"]
    error = doc["components"]["schemas"]["ErrorBody"]
    assert set(error["required"]) == {"status", "code", "message"}


def test_query_and_form_schemas_are_made_once_and_handed_out_as_copies():
    # the framework reads them on every request; a cached one must be pydantic's own
    for model in (sc.BatchQuery, sc.RowQuery, sc.UploadForm):
        made = super(sc.Query, model).model_json_schema()
        first = model.model_json_schema()
        assert first == made
        first["properties"].clear()  # a caller's change does not reach the next caller
        assert model.model_json_schema() == made
        assert model.model_json_schema(mode="serialization") == super(
            sc.Query, model
        ).model_json_schema(mode="serialization")


def test_openapi_needs_no_login_and_everything_else_does(app):
    c = app.test_client()
    assert ok(c.get(f"{API}/openapi.json"))["info"]["title"] == "natsched API"
    err = assert_error(c.get(f"{API}/labs"), 401)
    assert err["code"] == "unauthorized"
    assert c.get(f"{API}/labs").headers["WWW-Authenticate"].startswith("Bearer")


# ---------------------------------------------------------------------------
# labs


def test_labs_list_and_get(app, ops, world):
    labs = ok(ops.get(f"{API}/labs"))["items"]
    assert len(labs) == 25 and labs == sorted(labs, key=lambda x: x["lab_id"])
    assert {"lab_id", "capacity_per_hour", "isolation_ok", "open_hour"} <= labs[0].keys()
    one = ok(ops.get(f"{API}/labs/{world.own_lab}"))
    assert one["lab_id"] == world.own_lab and one["status_changes"] == []
    assert isinstance(one["outages"], list)
    # a lab account sees only its own lab; a county account all of them
    lab = as_bearer(app, "lab")
    assert [x["lab_id"] for x in ok(lab.get(f"{API}/labs"))["items"]] == [world.own_lab]
    assert_error(lab.get(f"{API}/labs/{world.other_lab}"), 403)
    assert len(ok(as_bearer(app, "county").get(f"{API}/labs"))["items"]) == 25
    assert_error(ops.get(f"{API}/labs/NOPE"), 404)


def test_lab_status_goes_through_events_and_asks_for_a_replan(app, world):
    lab = as_bearer(app, "lab")
    url = f"{API}/labs/{world.own_lab}/status"
    r = ok(lab.post(url, json={"kind": "capacity", "capacity_per_hour": 7, "note": "half staff"}))
    assert r["capacity_per_hour"] == 7
    assert r["status_changes"][0]["kind"] == "capacity"
    assert r["status_changes"][0]["user"] == "lab"
    r = ok(
        lab.post(
            url, json={"kind": "outage", "start": "2022-01-09T10:00", "end": "2022-01-09T12:00"}
        )
    )
    assert {"start": "2022-01-09T10:00:00", "end": "2022-01-09T12:00:00"} in r["outages"]
    r = ok(lab.post(url, json={"kind": "normal"}))
    assert [c["kind"] for c in r["status_changes"]][:3] == ["normal", "outage", "capacity"]
    assert not any(o["start"] == "2022-01-09T10:00:00" for o in r["outages"])
    with app.app_context():
        s = db.session()
        actions = s.scalars(
            select(m.AuditLog.action).where(m.AuditLog.target == world.own_lab)
        ).all()
        assert actions == ["lab capacity", "lab outage", "lab normal"]
        req = s.get(m.Setting, "replan_request")
        assert req is not None and any(world.own_lab in x for x in req.value["reasons"])
    # an outage that ends before it starts, or far away, is refused field by field
    err = assert_error(
        lab.post(
            url, json={"kind": "outage", "start": "2022-01-09T12:00", "end": "2022-01-09T10:00"}
        ),
        422,
    )
    assert err["details"][0]["field"] == "end"
    err = assert_error(
        lab.post(
            url, json={"kind": "outage", "start": "2022-01-09T12:00", "end": "2099-01-09T10:00"}
        ),
        422,
    )
    assert [d["field"] for d in err["details"]] == ["end"]
    # another lab's status: 403
    assert_error(lab.post(f"{API}/labs/{world.other_lab}/status", json={"kind": "normal"}), 403)


# ---------------------------------------------------------------------------
# sites and uploads


def test_sites_by_county_and_paged(app, ops):
    all_sites = ok(ops.get(f"{API}/sites?per_page=1000"))
    assert all_sites["total"] == 88 and len(all_sites["items"]) == 88
    mine = ok(ops.get(f"{API}/sites?county={COUNTY}&per_page=5&page=2"))
    assert mine["page"] == 2 and len(mine["items"]) <= 5
    assert all(s["county_code"] == COUNTY for s in mine["items"])
    county = as_bearer(app, "county")
    own = ok(county.get(f"{API}/sites?per_page=1000"))
    assert own["total"] == ok(ops.get(f"{API}/sites?county={COUNTY}"))["total"] > 0
    assert {s["county_code"] for s in own["items"]} == {COUNTY}
    assert_error(county.get(f"{API}/sites?county={OTHER_COUNTY}"), 403)


def test_upload_dry_run_then_commit_then_list(app):
    app.config["UPLOAD_MAX_FUTURE_HOURS"] = 48.0
    county = as_bearer(app, "county")
    f = UPLOADS / f"{COUNTY}.xlsx"

    def send(mode: str) -> Any:
        return county.post(
            f"{API}/uploads",
            data={"file": (io.BytesIO(f.read_bytes()), f.name), "mode": mode},
            content_type="multipart/form-data",
        )

    dry = ok(send("dry-run"))
    assert dry["status"] == "dry-run" and dry["errors"] == [] and dry["rows_valid"] > 0
    assert dry["county_code"] == COUNTY and dry["upload_id"] is None
    with app.app_context():
        assert db.session().scalar(select(m.Upload.id)) is None  # a dry run stores nothing
    r = send("commit")
    stored = ok(r, 201)
    assert r.headers["Location"] == f"{API}/uploads/{stored['upload_id']}"
    assert stored["status"] == "stored" and stored["rows_stored"] == dry["rows_valid"]
    again = ok(send("commit"), 200)
    assert again["status"] == "duplicate" and again["upload_id"] == stored["upload_id"]
    listed = ok(county.get(f"{API}/uploads"))
    assert listed["total"] == 1 and listed["items"][0]["id"] == stored["upload_id"]
    assert listed["items"][0]["outcome"] == "stored" and listed["items"][0]["user"] == "county"
    one = ok(county.get(f"{API}/uploads/{stored['upload_id']}"))
    assert one["errors"] == [] and one["filename"] == f.name
    # another county's office sees none of it
    other = as_bearer(app, "county_other")
    assert ok(other.get(f"{API}/uploads"))["total"] == 0
    assert_error(other.get(f"{API}/uploads/{stored['upload_id']}"), 404)
    assert_error(other.get(f"{API}/uploads?county={COUNTY}"), 403)
    assert ok(as_bearer(app, "ops").get(f"{API}/uploads?county={COUNTY}"))["total"] == 1
    with app.app_context():
        s = db.session()
        assert s.scalar(select(m.AuditLog.id).where(m.AuditLog.action == "upload")) is not None
        assert s.get(m.Setting, "replan_request") is not None


def test_rejected_upload_is_422_with_located_errors_and_stores_nothing(app):
    county = as_bearer(app, "county")
    bad = csv_upload(
        COUNTY,
        [f"{COUNTY},S-NOPE,x,34.0,113.8,2022-01-09T06:00,2022-01-09T07:00,fever_clinic,1,abc,6,"],
    )
    r = county.post(
        f"{API}/uploads",
        data={"file": (io.BytesIO(bad), "bad.csv"), "mode": "commit"},
        content_type="multipart/form-data",
    )
    err = assert_error(r, 422)
    assert err["details"] and all(
        {"row", "column", "value", "rule"} <= d.keys() for d in err["details"]
    )
    assert any(d["row"] == 2 for d in err["details"])
    # the same file as a dry run: 200, the errors in the report
    r = county.post(
        f"{API}/uploads",
        data={"file": (io.BytesIO(bad), "bad.csv")},
        content_type="multipart/form-data",
    )
    rep = ok(r)
    assert rep["status"] == "dry-run" and rep["errors"] and rep["rows_valid"] == 0
    with app.app_context():
        assert db.session().scalar(select(m.Upload.id)) is None


def test_commit_of_good_rows_only_is_201_partial(app):
    other = as_bearer(app, "county_other")
    lines = (UPLOADS / f"{OTHER_COUNTY}.csv").read_text(encoding="utf-8").splitlines()
    bad = lines[1].replace(",fever_clinic,", ",dinosaurs,")
    data = "\n".join([lines[0], lines[1], bad]).encode()

    def send(**extra: str) -> Any:
        return other.post(
            f"{API}/uploads",
            data={"file": (io.BytesIO(data), "part.csv"), "mode": "commit", **extra},
            content_type="multipart/form-data",
        )

    err = assert_error(send(), 422)
    assert [d["row"] for d in err["details"]] == [3]
    rep = ok(send(accept_valid_rows="true"), 201)
    assert rep["status"] == "partial" and rep["rows_stored"] == 1 and len(rep["errors"]) == 1
    one = ok(other.get(f"{API}/uploads/{rep['upload_id']}"))
    assert one["outcome"] == "partial" and one["errors"][0]["row"] == 3


def _tables_but_jobs_and_tokens(app: Flask) -> dict[str, tuple[int, str]]:
    """Every table's fingerprint but the jobs' and the tokens' (a bearer call records its use)."""
    tables = fingerprint(app.extensions["natsched.engine"])
    return {k: v for k, v in tables.items() if k not in ("jobs", "api_tokens")}


def test_a_large_commit_answers_202_and_its_job_stores_the_file_once(app):
    app.config["UPLOAD_MAX_FUTURE_HOURS"] = 48.0
    app.config["UPLOAD_JOB_BYTES"] = 1000
    county = as_bearer(app, "county")
    f = UPLOADS / f"{COUNTY}.xlsx"
    assert f.stat().st_size > 1000

    def send(mode: str = "commit") -> Any:
        return county.post(
            f"{API}/uploads",
            data={"file": (io.BytesIO(f.read_bytes()), f.name), "mode": mode},
            content_type="multipart/form-data",
        )

    dry = ok(send("dry-run"))  # a dry run is answered in the request, whatever the size
    assert dry["status"] == "dry-run" and dry["rows_valid"] > 0
    r = send()
    started = ok(r, 202)
    assert set(started) == {"job_id", "poll_url"}
    assert r.headers["Location"] == started["poll_url"] == f"{API}/jobs/{started['job_id']}"
    job = poll(county, started["poll_url"])
    assert job["state"] == "done" and job["kind"] == "upload", job
    # the result is what the synchronous answer carries
    rep = sc.UploadReportOut.model_validate(job["result"]).model_dump(mode="json")
    assert rep == job["result"]
    assert rep["status"] == "stored" and rep["county_code"] == COUNTY and rep["errors"] == []
    assert rep["rows_stored"] == dry["rows_valid"] and rep["batches_created"] > 0
    with app.app_context():
        s = db.session()
        assert s.scalars(select(m.Upload.id)).all() == [rep["upload_id"]]
        stored = s.scalar(
            select(func.count())
            .select_from(m.SampleCount)
            .where(m.SampleCount.upload_id == rep["upload_id"])
        )
        assert stored == rep["rows_stored"]
    # the same file again, by a job then in the request: a duplicate, stored once
    again = poll(county, ok(send(), 202)["poll_url"])
    assert again["state"] == "done"
    assert again["result"]["status"] == "duplicate"
    assert again["result"]["upload_id"] == rep["upload_id"]
    app.config["UPLOAD_JOB_BYTES"] = f.stat().st_size
    small = ok(send())  # not over the limit: answered in the request
    assert small["status"] == "duplicate" and small["upload_id"] == rep["upload_id"]
    with app.app_context():
        assert db.session().scalars(select(m.Upload.id)).all() == [rep["upload_id"]]
    # another county's office cannot see the job
    assert_error(as_bearer(app, "county_other").get(started["poll_url"]), 404)
    # the document says so
    doc = ok(county.get(f"{API}/openapi.json"))
    accepted = doc["paths"][f"{API}/uploads"]["post"]["responses"]["202"]
    assert accepted["content"]["application/json"]["schema"]["$ref"].endswith("/JobStarted")
    assert "Location" in accepted["headers"]


def test_a_large_refused_commit_fails_its_job_with_located_errors_and_stores_nothing(app):
    app.config["UPLOAD_JOB_BYTES"] = 100
    county = as_bearer(app, "county")
    bad = csv_upload(
        COUNTY,
        [f"{COUNTY},S-NOPE,x,34.0,113.8,2022-01-09T06:00,2022-01-09T07:00,fever_clinic,1,abc,6,"],
    )
    assert len(bad) > 100
    before = _tables_but_jobs_and_tokens(app)
    r = county.post(
        f"{API}/uploads",
        data={"file": (io.BytesIO(bad), "bad.csv"), "mode": "commit"},
        content_type="multipart/form-data",
    )
    job = poll(county, ok(r, 202)["poll_url"])
    assert job["state"] == "failed", job
    errors = job["result"]["errors"]
    assert job["result"]["status"] == "rejected" and job["result"]["filename"] == "bad.csv"
    assert {(e["row"], e["column"]) for e in errors} >= {(2, "site_id"), (2, "people")}
    assert "nothing was stored" in job["message"]
    assert "bad.csv: row 2, column 'site_id'" in job["message"]
    assert "bad.csv: row 2, column 'people'" in job["message"]
    assert _tables_but_jobs_and_tokens(app) == before


def test_upload_form_is_checked(app):
    county = as_bearer(app, "county")
    url = f"{API}/uploads"
    # no file, unknown mode, not-a-boolean
    err = assert_error(
        county.post(
            url,
            data={"mode": "sometimes", "accept_valid_rows": "perhaps"},
            content_type="multipart/form-data",
        ),
        422,
    )
    assert {d["field"] for d in err["details"]} == {"file", "mode", "accept_valid_rows"}
    # another county: 403; an unknown one (ops): 422; ops must say which county
    f = (io.BytesIO(b"x"), "a.csv")
    assert_error(county.post(url, data={"file": f, "county": OTHER_COUNTY}), 403)
    ops = as_bearer(app, "ops")
    err = assert_error(
        ops.post(url, data={"file": (io.BytesIO(b"x"), "a.csv"), "county": "999999"}), 422
    )
    assert err["details"][0]["field"] == "county"
    err = assert_error(ops.post(url, data={"file": (io.BytesIO(b"x"), "a.csv")}), 422)
    assert err["details"][0]["field"] == "county"
    # JSON instead of multipart: 415
    assert_error(county.post(url, json={"mode": "commit"}), 415)


# ---------------------------------------------------------------------------
# batches


def test_batches_list_filters_and_pages(app, ops, world):
    everything = ok(ops.get(f"{API}/batches?per_page=1"))
    assert everything["total"] == 1060 and len(everything["items"]) == 1
    at_lab = ok(ops.get(f"{API}/batches?lab={world.own_lab}&per_page=1000"))
    assert at_lab["total"] > 0 and {b["planned_lab"] for b in at_lab["items"]} == {world.own_lab}
    urgent = ok(ops.get(f"{API}/batches?priority=urgent&county={COUNTY}&per_page=1000"))
    assert all(b["priority"] == "urgent" and b["county_code"] == COUNTY for b in urgent["items"])
    assert ok(ops.get(f"{API}/batches?status=resulted"))["total"] == 0
    page1 = ok(ops.get(f"{API}/batches?per_page=10&page=1"))["items"]
    page2 = ok(ops.get(f"{API}/batches?per_page=10&page=2"))["items"]
    assert page1[-1]["batch_id"] < page2[0]["batch_id"]
    # a county sees its county's batches only; a lab those planned there only
    county = as_bearer(app, "county")
    mine = ok(county.get(f"{API}/batches?per_page=1000"))
    assert mine["total"] > 0 and {b["county_code"] for b in mine["items"]} == {COUNTY}
    assert_error(county.get(f"{API}/batches?county={OTHER_COUNTY}"), 403)
    lab = as_bearer(app, "lab")
    ours = ok(lab.get(f"{API}/batches?per_page=1000"))
    assert ours["total"] == at_lab["total"]
    assert_error(lab.get(f"{API}/batches?lab={world.other_lab}"), 403)


def test_batch_detail_has_its_lab_and_slots(app, ops, world):
    b = ok(ops.get(f"{API}/batches/{world.lab_batch}"))
    assert b["planned_lab"] == world.own_lab and b["plan_id"] == world.pub_plan
    assert b["slots"] and sum(x["tubes"] for x in b["slots"]) == b["tubes"]
    assert b["status"] == "planned" and b["retests"] == []
    assert ok(as_bearer(app, "lab").get(f"{API}/batches/{world.lab_batch}"))["batch_id"]
    assert_error(as_bearer(app, "lab").get(f"{API}/batches/{world.other_lab_batch}"), 404)
    assert ok(as_bearer(app, "county").get(f"{API}/batches/{world.county_batch}"))
    assert_error(as_bearer(app, "county").get(f"{API}/batches/{world.other_county_batch}"), 404)
    assert_error(ops.get(f"{API}/batches/NOPE"), 404)


def test_batch_status_moves_forward_only(app, world):
    lab = as_bearer(app, "lab")
    url = f"{API}/batches/{world.lab_batch}/status"
    r = ok(lab.post(url, json={"status": "picked_up", "lab_id": world.own_lab}))
    assert r["status"] == "picked_up" and r["pinned_lab"] == world.own_lab
    assert ok(lab.post(url, json={"status": "received"}))["status"] == "received"
    err = assert_error(lab.post(url, json={"status": "planned"}), 409)
    assert "cannot go back" in err["message"]
    # a lab may not send a box to another lab, nor touch another lab's boxes
    assert_error(lab.post(url, json={"status": "processing", "lab_id": world.other_lab}), 403)
    assert_error(
        lab.post(f"{API}/batches/{world.other_lab_batch}/status", json={"status": "picked_up"}),
        404,
    )
    # ops may, through the same event; an unknown lab is a field error
    ops = as_bearer(app, "ops")
    err = assert_error(
        ops.post(
            f"{API}/batches/{world.other_lab_batch}/status",
            json={"status": "picked_up", "lab_id": "NOPE"},
        ),
        422,
    )
    assert err["details"][0]["field"] == "lab_id"
    with app.app_context():
        s = db.session()
        audit = s.scalars(
            select(m.AuditLog.detail).where(
                m.AuditLog.action == "batch status", m.AuditLog.target == world.lab_batch
            )
        ).all()
        assert [a["status"] for a in audit] == ["picked_up", "received"]


def test_batch_status_undo_restores_the_last_change_within_the_window(app, world):
    lab = as_bearer(app, "lab")
    url = f"{API}/batches/{world.lab_batch}/status"
    ok(lab.post(url, json={"status": "picked_up", "lab_id": world.own_lab}))
    ok(lab.post(url, json={"status": "received"}))
    r = ok(lab.post(f"{url}/undo", json={"note": "scanned the wrong box"}))
    assert (r["status"], r["pinned_lab"]) == ("picked_up", world.own_lab)
    # the undo is the last change: nothing more to undo, the pickup stays
    err = assert_error(lab.post(f"{url}/undo"), 409)
    assert err["details"][0]["type"] == "batch_status.nothing_to_undo"
    ok(lab.post(url, json={"status": "received"}))
    with app.app_context():
        s = db.session()
        row = s.scalars(
            select(m.AuditLog)
            .where(m.AuditLog.target == world.lab_batch)
            .order_by(m.AuditLog.id.desc())
        ).first()
        row.at = row.at.replace(year=row.at.year - 1)
        s.commit()
        undo = s.scalars(
            select(m.AuditLog.detail).where(m.AuditLog.action == "batch status undo")
        ).one()
        assert undo["note"] == "scanned the wrong box" and undo["undone"] == "received"
    err = assert_error(lab.post(f"{url}/undo"), 409)
    assert err["details"][0]["type"] == "batch_status.undo_expired"
    assert ok(lab.get(f"{API}/batches/{world.lab_batch}"))["status"] == "received"
    # another lab's box is not found for a lab, a county may not undo
    assert_error(lab.post(f"{API}/batches/{world.other_lab_batch}/status/undo"), 404)
    assert_error(as_bearer(app, "county").post(f"{url}/undo"), 403)
    doc = ok(as_bearer(app, "ops").get(f"{API}/openapi.json"))
    assert "post" in doc["paths"]["/api/v1/batches/{batch_id}/status/undo"]


def test_positive_pool_makes_an_urgent_retest(app, world):
    lab = as_bearer(app, "lab")
    url = f"{API}/batches/{world.lab_batch}/positive-pool"
    r = lab.post(url, json={"positive_tubes": 1, "recall_minutes": 60})
    out = ok(r, 201)
    assert out["batch_id"] == f"{world.lab_batch}-R1" and out["parent_batch_id"] == world.lab_batch
    assert r.headers["Location"] == f"{API}/batches/{world.lab_batch}-R1"
    ops = as_bearer(app, "ops")
    retest = ok(ops.get(r.headers["Location"]))
    assert retest["priority"] == "urgent" and retest["isolation"] is True
    assert retest["tubes"] == out["tubes"] and retest["parent_batch_id"] == world.lab_batch
    assert ok(ops.get(f"{API}/batches/{world.lab_batch}"))["retests"] == [out["batch_id"]]
    assert ok(lab.post(url, json={}), 201)["batch_id"] == f"{world.lab_batch}-R2"
    err = assert_error(lab.post(url, json={"positive_tubes": 10_000}), 422)
    assert err["details"][0]["field"] == "positive_tubes"
    # a single-tube batch holds cases, not pools: the event refuses it
    with app.app_context():
        single = db.session().scalar(
            select(m.Batch.batch_id).where(m.Batch.people == m.Batch.tubes).limit(1)
        )
    assert_error(ops.post(f"{API}/batches/{single}/positive-pool", json={}), 409)


# ---------------------------------------------------------------------------
# plans, KPIs, re-planning, jobs


def test_plans_list_get_rows_and_diff(app, ops, world):
    plans = ok(ops.get(f"{API}/plans"))
    assert plans["total"] == 1 and plans["items"][0]["published"] is True
    assert ok(ops.get(f"{API}/plans?published=false"))["total"] == 0
    assert ok(ops.get(f"{API}/plans?published=true"))["total"] == 1
    p = ok(ops.get(f"{API}/plans/{world.pub_plan}"))
    assert p["rows"] > 0 and p["batches"] > 0 and p["score"] is not None
    assert {"urgent", "high", "routine"} <= p["per_priority"].keys()
    urgent = p["per_priority"]["urgent"]
    assert urgent["on_time_rate"] == pytest.approx(urgent["tubes_on_time"] / urgent["tubes"])
    rows = ok(ops.get(f"{API}/plans/{world.pub_plan}/rows?per_page=50"))
    assert rows["total"] == p["rows"] and len(rows["items"]) == 50
    one = ok(ops.get(f"{API}/plans/{world.pub_plan}/rows?batch={world.lab_batch}"))
    assert {r["lab_id"] for r in one["items"]} == {world.own_lab}
    at_lab = ok(ops.get(f"{API}/plans/{world.pub_plan}/rows?lab={world.own_lab}&per_page=1000"))
    assert {r["lab_id"] for r in at_lab["items"]} == {world.own_lab}
    same = ok(ops.get(f"{API}/plans/{world.pub_plan}/diff/{world.pub_plan}"))
    assert same["total"] == 0 and same["moves"] == []
    # a second version that moves one batch to another lab
    with app.app_context():
        s = db.session()
        old = s.get(m.PlanVersion, world.pub_plan)
        assert old is not None
        new = m.PlanVersion(
            created_at=NOW,
            plan_start=old.plan_start,
            solver="test",
            status="feasible",
            published=False,
            figures={},
            rows=[
                m.PlanRow(
                    batch_id=r.batch_id,
                    lab_id=world.other_lab if r.batch_id == world.lab_batch else r.lab_id,
                    slot_start=r.slot_start,
                    tubes=r.tubes,
                )
                for r in old.rows
            ],
        )
        s.add(new)
        s.commit()
        new_id = new.id
    diff = ok(ops.get(f"{API}/plans/{world.pub_plan}/diff/{new_id}"))
    assert diff["from_plan"] == world.pub_plan and diff["to_plan"] == new_id
    assert diff["total"] == 1 and diff["moves"][0]["batch_id"] == world.lab_batch
    move = diff["moves"][0]
    assert (move["from_lab"], move["to_lab"]) == (world.own_lab, world.other_lab)
    assert move["why"] and move["to_last_slot"]
    assert ok(ops.get(f"{API}/plans?published=false"))["items"][0]["id"] == new_id
    assert_error(ops.get(f"{API}/plans/99999"), 404)
    assert_error(ops.get(f"{API}/plans/99999/rows"), 404)
    assert_error(ops.get(f"{API}/plans/{world.pub_plan}/diff/99999"), 404)
    assert_error(ops.get(f"{API}/plans/{2**40}"), 404)  # beyond the id range: no route


def test_kpis_of_the_published_plan(app, ops, world):
    k = ok(ops.get(f"{API}/kpis"))
    assert k["plan_id"] == world.pub_plan and k["evaluated_at"] == NOW.isoformat()
    assert k["valid"] is True and k["n_violations"] == 0
    assert k["score"] == pytest.approx(k["solver_score"])
    assert k["bound"] is not None and k["gap"] is not None
    for prio in ("urgent", "high", "routine"):
        kpi = k["per_priority"][prio]
        assert 0.0 <= kpi["on_time_rate"] <= 1.0 and kpi["tubes"] > 0
    assert sum(v["tubes"] for v in k["per_priority"].values()) == k["total_tubes"]


def test_a_late_progress_report_leaves_a_finished_job_at_one(app, ops):
    # The re-plan job's progress ticker runs in its own thread; a report that
    # lands after the job finished once turned a done job back to 53 %.
    from webui.jobs import jobs_of

    late: list[Any] = []

    def work(ctx: Any) -> dict[str, Any]:
        ctx.progress(0.4, "half way")
        late.append(ctx)
        return {}

    job_id = jobs_of(app).submit("replan", "ops", work, run_inline=True)
    late[0].progress(0.53, "solving: 31 s")
    job = ok(ops.get(f"{API}/jobs/{job_id}"))
    assert job["state"] == "done" and job["progress"] == 1.0


def test_replan_answers_202_with_a_job_to_poll(app, ops):
    r = ops.post(f"{API}/replan", json={"reason": "testing"})
    started = ok(r, 202)
    assert r.headers["Location"] == started["poll_url"] == f"{API}/jobs/{started['job_id']}"
    job = poll(ops, started["poll_url"])
    assert job["state"] == "done", job
    assert job["kind"] == "replan" and job["progress"] == 1.0
    assert job["result"]["plan_id"] > 1
    new = ok(ops.get(f"{API}/plans/{job['result']['plan_id']}"))
    assert new["status"] != "running"
    # with no body at all, too
    assert ok(ops.post(f"{API}/replan"), 202)["job_id"]
    assert ok(ops.get(f"{API}/plans"))["total"] >= 2
    # another user's job is invisible to a county or lab account; unknown ids are 404
    assert_error(as_bearer(app, "county").get(started["poll_url"]), 404)
    assert_error(ops.get(f"{API}/jobs/nope"), 404)


def test_own_jobs_are_visible_to_their_user(app):
    with app.app_context():
        s = db.session()
        s.add(
            wm.Job(
                id="j-county",
                kind="upload",
                user="county",
                created_at=NOW,
                state="done",
                progress=1.0,
                message="",
                result={"n": 1},
            )
        )
        s.commit()
    assert ok(as_bearer(app, "county").get(f"{API}/jobs/j-county"))["result"] == {"n": 1}
    assert_error(as_bearer(app, "county_other").get(f"{API}/jobs/j-county"), 404)
    assert_error(as_bearer(app, "lab").get(f"{API}/jobs/j-county"), 404)


# ---------------------------------------------------------------------------
# authentication and CSRF


def test_token_auth_needs_no_csrf(app, world):
    lab = as_bearer(app, "lab")
    r = lab.post(f"{API}/labs/{world.own_lab}/status", json={"kind": "normal"})
    assert r.status_code == 200
    assert "Set-Cookie" not in r.headers  # a token call starts no session


def test_session_writes_need_the_csrf_header(app, as_role, world):
    c = as_role("lab")
    url = f"{API}/labs/{world.own_lab}/status"
    err = assert_error(c.post(url, json={"kind": "normal"}), 400)
    assert err["code"] == "csrf_failed"
    err = assert_error(c.post(url, json={"kind": "normal"}, headers={"X-CSRFToken": "forged"}), 400)
    assert err["code"] == "csrf_failed"
    token = token_of(c)
    assert c.post(url, json={"kind": "normal"}, headers={"X-CSRFToken": token}).status_code == 200
    # reads need no token
    assert c.get(f"{API}/labs/{world.own_lab}").status_code == 200


def test_wrong_or_revoked_tokens_are_401_even_with_a_session(app, as_role, bearer):
    c = as_role("ops")
    assert c.get(f"{API}/labs").status_code == 200
    assert_error(c.get(f"{API}/labs", headers={"Authorization": "Bearer nst_wrong"}), 401)
    assert_error(c.get(f"{API}/labs", headers={"Authorization": "Basic b3BzOng="}), 401)
    header = bearer("lab")
    assert app.test_client().get(f"{API}/kpis", headers=header).status_code == 403
    with app.app_context():
        s = db.session()
        for t in s.scalars(select(wm.ApiToken)):
            t.revoked = True
        s.commit()
    assert_error(app.test_client().get(f"{API}/labs", headers=header), 401)


def test_token_identity_wins_over_the_session_cookie(app, as_role, bearer):
    c = as_role("ops")
    # the lab's token on an ops session: the call is the lab's
    assert_error(c.get(f"{API}/kpis", headers=bearer("lab")), 403)
    assert c.get(f"{API}/kpis").status_code == 200


def test_token_use_is_recorded(app, bearer):
    header = bearer("county")
    app.test_client().get(f"{API}/labs", headers=header)
    with app.app_context():
        used = db.session().scalar(select(wm.ApiToken.last_used_at))
    assert used == NOW


# ---------------------------------------------------------------------------
# malformed requests: always 4xx, always the error shape


MALFORMED_BODIES = [
    # (body, content type, status, a field the details must name or None)
    ('{"status": 3}', "application/json", 422, "status"),
    ('{"status": "eaten"}', "application/json", 422, "status"),
    ("{}", "application/json", 422, "status"),
    ('{"status": "picked_up", "colour": "red"}', "application/json", 422, "colour"),
    ('{"status": "picked_up", "lab_id": 7}', "application/json", 422, "lab_id"),
    ('{"status": ', "application/json", 400, None),
    ("[1, 2]", "application/json", 400, None),
    ('"picked_up"', "application/json", 400, None),
    ("null", "application/json", 400, None),
    ('{"status": NaN}', "application/json", 400, None),
    (b"\xff\xfe{}", "application/json", 400, None),
    ('{"status": "picked_up"}', "text/plain", 415, None),
    ("status=picked_up", "application/x-www-form-urlencoded", 415, None),
    ("", "application/json", 400, None),
]


@pytest.mark.parametrize(("body", "ctype", "status", "field"), MALFORMED_BODIES)
def test_malformed_bodies_are_4xx_with_the_error_shape(app, ops, world, body, ctype, status, field):
    r = ops.post(
        f"{API}/batches/{world.lab_batch}/status", data=body, headers={"Content-Type": ctype}
    )
    err = assert_error(r, status)
    if field is not None:
        assert field in {d["field"] for d in err["details"]}, err
        assert all({"field", "message", "type"} <= d.keys() for d in err["details"])


def test_lab_status_bodies_are_checked_per_kind(app, ops, world):
    url = f"{API}/labs/{world.own_lab}/status"
    for body, field in (
        ({"kind": "capacity"}, "capacity.capacity_per_hour"),
        ({"kind": "capacity", "capacity_per_hour": "10"}, "capacity.capacity_per_hour"),
        ({"kind": "capacity", "capacity_per_hour": -1}, "capacity.capacity_per_hour"),
        ({"kind": "capacity", "capacity_per_hour": 10**12}, "capacity.capacity_per_hour"),
        ({"kind": "outage", "start": "2022-01-09T10:00"}, "outage.end"),
        ({"kind": "outage", "start": "tomorrow", "end": "2022-01-09T12:00"}, "outage.start"),
        (
            {"kind": "outage", "start": "2022-01-09T10:00Z", "end": "2022-01-09T12:00"},
            "outage.start",
        ),
        ({"kind": "broken"}, "(body)"),
        ({"note": "x"}, "(body)"),
        ({"kind": "normal", "note": "x" * 501}, "normal.note"),
    ):
        err = assert_error(ops.post(url, json=body), 422)
        assert field in {d["field"] for d in err["details"]}, (body, err)


def test_huge_bodies_are_413(app, ops, world):
    big = json.dumps({"status": "picked_up", "pad": "x" * 100_000})
    r = ops.post(
        f"{API}/batches/{world.lab_batch}/status", data=big, content_type="application/json"
    )
    assert_error(r, 413)
    small_limit = app.config["MAX_CONTENT_LENGTH"]
    app.config["MAX_CONTENT_LENGTH"] = 1000
    try:
        r = ops.post(
            f"{API}/uploads",
            data={"file": (io.BytesIO(b"x" * 5000), "big.csv"), "county": COUNTY},
            content_type="multipart/form-data",
        )
        assert_error(r, 413)
    finally:
        app.config["MAX_CONTENT_LENGTH"] = small_limit


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("page=0", "page"),
        ("page=x", "page"),
        ("per_page=100000", "per_page"),
        ("status=lost", "status"),
        ("priority=asap", "priority"),
        ("county=41", "county"),
        ("colour=red", "colour"),
        ("page=1&page=2", "page"),
    ],
)
def test_malformed_queries_are_422(ops, query, field):
    err = assert_error(ops.get(f"{API}/batches?{query}"), 422)
    assert field in {d["field"] for d in err["details"]}


def test_a_rule_violation_from_the_service_layer_is_the_api_error_naming_field_and_rule(
    app, ops, world, monkeypatch
):
    """The service layer's one refusal becomes the error shape with its field and rule, at
    the status the API gave the same refusal before the rules moved: 422 for a value (a
    capacity, an outage), 409 for a change the stored state refuses (a box going back)."""
    from scheduler.replan import events
    from scheduler.store.errors import RuleViolation

    def over_capacity(*args: Any, **kwargs: Any) -> Any:
        raise RuleViolation(
            "capacity_per_hour",
            "capacity.out_of_range",
            "capacity_per_hour must be between 0 and 100000",
            value=10,
        )

    def going_back(*args: Any, **kwargs: Any) -> Any:
        raise RuleViolation("status", "batch_status.backwards", "it cannot go back to planned")

    monkeypatch.setattr(events, "lab_status", over_capacity)
    monkeypatch.setattr(events, "batch_status", going_back)
    before = _tables_but_jobs_and_tokens(app)
    err = assert_error(
        ops.post(
            f"{API}/labs/{world.own_lab}/status",
            json={"kind": "capacity", "capacity_per_hour": 10},
        ),
        422,
    )
    assert err["code"] == "invalid"
    assert err["details"] == [
        {
            "field": "capacity.capacity_per_hour",
            "message": "capacity_per_hour must be between 0 and 100000",
            "type": "capacity.out_of_range",
        }
    ]
    err = assert_error(
        ops.post(f"{API}/batches/{world.lab_batch}/status", json={"status": "planned"}), 409
    )
    assert err["code"] == "conflict"
    assert err["details"] == [
        {
            "field": "status",
            "message": "it cannot go back to planned",
            "type": "batch_status.backwards",
        }
    ]
    assert _tables_but_jobs_and_tokens(app) == before


def test_the_real_rules_answer_as_before(app, ops, world):
    """Through the real service function: a box going back is the 409 it was, now naming
    its rule."""
    url = f"{API}/batches/{world.lab_batch}/status"
    ok(ops.post(url, json={"status": "received"}))
    err = assert_error(ops.post(url, json={"status": "picked_up"}), 409)
    assert err["details"] == [
        {"field": "status", "message": err["message"], "type": "batch_status.backwards"}
    ]


def test_unknown_routes_and_methods_answer_json(ops):
    assert_error(ops.get(f"{API}/nothing-here"), 404)
    assert_error(ops.delete(f"{API}/labs"), 405)
    assert_error(ops.get(f"{API}/uploads/-1"), 404)


# ---------------------------------------------------------------------------
# schemathesis: the document against the running app


def test_schemathesis_finds_no_server_error_and_no_schema_mismatch(app, world):
    """Three passes over every operation, logged in as ops by a bearer token: schema-valid
    requests with made-up ids, schema-valid requests on real ids, and schema-invalid
    requests; no 5xx, and every answer's status, content type and body as documented."""
    from datetime import datetime

    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    from scheduler.replan.worker import Beat, write_beat

    app.config["REPLAN_TIME_LIMIT"] = 0.2
    app.config["UPLOAD_MAX_FUTURE_HOURS"] = 48.0
    # a re-planner that beats for the whole run: the health check answers 200, not 5xx
    app.config["HEALTH_WORKER_STALE_SECONDS"] = 1e9
    write_beat(app.extensions["natsched.engine"], Beat("w", NOW, datetime.now(), "idle"))
    headers = bearer_of(app, "ops")
    with app.app_context():
        s = db.session()
        upload = m.Upload(
            county_code=COUNTY,
            user="county",
            received_at=NOW,
            filename="a.csv",
            checksum="0" * 64,
            size_bytes=1,
            mode="commit",
            outcome="stored",
            rows_total=1,
            rows_stored=1,
            errors=[],
        )
        s.add(upload)
        s.add(
            wm.Job(
                id="j1",
                kind="replan",
                user="ops",
                created_at=NOW,
                state="done",
                progress=1.0,
                message="",
                result={},
            )
        )
        s.commit()
        upload_id = upload.id
    real = {
        "lab_id": world.own_lab,
        "batch_id": world.lab_batch,
        "plan_id": world.pub_plan,
        "other_id": world.pub_plan,
        "upload_id": upload_id,
        "job_id": "j1",
    }
    schema = schemathesis.openapi.from_wsgi(f"{API}/openapi.json", app)
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]

    def with_county(case: Any) -> Any:
        if isinstance(case.body, dict):
            case.body["county"] = COUNTY
        return case

    seen: dict[str, dict[int, int]] = {}

    def fuzz(strategy: Any, examples: int, tag: str) -> None:
        @settings(
            max_examples=examples,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def run(case: Any) -> None:
            r = case.call_and_validate(headers=headers, checks=checks)
            counts = seen.setdefault(f"{case.operation.label} {tag}", {})
            counts[r.status_code] = counts.get(r.status_code, 0) + 1

        run()

    passes = [
        (GenerationMode.POSITIVE, False, 15),
        (GenerationMode.POSITIVE, True, 25),
        (GenerationMode.NEGATIVE, True, 10),
    ]
    for mode, real_ids, examples in passes:
        for result in schema.get_all_operations():
            op = result.ok()
            names = {p.name for p in op.path_parameters}
            is_upload = op.label == f"POST {API}/uploads"
            if real_ids and not (names or is_upload) and mode == GenerationMode.POSITIVE:
                continue  # nothing to fix: the first pass did these
            if mode == GenerationMode.NEGATIVE and not (any(op.iter_parameters()) or op.body):
                continue  # no parameter and no body (the health check): nothing to break
            fixed = {k: v for k, v in real.items() if k in names} if real_ids else None
            strategy = op.as_strategy(generation_mode=mode, path_parameters=fixed)
            if real_ids and is_upload and mode == GenerationMode.POSITIVE:
                strategy = strategy.map(with_county)  # a known county: the file is read

            fuzz(strategy, examples, mode.value)
    labels = {k.rsplit(" ", 1)[0] for k in seen}
    # schemathesis leaves out the document's own operation
    assert {tuple(x.split(" ")) for x in labels} == {
        (method.upper(), path) for path, method in api_routes(app)
    } - {("GET", f"{API}/openapi.json")}
    # the real-id pass got past the lookups
    assert any(code < 300 for k, v in seen.items() if "{batch_id}/status" in k for code in v), seen
    # bounded by the example counts (about 40 s on an idle machine), not by a clock
