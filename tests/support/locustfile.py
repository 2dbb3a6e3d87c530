"""A province morning as Locust users; run headless by ``tests.support.locust_run``.

- :class:`Coordinator`: a lab coordinator logs in once (``GET /login`` for the
  CSRF token, then the form) and refreshes their lab's schedule
  ``/lab/<id>/`` every 5-15 s;
- :class:`CountyOffice`: a county office commits its file once through
  ``POST /api/v1/uploads`` (bearer token, ``mode=commit``), then is idle;
- :class:`Headquarters`: an ops user logs in and refreshes ``/ops/`` every
  10-20 s.

Each user takes an account of its own from the world file named by
``NATSCHED_STRESS_WORLD`` (written by ``World.write_accounts``); how many
of each role come from ``NATSCHED_STRESS_USERS`` ("coordinators,counties,ops").
A 429 on the login form is a failure and a refused login; a request is an
error unless it answers what it should (a page 200, a login 302, an upload
201 or 202), so a 503 (the server shedding load, with ``Retry-After``) is
one too, and counted apart as shed. A user whose login failed tries again
at its next turn, as a person would. The refused logins, the shed requests
and every route's statuses go to the JSON file named by
``NATSCHED_STRESS_EXTRA`` when Locust quits.

This file imports only the standard library and Locust: it runs in Locust's
own (gevent-patched) process, never in the server's.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

import gevent
from locust import HttpUser, between, constant, events, task

WORLD = json.loads(Path(os.environ["NATSCHED_STRESS_WORLD"]).read_text(encoding="utf-8"))
COORDINATORS, COUNTIES, OPS = (
    int(n) for n in os.environ.get("NATSCHED_STRESS_USERS", "200,50,5").split(",")
)
TIMEOUT = 180.0  # seconds: a slow answer is a figure; only no answer at all is an error
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
UPLOAD_TRIES = 20  # a county office gives up on the API after this many 503s

#: route -> status -> answers; the refused logins
STATUSES: dict[str, Counter[str]] = {}
REFUSED = Counter[str]()
SHED = Counter[str]()  # route -> 503 answers
_taken = Counter[str]()


def _take(role: str, pool: list[Any]) -> tuple[int, Any]:
    """The next unused account of ``role``: every simulated user has its own."""
    i = _taken[role]
    _taken[role] += 1
    if i >= len(pool):
        raise RuntimeError(f"{len(pool)} {role} accounts for more {role} users")
    return i, pool[i]


def _address(role: str, i: int) -> str:
    """A client address of its own per user, as the reverse proxy would pass it on."""
    n = {"lab": 0, "ops": 1, "county": 2}[role] * 65536 + i
    return f"10.{n >> 16}.{(n >> 8) & 255}.{n & 255}"


def _count(route: str, status: int) -> None:
    STATUSES.setdefault(route, Counter())[str(status)] += 1
    if status == 503:
        SHED[route] += 1


class Staff(HttpUser):
    """A person at a browser: logs in once, then looks at one page now and then."""

    abstract = True
    role = ""
    page = ""
    page_name = ""

    def on_start(self) -> None:
        self.logged_in = False
        self.account = self.take()
        self.login()

    def take(self) -> str:
        raise NotImplementedError

    def login(self) -> None:
        with self.client.get("/login", name="/login", timeout=TIMEOUT, catch_response=True) as r:
            _count("GET /login", r.status_code)
            found = CSRF.search(r.text or "") if r.status_code == 200 else None
            if found is None:
                r.failure(f"login page answered {r.status_code} with no CSRF token")
                return
            r.success()
        form = {"csrf_token": found.group(1), "username": self.account}
        form["password"] = WORLD["password"]
        with self.client.post(
            "/login",
            data=form,
            name="/login",
            timeout=TIMEOUT,
            allow_redirects=False,
            catch_response=True,
        ) as r:
            _count("POST /login", r.status_code)
            if r.status_code == 302:
                self.logged_in = True
                r.success()
            elif r.status_code == 429:
                REFUSED[self.role] += 1
                r.failure("refused login (429)")
            else:
                r.failure(f"login answered {r.status_code}")

    @task
    def refresh(self) -> None:
        if not self.logged_in:  # refused or failed at the start: the person tries again
            self.login()
            return
        with self.client.get(
            self.page,
            name=self.page_name,
            timeout=TIMEOUT,
            allow_redirects=False,
            catch_response=True,
        ) as r:
            _count(f"GET {self.page_name}", r.status_code)
            if r.status_code == 200:
                r.success()
            else:  # a redirect here is to the login page: the session was lost
                r.failure(f"{self.page_name} answered {r.status_code}")


class Coordinator(Staff):
    fixed_count = COORDINATORS
    wait_time = between(5, 15)
    role = "lab"
    page_name = "/lab/[id]/"

    def take(self) -> str:
        i, lab = _take("lab", WORLD["labs"])
        self.client.headers["X-Forwarded-For"] = _address("lab", i)
        self.page = f"/lab/{lab}/"
        return f"lab-{lab}"


class Headquarters(Staff):
    fixed_count = OPS
    wait_time = between(10, 20)
    role = "ops"
    page = "/ops/"
    page_name = "/ops/"

    def take(self) -> str:
        i, name = _take("ops", WORLD["ops"])
        self.client.headers["X-Forwarded-For"] = _address("ops", i)
        return str(name)


class CountyOffice(HttpUser):
    """Commits its county's file once, then waits out the run."""

    fixed_count = COUNTIES
    wait_time = constant(3600)

    def on_start(self) -> None:
        i, code = _take("county", sorted(WORLD["counties"]))
        self.client.headers["X-Forwarded-For"] = _address("county", i)
        county = WORLD["counties"][code]
        path = Path(county["file"])
        ctype = "text/csv"
        if path.suffix == ".xlsx":
            ctype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        data = path.read_bytes()
        # an API client honours a 503's Retry-After and sends the same file again (the
        # server stores a file once, however often it comes); each 503 still counts
        for _ in range(UPLOAD_TRIES):
            with self.client.post(
                "/api/v1/uploads",
                name="/api/v1/uploads",
                data={"county": code, "mode": "commit"},
                files={"file": (path.name, data, ctype)},
                headers={"Authorization": f"Bearer {county['token']}"},
                timeout=TIMEOUT,
                catch_response=True,
            ) as r:
                _count("POST /api/v1/uploads", r.status_code)
                if r.status_code in (201, 202):  # stored, or taken as a job (a large file)
                    r.success()
                    return
                r.failure(f"upload answered {r.status_code}: {(r.text or '')[:120]}")
                if r.status_code != 503:
                    return
                wait = r.headers.get("Retry-After", "5")
            gevent.sleep(float(wait) if wait.isdigit() else 5.0)

    @task
    def idle(self) -> None:
        """Once sent, an office has nothing more to do this morning."""


@events.quitting.add_listener
def _write_extra(environment: Any, **_kw: Any) -> None:
    path = os.environ.get("NATSCHED_STRESS_EXTRA")
    if not path:
        return
    out = {
        "refused_logins": sum(REFUSED.values()),
        "refused_by_role": dict(REFUSED),
        "shed": sum(SHED.values()),
        "shed_by_route": dict(SHED),
        "statuses": {k: dict(v) for k, v in sorted(STATUSES.items())},
        "users": dict(_taken),
    }
    Path(path).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
