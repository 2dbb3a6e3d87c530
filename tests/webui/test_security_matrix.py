"""Every page route, every role, every method: who may, who may not (issue #9's matrix).

The table below says which roles each blueprint serves; a route of a
blueprint not in the table fails the test, so a new audience cannot slip in
unchecked. Path parameters are filled with the user's own lab or county and
with another one; ids of other things get a made-up value, since the role
check comes before any lookup. The JSON API has its own matrix in
``test_api_matrix.py``.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from werkzeug.routing import Rule

from tests.support.web import COUNTY, OTHER_COUNTY, token_of

#: blueprint -> roles that may use it (own lab / own county only, for lab and county)
ACCESS = {
    "auth": {"anonymous", "ops", "county", "lab"},
    "ops": {"ops"},
    "bench": {"ops"},
    "lab": {"ops", "lab"},
    "county": {"ops", "county"},
}
OPEN_ENDPOINTS = {"static", "healthz", "auth.login", "auth.index"}
#: checked on their own: logging out in the middle would end the matrix's session
OWN_TESTS = {"auth.logout"}
ROLES = ("anonymous", "ops", "county", "lab")


def page_rules(app: Flask) -> list[Rule]:
    return [
        r
        for r in app.url_map.iter_rules()
        if not r.rule.startswith("/api/") and r.endpoint not in OPEN_ENDPOINTS | OWN_TESTS
    ]


def fill(rule: Rule, lab: str, county: str) -> str:
    values: dict[str, Any] = {}
    for arg in rule.arguments:
        if arg == "lab_id":
            values[arg] = lab
        elif arg == "code":
            values[arg] = county
        elif rule._converters.get(arg).__class__.__name__ == "IntegerConverter":
            values[arg] = 1
        else:
            values[arg] = "x1"
    return rule.build(values, append_unknown=False)[1]  # type: ignore[index]


def test_every_blueprint_is_in_the_table(app):
    unknown = {r.endpoint.split(".")[0] for r in page_rules(app)} - ACCESS.keys()
    assert not unknown, f"add these blueprints to ACCESS: {sorted(unknown)}"


@pytest.mark.parametrize("role", ROLES)
def test_role_matrix(app, as_role, lab_ids, role):
    own_lab, other_lab = lab_ids
    client = app.test_client() if role == "anonymous" else as_role(role)
    token = token_of(client, "/login") if role == "anonymous" else token_of(client)
    checked = 0
    for rule in page_rules(app):
        bp = rule.endpoint.split(".")[0]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            cases = [(own_lab, COUNTY, True), (other_lab, OTHER_COUNTY, False)]
            for lab, county, own in cases:
                if not own and not ({"lab_id", "code"} & set(rule.arguments)):
                    continue
                url = fill(rule, lab, county)
                kwargs: dict[str, Any] = {}
                if method != "GET":
                    kwargs["data"] = {"csrf_token": token}
                r = client.open(url, method=method, **kwargs)
                checked += 1
                allowed = role in ACCESS[bp] and (own or role == "ops")
                where = f"{role} {method} {url}"
                if role == "anonymous" and not allowed:
                    assert r.status_code in (302, 401), f"{where}: {r.status_code}"
                    if r.status_code == 302:
                        assert "/login" in r.headers["Location"], where
                elif not allowed:
                    assert r.status_code == 403, f"{where}: {r.status_code}"
                else:
                    assert r.status_code not in (401, 403, 500), f"{where}: {r.status_code}"
    assert checked > 0


def test_every_form_needs_its_csrf_token(as_role):
    client = as_role("ops")
    app = client.application
    posts = [r for r in page_rules(app) if "POST" in (r.methods or set())]
    posts += [r for r in app.url_map.iter_rules() if r.endpoint in OWN_TESTS]
    assert posts, "no forms to check"
    for rule in posts:
        url = fill(rule, "x", COUNTY)
        r = client.post(url, data={})
        assert r.status_code == 400, f"POST {url} without a CSRF token: {r.status_code}"
