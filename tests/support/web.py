"""The web tests' demo world as each audience meets it: its clock, password, counties,
and logging in through the forms (a CSRF token read off the page).

The fixtures that build the app over this world are in ``tests/webui/conftest.py``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

NOW = datetime(2022, 1, 9, 8, 0)
PASSWORD = "correct horse 42"
DEMO = Path("fixtures/demo")
#: one user per role; the county and lab are the demo's first ones
COUNTY = "411002"
OTHER_COUNTY = "411003"

#: ``make_app(**settings)``, the fixture of tests/webui/conftest.py
MakeApp = Callable[..., Flask]


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf-token" content="([^"]+)"', html) or re.search(
        r'name="csrf_token"[^>]*value="([^"]+)"', html
    )
    assert m, "no CSRF token on the page"
    return m.group(1)


def login(client: FlaskClient, username: str, password: str = PASSWORD) -> FlaskClient:
    page = client.get("/login")
    r = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_of(page.text)},
    )
    assert r.status_code == 302, f"login as {username} failed: {r.status_code}"
    return client


def token_of(client: FlaskClient, path: str = "/") -> str:
    """The CSRF token a logged-in page carries (for forms and fetch calls)."""
    return csrf_of(client.get(path, follow_redirects=True).text)
