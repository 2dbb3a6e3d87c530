"""``natsched replan``, ``natsched plans`` and ``natsched event``: the day from the command line."""

from __future__ import annotations

import argparse
import contextlib
import os
from datetime import datetime
from typing import TYPE_CHECKING

from scheduler.cli import CliError, workers_arg
from scheduler.domain import BATCH_STATES

if TYPE_CHECKING:
    from scheduler.replan.core import ReplanSettings

FMT = argparse.RawDescriptionHelpFormatter


def _now(text: str | None) -> datetime:
    from scheduler.spec_io import parse_ts

    return parse_ts(text) if text else datetime.now().replace(microsecond=0)


def _cmd_replan(args: argparse.Namespace) -> int:
    from scheduler.replan.core import replan
    from scheduler.store.db import existing_database, make_engine, upgrade

    url = existing_database(args.db)
    upgrade(url)
    settings = replan_settings(args)
    out = replan(make_engine(url), _now(args.at), settings=settings)
    score = f"{out.score:,.1f}" if out.score is not None else "-"
    state = "published" if out.published else "not published"
    print(
        f"plan {out.version_id}: {state} ({out.reason}); score {score}; {out.moved} batches moved"
    )
    return 0 if out.score is not None else 1


def _cmd_plans_list(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from scheduler.store import models as m
    from scheduler.store.db import existing_database, make_engine, transaction

    with transaction(make_engine(existing_database(args.db))) as s:
        rows = s.scalars(select(m.PlanVersion).order_by(m.PlanVersion.id.desc()).limit(args.limit))
        print(f"{'id':>5}  {'created':16}  {'status':10} {'score':>14} {'gap':>7}  published")
        for v in rows:
            gap = f"{v.gap:.2%}" if v.gap is not None else "-"
            score = f"{v.score:,.1f}" if v.score is not None else v.error[:30]
            print(
                f"{v.id:>5}  {v.created_at:%Y-%m-%d %H:%M}  {v.status:10} {score:>14} {gap:>7}"
                f"  {'*' if v.published else ''}"
            )
    return 0


def _cmd_plans_diff(args: argparse.Namespace) -> int:
    from scheduler.replan.diff import diff_plans
    from scheduler.store.db import existing_database, make_engine, transaction

    with transaction(make_engine(existing_database(args.db))) as s:
        try:
            moves = diff_plans(s, args.a, args.b)
        except LookupError as exc:
            raise CliError(str(exc)) from exc
    print(f"{len(moves)} batches changed between plan {args.a} and plan {args.b}")
    for mv in moves[: args.limit]:
        print(f"  {mv.batch_id:<24} {mv.from_lab or '-':>16} -> {mv.to_lab or '-':<16} {mv.why}")
    if len(moves) > args.limit:
        print(f"  ... and {len(moves) - args.limit} more")
    return 0


def _cmd_event(args: argparse.Namespace) -> int:
    from scheduler.replan import events
    from scheduler.store.db import existing_database, make_engine, transaction

    now = _now(args.at)
    try:
        with transaction(make_engine(existing_database(args.db))) as s:
            if args.kind == "lab":
                events.lab_status(
                    s,
                    args.id,
                    now=now,
                    user=args.user,
                    capacity_per_hour=args.capacity,
                    outage_from=_now(args.outage_from) if args.outage_from else None,
                    outage_to=_now(args.outage_to) if args.outage_to else None,
                    back_to_normal=args.normal,
                )
            elif args.kind == "pin":
                events.pin_batch(s, args.id, args.lab, now=now, user=args.user)
            elif args.kind == "batch":
                events.batch_status(
                    s, args.id, args.status, now=now, user=args.user, lab_id=args.lab
                )
            else:
                r = events.positive_pool(
                    s, args.id, now=now, user=args.user, recall_minutes=args.recall_minutes
                )
                print(f"retest batch {r.batch_id}: {r.tubes} single tubes")
    except events.EventError as exc:
        raise CliError(str(exc)) from exc
    print("recorded; a re-plan is requested")
    return 0


def _cmd_worker(args: argparse.Namespace) -> int:
    import logging

    from scheduler.replan.worker import WorkerSettings, run
    from scheduler.store.db import existing_database, upgrade

    logging.getLogger("scheduler").setLevel(logging.INFO)
    # a tick that finds a solve still running is skipped by design, not worth a warning;
    # the worker logs its own failures (scheduler.replan.worker)
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    from scheduler.clock import Clock

    # the command's own words first, then the database it names
    try:
        clock = Clock.parse(args.clock)
    except ValueError as exc:
        raise CliError(f"--clock {args.clock!r}: {exc}") from exc
    if clock.fixed is not None:
        raise CliError("--clock: the worker's day runs on; give a start time without 'fixed:'")
    url = existing_database(args.db)
    upgrade(url)
    if args.nice:
        # a solve is batch work: web processes on the same machine must win the CPU
        os.nice(args.nice)
    settings = WorkerSettings(
        interval_minutes=args.interval_minutes,
        debounce_seconds=args.debounce_seconds,
        lease_seconds=args.lease_seconds,
        replan=replan_settings(args),
    )
    with contextlib.suppress(KeyboardInterrupt):
        run(url, settings, poll_seconds=args.poll_seconds, clock=clock)
    return 0


def solve_options(p: argparse.ArgumentParser) -> None:
    """The re-plan's solve settings, shared by ``replan`` and ``worker``."""
    p.add_argument("--time-limit", type=float, default=30.0, help="solve time limit (s)")
    p.add_argument(
        "--freeze-minutes", type=int, default=60, help="pickups this close keep their lab"
    )
    p.add_argument("--move-penalty", type=float, default=100.0, help="gain a lab change must bring")

    p.add_argument(
        "--workers",
        type=workers_arg,
        default=0,
        help="cores per solve (default 0: all; 1: the same data gives the same plan)",
    )


def replan_settings(args: argparse.Namespace) -> ReplanSettings:
    from scheduler.replan.core import ReplanSettings

    return ReplanSettings(
        freeze_minutes=args.freeze_minutes,
        time_limit=args.time_limit,
        seed=getattr(args, "seed", 0),
        move_penalty=args.move_penalty,
        workers=args.workers,
    )


def add_parser(sub: argparse._SubParsersAction) -> None:
    def db(p: argparse.ArgumentParser) -> None:
        p.add_argument("--db", help="SQLAlchemy URL (default: NATSCHED_DATABASE_URL or SQLite)")

    p = sub.add_parser(
        "replan",
        help="Re-plan now from the database and publish if better or necessary.",
        epilog="example:\n  natsched replan --now --time-limit 30",
        formatter_class=FMT,
    )
    db(p)
    p.add_argument("--now", action="store_true", help="run one re-plan immediately")
    p.add_argument("--at", help="the time to plan for (default: the clock)")
    p.add_argument("--seed", type=int, default=0)
    solve_options(p)
    p.set_defaults(handler=_cmd_replan)

    w = sub.add_parser(
        "worker",
        help="Run the re-planning worker (APScheduler; one per database).",
        epilog="example:\n  natsched worker --interval-minutes 15 --debounce-seconds 60",
        formatter_class=FMT,
    )
    db(w)
    w.add_argument("--interval-minutes", type=float, default=15.0, help="periodic re-plan")
    w.add_argument("--debounce-seconds", type=float, default=60.0, help="wait after an event")
    w.add_argument("--poll-seconds", type=float, default=10.0, help="how often to check")
    w.add_argument("--lease-seconds", type=float, default=120.0, help="lock lease")
    w.add_argument(
        "--clock", help="run the day from another time: 2022-01-09T08:00 (runs on, like serve)"
    )
    w.add_argument(
        "--nice",
        type=int,
        default=10,
        choices=range(0, 20),
        metavar="N",
        help="lower the worker's CPU priority by N (default 10: web processes on the same "
        "machine answer first; 0 keeps it)",
    )
    solve_options(w)
    w.set_defaults(handler=_cmd_worker)

    plans = sub.add_parser(
        "plans",
        help="Plan versions: list and diff.",
        epilog="example:\n  natsched plans diff 3 4",
        formatter_class=FMT,
    )
    psub = plans.add_subparsers(dest="plans_command", metavar="ACTION")
    ls = psub.add_parser(
        "list",
        help="the newest versions",
        epilog="example:\n  natsched plans list",
        formatter_class=FMT,
    )
    db(ls)
    ls.add_argument("--limit", type=int, default=20)
    ls.set_defaults(handler=_cmd_plans_list)
    d = psub.add_parser(
        "diff",
        help="which batches moved, from where to where, and why",
        epilog="example:\n  natsched plans diff 3 4",
        formatter_class=FMT,
    )
    db(d)
    d.add_argument("a", type=int)
    d.add_argument("b", type=int)
    d.add_argument("--limit", type=int, default=50)
    d.set_defaults(handler=_cmd_plans_diff)

    ev = sub.add_parser(
        "event",
        help="Record a lab status change, a batch status or a positive pool.",
        epilog=(
            "example:\n  natsched event lab L410101-CDC01 --outage-from 2022-01-09T10:00 "
            "--outage-to 2022-01-09T13:00"
        ),
        formatter_class=FMT,
    )
    db(ev)
    ev.add_argument("kind", choices=("lab", "batch", "positive", "pin"))
    ev.add_argument("id", help="lab id or batch id")
    ev.add_argument("--at", help="when (default: the clock)")
    ev.add_argument("--user", default="cli")
    ev.add_argument("--capacity", type=int, help="lab: new tubes per hour")
    ev.add_argument("--outage-from", help="lab: outage start")
    ev.add_argument("--outage-to", help="lab: outage end")
    ev.add_argument("--normal", action="store_true", help="lab: back to normal")
    ev.add_argument("--status", help=f"batch: {' | '.join(BATCH_STATES[1:])}")
    ev.add_argument("--lab", help="batch / pin: the lab it goes to (pin without --lab unpins)")
    ev.add_argument(
        "--recall-minutes", type=int, default=120, help="positive: until people are back"
    )
    ev.set_defaults(handler=_cmd_event)
