"""Issue #15, the production start on one machine, as the README's Deployment section has it.

A database of its own on the PostgreSQL server of ``NATSCHED_TEST_DATABASE_URL``
(created for the test and dropped after: the shared database's tables are
never touched), ``natsched db upgrade`` as the deploy step, the demo world,
then two gunicorn processes over ``webui.wsgi:app`` and one ``natsched
worker``, with Redis (``NATSCHED_TEST_REDIS_URL``, default
redis://127.0.0.1:6379/0) as the login limiter's storage.

Which process answered is read from Linux's /proc: the server side of each
kept-alive connection belongs to exactly one gunicorn process.

Checked: a session made in one process is good in the other (one secret
key), a plan is published by the separate worker after an upload, and the
login limiter's counters are shared: a per-address limit of 3 is reached by
failed logins answered by both processes, neither of which saw 3 alone.

Without PostgreSQL or Redis it skips with one line; under CI that is a
failure (tests/conftest.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from scheduler.store import models as m
from scheduler.store.db import make_engine
from tests.support.server import (
    PASSWORD,
    ROOT,
    Client,
    Server,
    Worker,
    World,
    csrf_token,
    post_login,
    post_upload,
    seed_world,
)

pytestmark = pytest.mark.slow

PG_URL = os.environ.get("NATSCHED_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("NATSCHED_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
LIMIT = 3  # login POSTs per address and window


def _missing(what: str) -> None:
    pytest.skip(what)  # under CI the skip is a failure (tests/conftest.py)


def _admin(sql: str) -> None:
    assert PG_URL
    engine = make_engine(PG_URL)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text(sql))
    finally:
        engine.dispose()


@pytest.fixture
def database() -> Iterator[str]:
    """A PostgreSQL database made for this test, dropped afterwards."""
    if not PG_URL or not PG_URL.startswith("postgresql"):
        _missing("no PostgreSQL: set NATSCHED_TEST_DATABASE_URL")
    assert PG_URL
    name = f"natsched_deploy_{uuid.uuid4().hex[:12]}"
    try:
        _admin(f'CREATE DATABASE "{name}"')
    except Exception as exc:
        _missing(f"PostgreSQL at {PG_URL} cannot make a database: {exc}")
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own in Redis (others may share the server); cleared after."""
    try:
        import redis

        client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
        client.ping()
    except Exception as exc:
        _missing(f"no Redis at {REDIS_URL}: {exc}")
    prefix = f"natsched-deploy-{uuid.uuid4().hex[:12]}"
    try:
        yield prefix
    finally:
        for key in client.scan_iter(f"*{prefix}*"):
            client.delete(key)
        client.close()


def _socket_inodes(pid: int) -> set[str]:
    out: set[str] = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            out.add(target[8:-1])
    return out


def answered_by(srv: Server, client: Client) -> int:
    """The gunicorn process holding the server side of ``client``'s open connection."""
    local = client.local_port()
    assert local is not None, "the connection was closed"
    want = f"{0x0100007F:08X}:{local:04X}"  # 127.0.0.1:<port> as /proc/net/tcp writes it
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        cols = line.split()
        if cols[1].endswith(f":{srv.port:04X}") and cols[2] == want:
            inode = cols[9]
    assert inode is not None, f"no server socket for local port {local}"
    owners = [pid for pid in srv.web_pids() if inode in _socket_inodes(pid)]
    assert len(owners) == 1, (owners, srv.web_pids())
    return owners[0]


def one_per_process(srv: Server, tries: int = 40) -> dict[int, Client]:
    """A kept-alive connection to each web process (the kernel decides who accepts)."""
    got: dict[int, Client] = {}
    spare: list[Client] = []
    for _ in range(tries):
        c = Client(srv.port, timeout=60)
        status, _ = c.request("GET", "/login")
        assert status == 200
        pid = answered_by(srv, c)
        if pid in got:
            spare.append(c)  # held open, so the next connection may land elsewhere
        else:
            got[pid] = c
        if len(got) == len(srv.web_pids()):
            break
    for c in spare:
        c.close()
    assert len(got) == 2, f"every connection went to {list(got)} of {srv.web_pids()}"
    return got


def test_two_gunicorn_processes_one_worker_redis(
    tmp_path: Path, database: str, redis_prefix: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "natsched", "db", "upgrade", "--db", database],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    world = seed_world("demo", tmp_path / "world", counties=1, labs=4, ops=1, db_url=database)
    env: dict[str, str | None] = {
        "NATSCHED_RATELIMIT_STORAGE_URI": REDIS_URL,
        "NATSCHED_RATELIMIT_KEY_PREFIX": redis_prefix,
        "NATSCHED_LOGIN_RATE_LIMIT": f"{LIMIT} per 10 minutes",
        # the limit under test is the per-address one: failures use unknown names
        "NATSCHED_LOGIN_FAILURES_PER_ACCOUNT": "1000 per minute",
        "NATSCHED_RATELIMIT_SWALLOW_ERRORS": "false",  # a Redis failure must show, not pass
    }
    with (
        Server(
            world,
            web_processes=2,
            threads=4,
            # connections held open between the steps (gunicorn's default is 2 s)
            web_args=("--keep-alive", "120"),
            extra_env=env,
            log_name="web",
        ) as srv,
        Worker(world, time_limit=2.0, debounce=1.0, poll=0.5, log_name="worker") as worker,
    ):
        try:
            _check_deployment(srv, world, redis_prefix)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- web log:\n{srv.tail()}") from exc
        assert worker.proc is not None and worker.proc.poll() is None, "the worker died"


def _check_deployment(srv: Server, world: World, prefix: str) -> None:
    (a, ca), (b, cb) = sorted(one_per_process(srv).items())
    # first, in a fresh window: failed logins alternate between the processes, and the
    # per-address limit of 3 is reached although neither process answered 3 of them
    # (in memory each would allow 3 of its own)
    answers: list[tuple[int, int]] = []
    for i in range(LIMIT + 1):
        c = (ca, cb)[i % 2]
        c.cookies.clear()
        _, html = c.request("GET", "/login")
        answers.append((answered_by(srv, c), post_login(c, csrf_token(html), f"nobody-{i}", "x")))
    assert [s for _, s in answers] == [401] * LIMIT + [429], answers
    assert max(sum(q == p for q, _ in answers[:LIMIT]) for p in (a, b)) < LIMIT, answers
    # and refused in the other process too, even the right password
    other = cb if answers[-1][0] == a else ca
    other.cookies.clear()
    _, html = other.request("GET", "/login")
    assert post_login(other, csrf_token(html), "ops", PASSWORD) == 429
    # the counters are in Redis, under this test's prefix
    import redis

    r = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(r.scan_iter(f"*{prefix}*"))
        assert keys, "no limiter counter in Redis"
        for key in keys:  # a fresh window for the logins below
            r.delete(key)
    finally:
        r.close()
    users = [(f"lab-{world.labs[0]}", f"/lab/{world.labs[0]}/"), ("ops", "/ops/")]
    users.append((f"lab-{world.labs[1]}", f"/lab/{world.labs[1]}/"))
    # sessions across processes: the login page in one, the form posted to the other,
    # the page read in the first again
    for i, (name, page) in enumerate(users):
        first, second = (ca, cb) if i % 2 == 0 else (cb, ca)
        first.cookies.clear()
        _, html = first.request("GET", "/login")
        second.cookies = dict(first.cookies)
        assert post_login(second, csrf_token(html), name, PASSWORD) == 302, name
        first.cookies = dict(second.cookies)
        status, _ = first.request("GET", page)
        assert status == 200, f"{name}'s session from one process not good in the other"
        assert {answered_by(srv, ca), answered_by(srv, cb)} == {a, b}
    # an upload through the web processes; the separate worker re-plans and publishes
    code = next(iter(world.files))
    status, body = post_upload(ca, world.tokens[code], code, world.files[code])
    assert status == 201, body[:300]
    engine = make_engine(world.db_url)
    try:
        deadline = time.monotonic() + 90
        pub = None
        while time.monotonic() < deadline and pub is None:
            with engine.connect() as conn:
                pub = conn.scalar(select(m.PlanVersion.id).where(m.PlanVersion.published))
            time.sleep(0.5)
    finally:
        engine.dispose()
    assert pub is not None, "no plan published by the worker"
