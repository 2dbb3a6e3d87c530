"""Logins behind one proxy: failures limited per account, a generous cap per address,
forwarded addresses believed only behind a configured proxy, and scrypt bounded."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from scheduler.store import models as m
from tests.support.web import PASSWORD, MakeApp, csrf_of
from webui import accounts, db
from webui import models as wm


def post_login(
    c: FlaskClient, username: str, password: str, headers: dict[str, str] | None = None
) -> Any:
    token = csrf_of(c.get("/login?lang=en").text)
    return c.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token},
        headers=headers or {},
    )


def fail(app: Flask, username: str, times: int, address: str = "127.0.0.1") -> list[int]:
    c = app.test_client()
    c.environ_base["REMOTE_ADDR"] = address
    return [post_login(c, username, "wrong password").status_code for _ in range(times)]


def test_many_users_behind_one_address_all_get_in(make_app: MakeApp) -> None:
    # the old limit (10 a minute per address) refused the 11th coordinator behind a proxy
    app = make_app()
    codes = [
        post_login(app.test_client(), user, PASSWORD).status_code
        for user in ["ops", "county", "lab", "county_other", "lab_other"] * 5
    ]
    assert codes == [302] * 25


def test_failed_passwords_lock_the_account_not_the_address(make_app: MakeApp) -> None:
    app = make_app(LOGIN_FAILURES_PER_ACCOUNT="10 per 15 minutes")
    # ten failures from ten addresses: a proxy's many users or an attacker's many hosts
    for i in range(10):
        assert fail(app, "county", 1, address=f"10.0.0.{i}") == [401]
    c = app.test_client()
    locked = post_login(c, "county", PASSWORD)  # even the right password, for the window
    assert locked.status_code == 429
    assert 1 <= int(locked.headers["Retry-After"]) <= 15 * 60
    assert "Too many wrong passwords for this account" in locked.text
    assert c.get("/county/411002/").status_code == 302  # not logged in
    # the same account however it is typed
    assert post_login(app.test_client(), " COUNTY", PASSWORD).status_code == 429
    # everyone else behind the same address carries on
    assert post_login(app.test_client(), "ops", PASSWORD).status_code == 302
    zh = app.test_client()
    zh.get("/login?lang=zh")
    token = csrf_of(zh.get("/login").text)
    r = zh.post("/login", data={"username": "county", "password": "x", "csrf_token": token})
    assert r.status_code == 429 and "该账户密码错误次数过多" in r.text


def test_successful_logins_do_not_count(make_app: MakeApp) -> None:
    app = make_app(LOGIN_FAILURES_PER_ACCOUNT="3 per 15 minutes")
    for _ in range(5):
        assert post_login(app.test_client(), "lab", PASSWORD).status_code == 302
    assert fail(app, "lab", 3) == [401, 401, 401]
    assert post_login(app.test_client(), "lab", PASSWORD).status_code == 429


def test_unknown_names_are_limited_like_real_ones(make_app: MakeApp) -> None:
    # a lock that only real accounts get would tell a prober which names exist
    app = make_app(LOGIN_FAILURES_PER_ACCOUNT="3 per 15 minutes")
    assert fail(app, "nobody-here", 4) == [401, 401, 401, 429]


def test_per_address_cap_still_stops_a_flood(make_app: MakeApp) -> None:
    app = make_app(LOGIN_RATE_PER_ADDRESS="4 per minute")
    codes = [post_login(app.test_client(), f"user{i}", "x").status_code for i in range(5)]
    assert codes == [401, 401, 401, 401, 429]
    app2 = make_app(LOGIN_RATE_LIMIT="2 per minute")  # the older setting's name still works
    codes = [post_login(app2.test_client(), f"user{i}", "x").status_code for i in range(3)]
    assert codes == [401, 401, 429]


def test_per_address_refusal_says_when_to_come_back(make_app: MakeApp) -> None:
    app = make_app(LOGIN_RATE_PER_ADDRESS="1 per minute")
    c = app.test_client()
    assert post_login(c, "x", "y").status_code == 401
    r = post_login(c, "x", "y")
    # the limiter rounds its reset up to the next whole second
    assert r.status_code == 429 and 1 <= int(r.headers["Retry-After"]) <= 61


def _last_login_ip(app: Flask) -> str:
    with app.app_context():
        rec = (
            db.session()
            .scalars(
                select(m.AuditLog)
                .where(m.AuditLog.action == "login")
                .order_by(m.AuditLog.id.desc())
            )
            .first()
        )
        assert rec is not None
        return str(rec.detail["ip"])


@pytest.mark.parametrize(
    ("proxy_fix", "seen_ip", "codes"),
    [
        # by default a client naming a new address each time still meets its own cap
        (0, "127.0.0.1", [401, 429, 429]),
        # behind a configured proxy each client behind it has its own cap
        (1, "203.0.113.7", [401, 401, 401]),
    ],
)
def test_forwarded_addresses_are_believed_only_behind_a_configured_proxy(
    make_app: MakeApp, proxy_fix: int, seen_ip: str, codes: list[int]
) -> None:
    app = make_app(PROXY_FIX=proxy_fix, LOGIN_RATE_PER_ADDRESS="2 per minute")
    forwarded = {"X-Forwarded-For": "203.0.113.7"}
    assert post_login(app.test_client(), "ops", PASSWORD, forwarded).status_code == 302
    assert _last_login_ip(app) == seen_ip
    got = [
        post_login(app.test_client(), "x", "y", {"X-Forwarded-For": f"198.51.100.{i}"}).status_code
        for i in range(3)
    ]
    assert got == codes


def test_a_login_storm_is_answered_503_not_queued(make_app: MakeApp) -> None:
    app = make_app(PASSWORD_HASH_SLOTS=1, PASSWORD_HASH_QUEUE=0)
    c = app.test_client()
    with accounts._hash_slot():  # another login is hashing; nobody may wait for it
        r = post_login(c, "ops", PASSWORD)
    assert r.status_code == 503 and r.headers["Retry-After"] == "2"
    assert "Many people are logging in right now" in r.text
    assert c.get("/ops/").status_code == 302  # not logged in
    assert post_login(c, "ops", PASSWORD).status_code == 302  # the hasher is free again


def test_a_login_waits_only_a_bounded_time_for_a_hasher(make_app: MakeApp) -> None:
    app = make_app(PASSWORD_HASH_SLOTS=1, PASSWORD_HASH_QUEUE=1, PASSWORD_HASH_WAIT_SECONDS=0.05)
    with accounts._hash_slot():  # held for longer than the wait: the login gives up
        r = post_login(app.test_client(), "ops", PASSWORD)
    assert r.status_code == 503 and "Retry-After" in r.headers


def test_busy_answers_do_not_count_as_failures(make_app: MakeApp) -> None:
    app = make_app(
        LOGIN_FAILURES_PER_ACCOUNT="2 per 15 minutes", PASSWORD_HASH_SLOTS=1, PASSWORD_HASH_QUEUE=0
    )
    with accounts._hash_slot():
        codes = [post_login(app.test_client(), "ops", "x").status_code for _ in range(3)]
    assert codes == [503, 503, 503]
    assert post_login(app.test_client(), "ops", PASSWORD).status_code == 302


def test_every_refused_name_costs_one_hash(
    make_app: MakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app()
    with app.app_context():
        s = db.session()
        s.scalars(select(wm.User).where(wm.User.username == "lab_other")).one().active = False
        s.commit()
        hashes: list[str] = []
        real = accounts.check_password_hash

        def counted(stored: str, password: str) -> bool:
            hashes.append(stored)
            return bool(real(stored, password))

        monkeypatch.setattr(accounts, "check_password_hash", counted)
        for name in ("nobody", "lab_other", "lab"):
            assert accounts.authenticate(s, name, "wrong password") is None
        assert accounts.authenticate(s, "lab_other", PASSWORD) is None  # deactivated
    # unknown, deactivated and real names alike: one scrypt check each
    assert len(hashes) == 4 and all(h.startswith("scrypt:") for h in hashes)


def _redis_or_skip(db_number: int) -> Any:
    try:
        import redis

        client = redis.Redis(host="127.0.0.1", port=6379, db=db_number, socket_timeout=2)
        client.ping()
    except Exception as exc:
        # under CI the skip is a failure (tests/conftest.py)
        pytest.skip(f"no Redis at 127.0.0.1:6379 ({exc}); CI runs this test")
    return client


def test_two_web_processes_share_the_failure_count_through_redis(make_app: MakeApp) -> None:
    client = _redis_or_skip(15)
    prefix = f"natsched-test-{uuid.uuid4().hex}"
    settings = {
        "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/15",
        "RATELIMIT_KEY_PREFIX": prefix,
        "LOGIN_FAILURES_PER_ACCOUNT": "4 per 15 minutes",
        # a dead Redis must fail this test, not be logged and let through
        "RATELIMIT_SWALLOW_ERRORS": False,
    }
    try:
        first, second = make_app(**settings), make_app(**settings)
        assert fail(first, "county", 2) + fail(second, "county", 2) == [401] * 4
        assert post_login(first.test_client(), "county", PASSWORD).status_code == 429
        assert post_login(second.test_client(), "county", PASSWORD).status_code == 429
        assert any(client.scan_iter(match=f"*{prefix}*"))
        # an app with its own memory counters knows nothing of them
        assert post_login(make_app().test_client(), "county", PASSWORD).status_code == 302
    finally:
        for key in client.scan_iter(match=f"*{prefix}*"):
            client.delete(key)


def test_a_login_waiting_for_a_hasher_leaves_its_request_slot_to_pages(
    make_app: MakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    # one request slot: a login that kept it while it waits would stall every page
    app = make_app(REQUEST_SLOTS=1, REQUEST_SLOT_WAIT_SECONDS=0.05, PASSWORD_HASH_SLOTS=1)
    waiting, go = threading.Event(), threading.Event()
    real = accounts.check_password_hash

    def slow(stored: str, password: str) -> bool:
        waiting.set()
        go.wait(30)  # bounded, so a failing test cannot hang the run
        return bool(real(stored, password))

    monkeypatch.setattr(accounts, "check_password_hash", slow)
    c = app.test_client()
    token = csrf_of(c.get("/login?lang=en").text)
    codes: list[int] = []
    t = threading.Thread(
        target=lambda: codes.append(
            c.post(
                "/login", data={"username": "ops", "password": PASSWORD, "csrf_token": token}
            ).status_code
        ),
        daemon=True,
    )
    t.start()
    assert waiting.wait(30), "the login never reached its hash"
    # the login is hashing: the page gets the slot, not a 503
    assert app.test_client().get("/login").status_code == 200
    go.set()
    t.join(30)
    assert codes == [302]


def test_who_may_wait_for_a_hasher_follows_the_measured_hash_time() -> None:
    h = accounts._Hashers(slots=1, queue=1000, wait=1.0)
    h._mean = 0.1  # as if measured: ten hashes a second on this machine
    admitted = 0
    while h.admit():
        admitted += 1
    # the one hashing and the ten whose turn comes within the second
    assert admitted == 11
    slow = accounts._Hashers(slots=1, queue=1000, wait=1.0)
    slow._mean = 0.5  # a machine five times slower admits fewer, not the same count
    assert sum(1 for _ in iter(slow.admit, False)) == 3
    # a finished hash frees a place, but it took longer than thought: the mean moves
    # towards its time and the queue behind it is now longer than the wait allows
    h.leave(0.3)
    assert 0.1 < h._mean < 0.3 and h.admit() is False
    h.leave(0.05)
    h.leave(0.05)
    assert h.admit() is True
    capped = accounts._Hashers(slots=2, queue=3, wait=100.0)
    assert sum(1 for _ in iter(capped.admit, False)) == 5  # threads bound the waiters too
