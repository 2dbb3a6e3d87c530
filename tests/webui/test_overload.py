"""Overload is answered, not queued: with every request slot busy a request gets 503 with
``Retry-After`` after a bounded wait, while health checks and static files pass."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, request

from tests.support.web import MakeApp
from webui import overload
from webui.overload import ARRIVED, RequestGate


class Hold:
    """A route that keeps its request slot until the test lets it go."""

    def __init__(self, app: Flask) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

        def slow() -> str:
            self.entered.set()
            # bounded so a failing test cannot hang the run
            self.release.wait(30)
            return "done"

        def arrived() -> str:
            return json.dumps(request.environ.get(ARRIVED))

        app.add_url_rule("/test-hold", "test_hold", slow)
        app.add_url_rule("/test-arrived", "test_arrived", arrived)

    def start(self, fetch: Any) -> threading.Thread:
        t = threading.Thread(target=fetch, daemon=True)
        t.start()
        assert self.entered.wait(30), "the slow request never started"
        return t


@pytest.fixture
def held(make_app: MakeApp) -> Iterator[tuple[Flask, Hold]]:
    app = make_app(REQUEST_SLOTS=1, REQUEST_SLOT_WAIT_SECONDS=0.05)
    hold = Hold(app)
    yield app, hold
    hold.release.set()


def test_a_request_with_every_slot_busy_gets_503_not_a_wait(held: tuple[Flask, Hold]) -> None:
    app, hold = held
    done: list[int] = []
    t = hold.start(lambda: done.append(app.test_client().get("/test-hold").status_code))

    page = app.test_client().get("/login")
    assert page.status_code == 503 and 1 <= int(page.headers["Retry-After"]) <= 5
    assert page.mimetype == "text/html" and "The server is busy" in page.text
    assert "服务器繁忙" in page.text
    api = app.test_client().get("/api/v1/labs")
    assert api.status_code == 503 and 1 <= int(api.headers["Retry-After"]) <= 5
    assert api.json == {
        "error": {"status": 503, "code": "overloaded", "message": api.json["error"]["message"]}
    }
    # probes and assets never queue behind page renders
    assert app.test_client().get("/healthz").status_code == 200
    assert app.test_client().get("/static/app.css").status_code == 200

    hold.release.set()
    t.join(30)
    assert done == [200]
    assert app.test_client().get("/login").status_code == 200  # the slot came back


def test_an_app_that_raises_gives_its_slot_back() -> None:
    def boom(environ: dict[str, Any], start: Any) -> list[bytes]:
        if environ["PATH_INFO"] == "/boom":
            raise RuntimeError("boom")
        start("200 OK", [])
        return [b"ok"]

    gate = RequestGate(boom, slots=1, wait=0.0)
    for _ in range(3):
        with pytest.raises(RuntimeError):
            _call(gate, {"PATH_INFO": "/boom"})
    assert _call(gate, {"PATH_INFO": "/fine"}) == "200 OK"


class Slots:
    """A semaphore whose slots are all taken, noting how long each caller would wait."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        if blocking:
            self.waits.append(-1.0 if timeout is None else timeout)
        return False


def _call(gate: RequestGate, environ: dict[str, Any]) -> str:
    statuses: list[str] = []
    gate(environ, lambda status, headers: statuses.append(status))
    return statuses[0]


def test_time_spent_in_the_servers_queue_counts_against_the_wait() -> None:
    gate = RequestGate(lambda environ, start: [b""], slots=1, wait=30.0)
    slots = Slots()
    gate.slots = slots  # type: ignore[assignment]
    # waited a minute in waitress's queue already: refused at once, no more waiting
    old = {"PATH_INFO": "/lab/x/", ARRIVED: time.monotonic() - 60}
    assert _call(gate, old).startswith("503") and slots.waits == []
    # just arrived: it may wait (almost) the whole budget
    fresh = {"PATH_INFO": "/lab/x/", ARRIVED: time.monotonic()}
    assert _call(gate, fresh).startswith("503")
    assert len(slots.waits) == 1 and 29 < slots.waits[0] <= 30
    # another server, no stamp: the whole budget from now
    assert _call(gate, {"PATH_INFO": "/lab/x/"}).startswith("503") and slots.waits[1] == 30


def _get(port: int, path: str) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        conn.close()


def test_waitress_stamps_arrival_and_the_reserve_thread_refuses_quickly(
    held: tuple[Flask, Hold],
) -> None:
    app, hold = held
    # one slot plus one reserve thread, as `natsched serve` runs them (slots + reserve)
    server = overload.make_server(app, host="127.0.0.1", port=0, threads=2)
    port = server.effective_port
    stop = threading.Event()

    def run() -> None:
        from waitress import wasyncore

        # the loop and the close in one thread: closing sockets under a running
        # select() would end it with EBADF
        while not stop.is_set():
            wasyncore.loop(timeout=0.05, map=server._map, count=1)
        server.task_dispatcher.shutdown()
        wasyncore.close_all(server._map)

    loop = threading.Thread(target=run, daemon=True)
    loop.start()
    try:
        status, _, body = _get(port, "/test-arrived")
        assert status == 200 and json.loads(body) <= time.monotonic()

        done: list[int] = []
        t = hold.start(lambda: done.append(_get(port, "/test-hold")[0]))
        status, headers, _ = _get(port, "/login")
        assert status == 503 and 1 <= int(headers["Retry-After"]) <= 5
        assert _get(port, "/healthz")[0] == 200
        hold.release.set()
        t.join(30)
        assert done == [200]
    finally:
        hold.release.set()
        stop.set()
        loop.join(30)


def test_uploads_have_a_lane_of_their_own_and_leave_the_pages_room(
    make_app: MakeApp,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import io
    from pathlib import Path

    from tests.support.api import bearer_of
    from webui.api import uploads

    # one render slot and one upload place: an upload being checked must not hold the slot
    app = make_app(
        REQUEST_SLOTS=1,
        REQUEST_SLOT_WAIT_SECONDS=0.05,
        UPLOAD_SLOTS=1,
        UPLOAD_SLOT_WAIT_SECONDS=0.2,
        UPLOAD_MAX_FUTURE_HOURS=48.0,
    )
    inside, go = threading.Event(), threading.Event()
    real = uploads.upload

    def slow(*args: Any, **kwargs: Any) -> Any:
        inside.set()
        go.wait(30)  # bounded, so a failing test cannot hang the run
        return real(*args, **kwargs)

    monkeypatch.setattr(uploads, "upload", slow)
    header = bearer_of(app, "county")
    f = Path("fixtures/demo/uploads/411002.xlsx")

    def send() -> int:
        return (
            app.test_client()
            .post(
                "/api/v1/uploads",
                data={"file": (io.BytesIO(f.read_bytes()), f.name), "mode": "dry-run"},
                content_type="multipart/form-data",
                headers=header,
            )
            .status_code
        )

    codes: list[int] = []
    t = threading.Thread(target=lambda: codes.append(send()), daemon=True)
    t.start()
    assert inside.wait(30), "the upload never started"
    # the page gets the render slot the upload gave back
    assert app.test_client().get("/login").status_code == 200
    # a second upload waits for the lane's one place, then is told to come back
    second = app.test_client().post(
        "/api/v1/uploads",
        data={"file": (io.BytesIO(f.read_bytes()), f.name), "mode": "dry-run"},
        content_type="multipart/form-data",
        headers=header,
    )
    assert second.status_code == 503 and second.headers["Retry-After"] == "5"
    assert second.json["error"]["code"] == "overloaded"
    go.set()
    t.join(30)
    assert codes == [200]
