"""A seeded database and a ``python -m scheduler serve`` subprocess on 127.0.0.1.

The world is made with the library (fixturegen, ``store.world.seed`` without
batches: the batches come from the county uploads) and accounts with
``webui.accounts``. The server runs a clock from the instance's plan start so
the upload files' time windows are accepted.
"""

from __future__ import annotations

import http.client
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Engine

from scheduler.fixturegen import generate
from scheduler.fixturegen.uploads import write_uploads
from scheduler.store import models as m
from scheduler.store.db import make_engine, transaction, upgrade
from scheduler.store.world import seed

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
PASSWORD = "stress-" + "pw"  # local throw-away accounts of a throw-away database


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

    def engine(self) -> Engine:
        return make_engine(self.db_url)


def seed_world(
    preset: str,
    folder: Path,
    *,
    counties: int,
    labs: int,
    preload: int = 0,
    first_plan_seconds: float | None = None,
    db_url: str | None = None,
) -> World:
    """Seed ``preset`` into a fresh SQLite file under ``folder``.

    ``counties`` upload files are written for the load; ``preload`` more are
    stored through the library first, and with ``first_plan_seconds`` a first
    plan is published over them, so faults have a plan to keep intact.
    """
    from unittest import mock

    from scheduler.ingest import IngestSettings, upload
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
            create_user(s, "ops", PASSWORD, "ops")
            for c in load_codes:
                u = create_user(s, f"county-{c}", PASSWORD, "county", county_code=c)
                tokens[c] = issue_token(s, u, "stress", start)
            lab_ids = list(s.scalars(select(m.Lab.lab_id).order_by(m.Lab.lab_id)))[:labs]
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


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Server:
    """One ``python -m scheduler serve`` process; use as a context manager.

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
        threads: int = 16,
        extra_env: dict[str, str | None] | None = None,
        log_name: str = "server",
        ready_path: str = "/login",
    ) -> None:
        self.world = world
        self.port = free_port()
        self.log_path = world.folder / f"{log_name}.log"
        cmd = [sys.executable, "-m", "scheduler", "serve", "--db", world.db_url]
        cmd += ["--host", HOST, "--port", str(self.port), "--threads", str(threads)]
        cmd += ["--clock", world.plan_start.isoformat(), "--poll-seconds", str(poll)]
        if not worker:
            cmd.append("--no-worker")
        self.cmd = cmd
        env: dict[str, str | None] = {
            **os.environ,
            "NATSCHED_SECRET_KEY": secrets.token_hex(32),
            "NATSCHED_UPLOAD_MAX_FUTURE_HOURS": "48",
            "NATSCHED_LOGIN_RATE_LIMIT": "100000 per minute",
            "NATSCHED_REPLAN_TIME_LIMIT": str(time_limit),
            "NATSCHED_REPLAN_DEBOUNCE_SECONDS": str(debounce),
            "NATSCHED_REPLAN_LEASE_SECONDS": str(lease),
            "NATSCHED_REPLAN_INTERVAL_MINUTES": "600",
            **(extra_env or {}),
        }
        env.pop("NATSCHED_DATABASE_URL", None)
        self.env = {k: v for k, v in env.items() if v is not None}
        self.ready_path = ready_path
        self.proc: subprocess.Popen[bytes] | None = None

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
                if conn.getresponse().status == 200:
                    conn.close()
                    return self
                conn.close()
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
    """A separate ``python -m scheduler worker`` process on the world's database.

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
        self.cmd = [sys.executable, "-m", "scheduler", "-v", "worker", "--db", world.db_url]
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
