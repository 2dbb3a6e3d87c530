"""Overload is answered, not queued: a request that cannot start soon gets 503 at once.

``RequestGate`` is WSGI middleware around the Flask app with ``REQUEST_SLOTS``
slots: a request renders only while it holds one. One that gets none within
``REQUEST_SLOT_WAIT_SECONDS`` is answered 503 with ``Retry-After: 1..5``
(jittered, so refused clients do not all come back in the same second) and a
tiny body, JSON on ``/api/``, built here without Flask or the database. Health
checks and static files bypass the gate: a load balancer's probe and a page's
stylesheet never wait behind page renders.

Why a gate and not just fewer threads: waitress reads each request on its main
thread and puts it in a task queue; a busy pool leaves it there, unseen by any
WSGI code, for as long as the pool stays busy (the 60-second waits of a
province morning). So ``natsched serve`` runs waitress with more threads than
slots (``--threads`` = slots + a reserve): the reserve threads pick queued
requests up at once, serve the cheap routes, and answer the rest 503 as soon as
their wait is spent.

A reserve thread can itself be waiting for a slot, so requests may still sit in
waitress's queue a moment. That time counts too: ``make_server`` gives waitress
a request parser that stamps when a request was fully read
(``natsched.arrived``, monotonic seconds, in the WSGI environ), and the gate
only waits for what is left of the request's budget. A request that already
spent it in the queue is answered at once, so the queue drains in microseconds
per request instead of a wait each. Without the stamp (another server, tests)
the wait counts from when the gate first sees the request.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask

from webui.labels import translate

ARRIVED = "natsched.arrived"
#: environ key of a callable that gives the request's slot back before it ends: a view
#: that will wait (a login waiting for a password hasher) calls it so as not to hold a
#: slot pages could render in
RELEASE = "natsched.release_slot"
#: paths that never wait for a slot: probes and assets cost next to nothing
BYPASS_EXACT = frozenset({"/healthz", "/api/v1/health"})
BYPASS_PREFIXES = ("/static/",)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class RequestGate:
    """At most ``slots`` requests inside ``app`` at once; the others wait ``wait`` s, then 503."""

    def __init__(self, app: WSGIApp, slots: int, wait: float) -> None:
        self.app = app
        self.slots = threading.BoundedSemaphore(slots)
        self.wait = wait

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if path in BYPASS_EXACT or path.startswith(BYPASS_PREFIXES):
            return self.app(environ, start_response)
        if not self._enter(environ.get(ARRIVED)):
            return _busy(path, start_response)
        held = [True]
        lock = threading.Lock()

        def release() -> None:
            with lock:
                if held[0]:
                    held[0] = False
                    self.slots.release()

        environ[RELEASE] = release
        # the slot bounds rendering: every view here renders its whole body before it
        # returns (none streams), and sending it is waitress's buffered work, which a
        # slow client must not stretch into a slot held
        try:
            return self.app(environ, start_response)
        finally:
            release()

    def _enter(self, arrived: float | None) -> bool:
        # a free slot is used whatever the request's age: refusing would only waste it
        if self.slots.acquire(blocking=False):
            return True
        left = self.wait if arrived is None else self.wait - (time.monotonic() - arrived)
        return left > 0 and self.slots.acquire(timeout=left)


class LaneBusy(Exception):
    """Every place of a lane stayed taken for the whole wait."""

    retry_after = 5


class Lane:
    """At most ``size`` requests of one kind (uploads) at once, off the render slots.

    A county file takes a fraction of a second of a core to check and store,
    and fifty offices send theirs in the same minute of a screening morning;
    in the render slots they would leave no room for the pages. A request
    entering a lane gives its render slot back, waits up to ``wait`` s for a
    place (then ``LaneBusy``: 503), and does its work there.
    """

    def __init__(self, size: int, wait: float) -> None:
        self.places = threading.BoundedSemaphore(max(1, size))
        self.wait = wait

    @contextmanager
    def enter(self, environ: dict[str, Any]) -> Iterator[None]:
        release_slot(environ)
        if not self.places.acquire(timeout=self.wait):
            raise LaneBusy
        try:
            yield
        finally:
            self.places.release()


def uploads_lane(app: Flask) -> Lane:
    lane: Lane = app.extensions["natsched.uploads_lane"]
    return lane


def release_slot(environ: dict[str, Any]) -> None:
    """Give the request's slot back now (nothing when it holds none or the app is ungated)."""
    release = environ.get(RELEASE)
    if release is not None:
        release()


def _busy(path: str, start_response: Callable[..., Any]) -> list[bytes]:
    if path.startswith("/api/"):
        message = translate("error.overloaded", "en")
        error = {"status": 503, "code": "overloaded", "message": message}
        body = json.dumps({"error": error}).encode()
        kind = "application/json"
    else:
        # no session here to say which language: both, as the page would in either
        en, zh = translate("error.overloaded", "en"), translate("error.overloaded", "zh")
        body = (
            '<!doctype html><meta charset="utf-8"><title>503</title>'
            f"<p>{en}</p><p lang='zh'>{zh}</p>"
        ).encode()
        kind = "text/html; charset=utf-8"
    start_response(
        "503 Service Unavailable",
        [
            ("Content-Type", kind),
            ("Content-Length", str(len(body))),
            ("Retry-After", str(random.randint(1, 5))),
            ("Cache-Control", "no-store"),
        ],
    )
    return [body]


def init_app(app: Flask) -> None:
    """Put the gate around ``app`` (``REQUEST_SLOTS`` 0 leaves it ungated), and the lanes."""
    app.extensions["natsched.uploads_lane"] = Lane(
        int(app.config["UPLOAD_SLOTS"]), float(app.config["UPLOAD_SLOT_WAIT_SECONDS"])
    )
    slots = int(app.config["REQUEST_SLOTS"])
    if slots > 0:
        app.wsgi_app = RequestGate(  # type: ignore[method-assign]
            app.wsgi_app, slots, float(app.config["REQUEST_SLOT_WAIT_SECONDS"])
        )


def make_server(app: Any, **adjustments: Any) -> Any:
    """A waitress server whose requests carry ``natsched.arrived``; ``.run()`` serves."""
    from waitress.channel import HTTPChannel
    from waitress.parser import HTTPRequestParser
    from waitress.server import BaseWSGIServer, create_server
    from waitress.task import WSGITask

    class StampedParser(HTTPRequestParser):
        arrived: float | None = None

        def received(self, data: bytes) -> int:
            n: int = super().received(data)
            if self.completed and self.arrived is None:
                self.arrived = time.monotonic()
            return n

    class StampedTask(WSGITask):
        def get_environment(self) -> dict[str, Any]:
            environ: dict[str, Any] = super().get_environment()
            if getattr(self.request, "arrived", None) is not None:
                environ[ARRIVED] = self.request.arrived
            return environ

    class StampedChannel(HTTPChannel):
        parser_class = StampedParser
        task_class = StampedTask

    listeners: dict[int, Any] = {}
    server = create_server(app, map=listeners, **adjustments)
    # create_server makes its listening sockets without a way to name the channel
    # class; they read it when a connection comes, so setting it now is in time
    for listener in list(listeners.values()):
        if isinstance(listener, BaseWSGIServer):
            listener.channel_class = StampedChannel
    return server
