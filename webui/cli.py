"""``natsched serve`` and ``natsched users``: run the web app, manage who may use it."""

from __future__ import annotations

import argparse
import getpass
import os
import secrets
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from scheduler.cli import CliError

FMT = argparse.RawDescriptionHelpFormatter
DEMO_USERS_FILE = "demo-users.txt"
DEMO_UPLOADS_DIR = "demo-uploads"
#: waitress threads beyond the request slots and the logins' waits
SPARE_THREADS = 4


def _cmd_serve(args: argparse.Namespace) -> int:
    import logging

    from webui import create_app
    from webui.overload import make_server
    from webui.planner import start_worker

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # a tick that finds a solve still running is skipped by design, not worth a warning
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    config: dict[str, Any] = {}
    if args.db:
        config["DATABASE_URL"] = args.db
    if args.clock:
        config["CLOCK"] = args.clock
    if args.replan_time_limit is not None:
        config["REPLAN_TIME_LIMIT"] = args.replan_time_limit
    if args.request_slots is not None:
        config["REQUEST_SLOTS"] = args.request_slots
    if args.slot_wait is not None:
        config["REQUEST_SLOT_WAIT_SECONDS"] = args.slot_wait
    app = create_app(config)
    slots = int(app.config["REQUEST_SLOTS"])
    # threads beyond the slots: a few answer probes, files and quick 503s while every slot
    # renders, and one per login that may wait its turn for a password hasher (a wait
    # that holds no slot, webui.auth)
    threads = args.threads or slots + SPARE_THREADS + int(app.config["PASSWORD_HASH_QUEUE"])
    if not 1 <= slots < threads:
        print(
            f"error: --request-slots {slots} must be 1 to --threads - 1 ({threads - 1}): "
            "the threads left over answer health checks and refusals while pages render",
            file=sys.stderr,
        )
        return 2
    if args.demo:
        _load_demo(app)
    sched = None if args.no_worker else start_worker(app, poll_seconds=args.poll_seconds)
    url = f"http://{args.host}:{args.port}/"
    print(f"natsched is serving on {url}  (database: {app.config['DATABASE_URL']})", flush=True)
    if args.demo:
        print(f"demo accounts and their password: {Path(app.instance_path) / DEMO_USERS_FILE}")
    try:
        make_server(
            app,
            host=args.host,
            port=args.port,
            threads=threads,
            connection_limit=args.connection_limit,
            ident="natsched",
        ).run()
    finally:
        if sched is not None:
            sched.shutdown(wait=False)
    return 0


def _load_demo(app: Any) -> None:
    """Seed the demo preset, replayed from the current hour, and demo accounts, once."""
    from sqlalchemy import select

    from scheduler.domain import shifted
    from scheduler.fixturegen import generate
    from scheduler.store import models as m
    from scheduler.store.db import transaction
    from scheduler.store.world import seed
    from webui import models as wm
    from webui.accounts import create_user

    engine = app.extensions["natsched.engine"]
    now: datetime = app.extensions["natsched.clock"].now()
    with transaction(engine) as s:
        if s.get(m.Setting, "instance") is None:
            problem = generate("demo").problem
            start = now.replace(minute=0, second=0, microsecond=0)
            seed(s, shifted(problem, start - problem.config.plan_start), now=now, user="demo")
            print(f"seeded the demo preset: {len(problem.batches)} batches from {start:%F %H:%M}")
        _write_demo_uploads(s, Path(app.instance_path) / DEMO_UPLOADS_DIR, now, app)
        if s.scalar(select(wm.User.id).limit(1)) is not None:
            return
        password = secrets.token_urlsafe(9)
        names: list[tuple[str, str, str | None, str | None]] = [("ops", "ops", None, None)]
        names += [(f"county-{c}", "county", c, None) for c in s.scalars(select(m.County.code))]
        names += [(f"lab-{lab}", "lab", None, lab) for lab in s.scalars(select(m.Lab.lab_id))]
        for name, role, county, lab in names:
            create_user(s, name, password, role, county_code=county, lab_id=lab)
    path = Path(app.instance_path) / DEMO_USERS_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"password for every demo account: {password}\n")
        f.writelines(f"{name}\t{role}\n" for name, role, _, _ in names)
    print(f"demo accounts: ops, county-<code>, lab-<lab id>; password: {password}")


def _write_demo_uploads(session: Any, folder: Path, now: datetime, app: Any) -> None:
    """County files for the demo world's own dates, to try the county page with.

    The files shipped in ``fixtures/demo/uploads`` are dated for the fixture's
    day; the demo world is replayed from the hour it was first served, so the
    samples are written anew for the stored world's days (an older file would
    rightly be refused as stale), with the windows an office could report now.
    """
    from datetime import timedelta

    from webui.settings import ingest_settings

    rules = ingest_settings(app)
    latest = now + timedelta(hours=rules.max_future_hours)
    oldest = now - timedelta(hours=rules.max_sample_age_hours)
    from dataclasses import replace

    from scheduler.fixturegen import generate
    from scheduler.fixturegen.uploads import write_uploads
    from scheduler.spec_io import parse_ts
    from scheduler.store import models as m

    setting = session.get(m.Setting, "instance")
    if setting is None:
        return
    fx = generate("demo")
    delta = parse_ts(setting.value["plan_start"]) - fx.problem.config.plan_start
    shifted = {
        county: [
            replace(
                r,
                window_start=r.window_start + delta,
                window_end=r.window_end + delta,
                due_at=r.due_at + delta if r.due_at else None,
            )
            for r in rows
            if r.window_start + delta <= latest and r.window_end + delta >= oldest
        ]
        for county, rows in fx.uploads.items()
    }
    write_uploads({c: rows for c, rows in shifted.items() if rows}, folder)
    print(f"county files for the demo's dates, to upload: {folder}")


def _session(args: argparse.Namespace) -> Any:
    from scheduler.store.db import existing_database, make_engine, transaction, upgrade

    url = existing_database(args.db)
    upgrade(url)
    return transaction(make_engine(url))


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if first != getpass.getpass("again: "):
        raise CliError("the two passwords differ")
    return first


def _cmd_users_create(args: argparse.Namespace) -> int:
    from webui.accounts import AccountError, create_user

    password = _read_password(args)
    with _session(args) as s:
        try:
            u = create_user(
                s, args.username, password, args.role, county_code=args.county, lab_id=args.lab
            )
        except AccountError as exc:
            raise CliError(str(exc)) from exc
        print(f"created {u.role} user {u.username}")
    return 0


def _cmd_users_list(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from webui import models as wm

    with _session(args) as s:
        for u in s.scalars(select(wm.User).order_by(wm.User.username)):
            where = u.county_code or u.lab_id or ""
            print(
                f"{u.username:<24} {u.role:<7} {where:<16} {'active' if u.active else 'disabled'}"
            )
    return 0


def _cmd_users_token(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from webui import models as wm
    from webui.accounts import issue_token

    with _session(args) as s:
        u = s.scalar(select(wm.User).where(wm.User.username == args.username))
        if u is None:
            raise CliError(f"no user {args.username!r}")
        token = issue_token(s, u, args.label, datetime.now().replace(microsecond=0))
    print(token)
    print("(shown once: keep it in the client's secret store)", file=sys.stderr)
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="run the web app (waitress) with the re-planning worker",
        description="Run the web UI and API with waitress, and the re-planning worker in-process.",
        epilog="example:\n  natsched serve --demo   (then open http://127.0.0.1:8000/)",
        formatter_class=FMT,
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument(
        "--threads",
        type=int,
        help="waitress threads (default: the request slots, 4 more for probes and quick 503s, "
        "and one per login that may wait for a password hasher)",
    )
    p.add_argument(
        "--request-slots",
        type=int,
        help="requests rendering at once (default REQUEST_SLOTS, 12)",
    )
    p.add_argument(
        "--slot-wait",
        type=float,
        help="seconds a request may wait for a slot before its 503 (default 2)",
    )
    p.add_argument(
        "--connection-limit",
        type=int,
        default=1000,
        help="open connections served at once (a mass screening: every office and lab at once)",
    )
    p.add_argument("--db", help="database URL (default: NATSCHED_DATABASE_URL or instance/ SQLite)")
    p.add_argument(
        "--demo", action="store_true", help="load the demo preset and demo accounts when empty"
    )
    p.add_argument(
        "--clock",
        help="run the day from another time: 2022-01-09T08:00 (runs on) or fixed:2022-01-09T08:00",
    )
    p.add_argument("--no-worker", action="store_true", help="do not re-plan in this process")
    p.add_argument("--poll-seconds", type=float, default=10.0, help="worker poll interval")
    p.add_argument("--replan-time-limit", type=float, help="seconds per re-plan solve")
    p.set_defaults(handler=_cmd_serve)

    u = sub.add_parser(
        "users",
        help="create and list users, issue API tokens",
        description="Manage the web app's users. The first ops user is made here.",
        epilog="example:\n  natsched users create admin --role ops",
        formatter_class=FMT,
    )
    us = u.add_subparsers(dest="users_command", required=True)
    c = us.add_parser("create", help="create a user (password asked twice, or --password-stdin)")
    c.add_argument("username")
    c.add_argument("--role", required=True, choices=("ops", "county", "lab"))
    c.add_argument("--county", help="county code, for a county office user")
    c.add_argument("--lab", help="lab id, for a lab coordinator")
    c.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    c.add_argument("--db", help="database URL")
    c.set_defaults(handler=_cmd_users_create)
    ls = us.add_parser("list", help="list users")
    ls.add_argument("--db", help="database URL")
    ls.set_defaults(handler=_cmd_users_list)
    t = us.add_parser("token", help="issue an API token for a user (printed once)")
    t.add_argument("username")
    t.add_argument("--label", default="", help="what the token is for")
    t.add_argument("--db", help="database URL")
    t.set_defaults(handler=_cmd_users_token)
