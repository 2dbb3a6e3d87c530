"""A seeded database and the web processes on 127.0.0.1 that serve it.

The world is made with the library (fixturegen, ``store.world.seed`` without
batches: the batches come from the county uploads) and accounts with
``webui.accounts``. A :class:`Server` is ``python -m natsched serve``
(waitress, the embedded default) or gunicorn over ``webui.wsgi:app`` (the
production start); both run a clock from the instance's plan start so the
upload files' time windows are accepted. :class:`Client` is a minimal HTTP
client for the faults and the deployment test (the load itself is Locust's).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.engine import Engine

from scheduler.fixturegen import generate
from scheduler.fixturegen.uploads import write_uploads
from scheduler.store import models as m
from scheduler.store.db import make_engine, transaction, upgrade
from scheduler.store.world import seed

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
PASSWORD = "stress-" + "pw"
#: threads of each gunicorn process (README, Deployment)
GUNICORN_THREADS = 320  # local throw-away accounts of a throw-away database


@dataclass
class World:
    """A seeded database and what the load needs to talk to it.

    A database seeded some other way (the browser tests') is a world with no
    files, tokens or labs: a :class:`Server` needs only its folder, URL and
    plan start.
    """

    preset: str
    folder: Path
    db_url: str
    plan_start: datetime
    #: county code -> its upload file (not yet sent)
    files: dict[str, Path] = field(default_factory=dict)
    #: county code -> data rows in its file
    rows: dict[str, int] = field(default_factory=dict)
    #: county code -> bearer token of its county account
    tokens: dict[str, str] = field(default_factory=dict)
    #: lab ids with a coordinator account lab-<id>
    labs: list[str] = field(default_factory=list)
    preloaded: list[str] = field(default_factory=list)  # counties stored before the run
    #: headquarters (ops role) accounts
    ops: list[str] = field(default_factory=list)

    def engine(self) -> Engine:
        return make_engine(self.db_url)

    def write_accounts(self, path: Path) -> Path:
        """The accounts, tokens and files as JSON: what the Locust process is given."""
        data = {
            "password": PASSWORD,
            "labs": self.labs,
            "ops": self.ops,
            "counties": {
                c: {"token": self.tokens[c], "file": str(self.files[c])} for c in self.files
            },
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=1), encoding="utf-8")
        return path


def seed_world(
    preset: str,
    folder: Path,
    *,
    counties: int,
    labs: int,
    preload: int = 0,
    first_plan_seconds: float | None = None,
    db_url: str | None = None,
    ops: int = 1,
) -> World:
    """Seed ``preset`` into a fresh SQLite file under ``folder`` (or into ``db_url``).

    ``counties`` upload files are written for the load; ``preload`` more are
    stored through the library first, and with ``first_plan_seconds`` a first
    plan is published over them, so faults have a plan to keep intact.
    ``labs`` coordinator accounts (``lab-<id>``) and ``ops`` headquarters
    accounts (``ops``, ``ops-2``, ...) are made.
    """
    from unittest import mock

    from scheduler.ingest.upload import IngestSettings, upload
    from scheduler.replan.core import ReplanSettings, replan
    from webui import accounts
    from webui.accounts import create_user, issue_token

    folder.mkdir(parents=True, exist_ok=True)
    fx = generate(preset)
    problem = fx.problem
    start = problem.config.plan_start
    codes = list(fx.uploads)
    if counties + preload > len(codes):
        raise ValueError(f"{preset} has {len(codes)} counties, asked {counties + preload}")
    load_codes = codes[preload : preload + counties]
    pre_codes = codes[:preload]
    written = write_uploads({c: fx.uploads[c] for c in pre_codes + load_codes}, folder / "uploads")
    by_code = {p.stem: p for p in written}
    if db_url is None:
        db = folder / "natsched.sqlite"
        db.unlink(missing_ok=True)
        url = f"sqlite:///{db}"
    else:
        url = db_url  # an empty database of its own
    upgrade(url)
    engine = make_engine(url)
    tokens: dict[str, str] = {}
    try:
        with transaction(engine) as s:
            seed(s, problem, now=start, user="stress", with_batches=False)
        # every account has the same throw-away password: hash it once (scrypt is slow
        # on purpose), logins still verify it for real
        hashed = accounts.hash_password(PASSWORD)
        with (
            mock.patch.object(accounts, "hash_password", lambda _p: hashed),
            transaction(engine) as s,
        ):
            ops_names = ["ops", *(f"ops-{i}" for i in range(2, ops + 1))]
            for name in ops_names:
                create_user(s, name, PASSWORD, "ops")
            for c in load_codes:
                u = create_user(s, f"county-{c}", PASSWORD, "county", county_code=c)
                tokens[c] = issue_token(s, u, "stress", start)
            lab_ids = list(s.scalars(select(m.Lab.lab_id).order_by(m.Lab.lab_id)))[:labs]
            if len(lab_ids) < labs:
                raise ValueError(f"{preset} has {len(lab_ids)} labs, asked {labs} accounts")
            for lab in lab_ids:
                create_user(s, f"lab-{lab}", PASSWORD, "lab", lab_id=lab)
        settings = IngestSettings(max_future_hours=48)
        for c in pre_codes:
            with transaction(engine) as s:
                upload(
                    s,
                    by_code[c].read_bytes(),
                    by_code[c].name,
                    c,
                    user="stress",
                    now=start,
                    mode="commit",
                    settings=settings,
                )
        if first_plan_seconds is not None:
            replan(engine, start, settings=ReplanSettings(time_limit=first_plan_seconds))
    finally:
        engine.dispose()
    return World(
        preset=preset,
        folder=folder,
        db_url=url,
        plan_start=start,
        files={c: by_code[c] for c in load_codes},
        rows={c: len(fx.uploads[c]) for c in load_codes},
        tokens=tokens,
        labs=lab_ids,
        preloaded=pre_codes,
        ops=ops_names,
    )


def clone_world(world: World, folder: Path) -> World:
    """A copy of ``world``'s database and files under ``folder`` (same accounts, tokens)."""
    folder.mkdir(parents=True, exist_ok=True)
    src = Path(world.db_url.removeprefix("sqlite:///"))
    engine = make_engine(world.db_url)
    try:
        with engine.connect() as c:  # fold the WAL into the file before copying it
            c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        engine.dispose()
    db = folder / src.name
    shutil.copyfile(src, db)
    files: dict[str, Path] = {}
    (folder / "uploads").mkdir(exist_ok=True)
    for code, path in world.files.items():
        files[code] = folder / "uploads" / path.name
        shutil.copyfile(path, files[code])
    return replace(world, folder=folder, db_url=f"sqlite:///{db}", files=files)


def children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (Linux's /proc)."""
    out: list[int] = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(stat.parent.name))
    return sorted(out)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Server:
    """The web app on the world's database; use as a context manager.

    ``web_processes=0`` is one ``python -m natsched serve`` process (waitress,
    ``threads`` request threads, the re-planning worker inside unless
    ``worker=False``). ``web_processes=n`` is the production start: gunicorn
    with ``n`` processes of ``threads`` threads each over ``webui.wsgi:app``,
    never with a worker inside (run a :class:`Worker` beside it).
    ``extra_env`` overrides the environment below; a ``None`` value leaves that
    setting out (the app's own default). ``start`` waits until ``ready_path``
    answers 200.
    """

    def __init__(
        self,
        world: World,
        *,
        worker: bool = True,
        time_limit: float = 5.0,
        debounce: float = 2.0,
        lease: float = 300.0,
        poll: float = 1.0,
        threads: int | None = None,
        web_processes: int = 0,
        web_args: tuple[str, ...] = (),
        extra_env: dict[str, str | None] | None = None,
        log_name: str = "server",
        ready_path: str = "/login",
    ) -> None:
        self.world = world
        self.port = free_port()
        self.log_path = world.folder / f"{log_name}.log"
        self.web_processes = web_processes
        env: dict[str, str | None] = {
            **os.environ,
            "NATSCHED_SECRET_KEY": secrets.token_hex(32),
            "NATSCHED_UPLOAD_MAX_FUTURE_HOURS": "48",
            "NATSCHED_LOGIN_RATE_LIMIT": "100000 per minute",
            "NATSCHED_REPLAN_TIME_LIMIT": str(time_limit),
            "NATSCHED_REPLAN_DEBOUNCE_SECONDS": str(debounce),
            "NATSCHED_REPLAN_LEASE_SECONDS": str(lease),
            "NATSCHED_REPLAN_INTERVAL_MINUTES": "600",
        }
        env.pop("NATSCHED_DATABASE_URL", None)
        if web_processes:
            cmd = [sys.executable, "-m", "gunicorn", "-w", str(web_processes)]
            # as the README's deployment: the render slots, and threads for logins waiting
            # their turn at the password hasher (NATSCHED_PASSWORD_HASH_QUEUE) and quick 503s
            cmd += ["--threads", str(threads or GUNICORN_THREADS), "-b", f"{HOST}:{self.port}"]
            env["NATSCHED_PASSWORD_HASH_QUEUE"] = str(max(0, (threads or GUNICORN_THREADS) - 16))
            # a province upload or a cold page may take longer than gunicorn's 30 s default
            # under load; a worker killed for it would be a fault of the harness
            cmd += ["--timeout", "180", "--graceful-timeout", "10", *web_args, "webui.wsgi:app"]
            env["NATSCHED_DATABASE_URL"] = world.db_url
            env["NATSCHED_CLOCK"] = world.plan_start.isoformat()
        else:
            cmd = [sys.executable, "-m", "natsched", "serve", "--db", world.db_url]
            cmd += ["--host", HOST, "--port", str(self.port)]
            if threads is not None:
                cmd += ["--threads", str(threads)]
            cmd += ["--clock", world.plan_start.isoformat(), "--poll-seconds", str(poll)]
            if not worker:
                cmd.append("--no-worker")
        self.cmd = cmd
        env.update(extra_env or {})
        self.env = {k: v for k, v in env.items() if v is not None}
        self.ready_path = ready_path
        self.proc: subprocess.Popen[bytes] | None = None

    def web_pids(self) -> list[int]:
        """The processes that answer requests: gunicorn's workers, or the one server."""
        if self.proc is None:
            return []
        if not self.web_processes:
            return [self.proc.pid]
        return children(self.proc.pid)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def db_url(self) -> str:
        return self.world.db_url

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 60.0) -> Server:
        log = self.log_path.open("ab")
        try:
            self.proc = subprocess.Popen(
                self.cmd, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}: {self.tail()}")
            try:
                conn = http.client.HTTPConnection(HOST, self.port, timeout=2)
                conn.request("GET", self.ready_path)
                ready = conn.getresponse().status == 200
                conn.close()
                # gunicorn forks its workers one by one: all must be there
                if ready and len(self.web_pids()) >= max(1, self.web_processes):
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server not up in {timeout} s: {self.tail()}")

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Worker:
    """A separate ``python -m natsched worker`` process on the world's database.

    Its clock starts at the world's plan start, like :class:`Server`'s, so both
    see the same day; use as a context manager.
    """

    def __init__(
        self,
        world: World,
        *,
        time_limit: float = 5.0,
        debounce: float = 2.0,
        lease: float = 300.0,
        poll: float = 1.0,
        log_name: str = "worker",
    ) -> None:
        self.log_path = world.folder / f"{log_name}.log"
        self.cmd = [sys.executable, "-m", "natsched", "-v", "worker", "--db", world.db_url]
        self.cmd += ["--clock", world.plan_start.isoformat(), "--poll-seconds", str(poll)]
        self.cmd += ["--debounce-seconds", str(debounce), "--lease-seconds", str(lease)]
        self.cmd += ["--time-limit", str(time_limit), "--interval-minutes", "600"]
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Worker:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(self.cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


CSRF = re.compile(rb'name="csrf_token"[^>]*value="([^"]+)"')


class Client:
    """One user of the faults and tests: a keep-alive connection and its cookies."""

    def __init__(self, port: int, timeout: float = 120.0, keepalive: bool = True) -> None:
        self.port = port
        self.timeout = timeout
        self.keepalive = keepalive
        self.cookies: dict[str, str] = {}
        self.conn: http.client.HTTPConnection | None = None

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        h = dict(headers or {})
        if not self.keepalive:
            h["Connection"] = "close"
        if self.cookies:
            h["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body=body, headers=h)
                resp = self.conn.getresponse()
                data = resp.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # the server closed an idle keep-alive connection: reconnect once
                self.close()
                if attempt or method != "GET":
                    raise
                continue
            for k, v in resp.getheaders():
                if k.lower() == "set-cookie":
                    name, _, rest = v.partition("=")
                    self.cookies[name.strip()] = rest.split(";", 1)[0]
            if not self.keepalive or resp.getheader("Connection", "").lower() == "close":
                self.close()
            return resp.status, data
        raise AssertionError("unreachable")

    def local_port(self) -> int | None:
        """This side's port of the open connection (to find which process holds it)."""
        sock = self.conn.sock if self.conn is not None else None
        return int(sock.getsockname()[1]) if sock is not None else None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def multipart(fields: dict[str, str], filename: str, data: bytes) -> tuple[bytes, str]:
    """A multipart/form-data body with ``fields`` and one file as ``file``."""
    boundary = "natsched" + uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    parts.append(
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{filename}"\r\nContent-Type: {upload_type(filename)}\r\n\r\n'
        ).encode()
        + data
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def upload_type(filename: str) -> str:
    """The content type a county office's browser would send for its file."""
    if filename.endswith(".xlsx"):
        return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return "text/csv"


def post_upload(client: Client, token: str, county: str, path: Path) -> tuple[int, bytes]:
    body, ctype = multipart({"county": county, "mode": "commit"}, path.name, path.read_bytes())
    return client.request(
        "POST",
        "/api/v1/uploads",
        body=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": ctype},
    )


def csrf_token(page: bytes) -> str:
    found = CSRF.search(page)
    return found.group(1).decode() if found else ""


def login(client: Client, username: str, password: str = PASSWORD) -> int:
    """The login form as a browser sends it; returns the POST's status (302: logged in)."""
    status, page = client.request("GET", "/login")
    if status != 200:
        return status
    return post_login(client, csrf_token(page), username, password)


def post_login(client: Client, token: str, username: str, password: str) -> int:
    """The login form's POST with a CSRF token read before; returns the status."""
    body = urlencode({"csrf_token": token, "username": username, "password": password})
    status, _ = client.request(
        "POST",
        "/login",
        body=body.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    return status


def health(port: int) -> dict[str, Any] | None:
    """``GET /api/v1/health``: its status and JSON body, or None where there is no such route."""
    try:
        status, body = Client(port, timeout=30, keepalive=False).request("GET", "/api/v1/health")
    except OSError:
        return None
    if status == 404:
        return None
    try:
        data = json.loads(body)
    except ValueError:
        data = body[:200].decode(errors="replace")
    return {"http_status": status, "body": data}
