"""Logging in and out, roles on the landing page, and the security settings every page has."""

from __future__ import annotations

from tests.support.web import PASSWORD, csrf_of


def test_each_role_lands_on_its_own_page(as_role, lab_ids):
    assert as_role("ops").get("/").headers["Location"] == "/ops/"
    assert as_role("county").get("/").headers["Location"] == "/county/411002/"
    assert as_role("lab").get("/").headers["Location"] == f"/lab/{lab_ids[0]}/"


def test_wrong_password_is_refused_and_says_so(app):
    c = app.test_client()
    page = c.get("/login?lang=en")
    r = c.post(
        "/login", data={"username": "ops", "password": "nope", "csrf_token": csrf_of(page.text)}
    )
    assert r.status_code == 401 and "Wrong user name or password" in r.text
    assert c.get("/ops/").status_code == 302  # still not logged in


def test_login_without_csrf_token_is_refused(app):
    r = app.test_client().post("/login", data={"username": "ops", "password": PASSWORD})
    assert r.status_code == 400


def test_login_is_rate_limited(app):
    c = app.test_client()
    token = csrf_of(c.get("/login").text)
    codes = [
        c.post("/login", data={"username": "ops", "password": "x", "csrf_token": token}).status_code
        for _ in range(12)
    ]
    assert codes[0] == 401 and codes[-1] == 429


def test_next_never_leaves_the_site(app):
    c = app.test_client()
    token = csrf_of(c.get("/login").text)
    for target, expect in (
        ("https://evil.example/", "/ops/"),
        ("//evil.example", "/ops/"),
        ("/ops/", "/ops/"),
    ):
        c2 = app.test_client()
        token = csrf_of(c2.get("/login").text)
        r = c2.post(
            f"/login?next={target}",
            data={"username": "ops", "password": PASSWORD, "csrf_token": token},
        )
        assert r.headers["Location"] == expect


def test_session_cookie_flags_and_security_headers(app):
    c = app.test_client()
    token = csrf_of(c.get("/login").text)
    r = c.post("/login", data={"username": "ops", "password": PASSWORD, "csrf_token": token})
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    r = app.test_client().get("/login", base_url="https://localhost")
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Frame-Options"] == "DENY"
    c = app.test_client()
    page = c.get("/login", base_url="https://localhost")
    r = c.post(
        "/login",
        base_url="https://localhost",
        data={"username": "ops", "password": PASSWORD, "csrf_token": csrf_of(page.text)},
        headers={"Referer": "https://localhost/login"},
    )
    assert "Secure" in r.headers["Set-Cookie"]


def test_logout_needs_post_and_ends_the_session(as_role):
    c = as_role("ops")
    token = csrf_of(c.get("/ops/").text)
    assert c.get("/logout").status_code == 405
    assert c.post("/logout", data={"csrf_token": token}).status_code == 302
    assert c.get("/ops/").status_code == 302


def test_pages_speak_chinese_when_asked(app):
    c = app.test_client()
    assert "登录" in c.get("/login?lang=zh").text
    assert "登录" in c.get("/login").text  # remembered in the session
    assert "Log in" in app.test_client().get("/login", headers={"Accept-Language": "en"}).text


def test_passwords_are_stored_hashed_with_scrypt(app):
    from sqlalchemy import select

    from webui import db
    from webui import models as wm

    with app.app_context():
        h = db.session().scalar(select(wm.User.password_hash).where(wm.User.username == "ops"))
    assert h.startswith("scrypt:") and PASSWORD not in h


def test_roles_are_kept_apart(as_role, lab_ids):
    assert as_role("county").get("/ops/").status_code == 403
    assert as_role("county").get("/county/411003/").status_code == 403
    assert as_role("lab").get(f"/lab/{lab_ids[1]}/").status_code == 403
    assert as_role("lab").get("/county/411002/").status_code == 403
    assert as_role("ops").get(f"/lab/{lab_ids[1]}/").status_code == 200
