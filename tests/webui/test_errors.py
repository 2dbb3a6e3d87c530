"""A busy database answers 503 with Retry-After (nothing changed), never a 500."""

from __future__ import annotations

from sqlalchemy.exc import OperationalError


def test_database_busy_is_503_json_on_the_api_and_a_page_elsewhere(app):
    def locked() -> str:
        raise OperationalError("INSERT INTO uploads ...", {}, Exception("database is locked"))

    app.add_url_rule("/api/v1/_busy", "busy_api", locked)
    app.add_url_rule("/_busy", "busy_page", locked)
    c = app.test_client()
    r = c.get("/api/v1/_busy")
    assert r.status_code == 503 and r.headers["Retry-After"] == "5"
    assert r.get_json()["error"]["code"] == "busy"
    r = c.get("/_busy?lang=en")
    assert r.status_code == 503 and "nothing was changed" in r.text
