"""``natsched db ...`` and ``natsched upload``: the store from the command line."""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scheduler.domain import Problem

EXIT_INPUT = 2
Handler = Callable[[argparse.Namespace], int]

EXAMPLES = {
    "upgrade": "natsched db upgrade",
    "seed": "natsched db seed demo",
    "export": "natsched db export /tmp/current",
}


def _db_error_text(exc: BaseException) -> str | None:
    """A one-line explanation of a database failure, or None when it is not one."""
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, SQLAlchemyError

    if isinstance(exc, ArgumentError | NoSuchModuleError):
        return f"not a usable database URL: {_first_line(exc)}"
    if isinstance(exc, OperationalError):
        detail = _first_line(getattr(exc, "orig", None) or exc)
        if "no such table" in detail or "does not exist" in detail:
            return f"the database has no natsched schema ({detail}): run `natsched db upgrade`"
        return f"cannot use the database: {detail}"
    if isinstance(exc, SQLAlchemyError):
        return f"database error: {_first_line(getattr(exc, 'orig', None) or exc)}"
    return None


def _first_line(exc: object) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _guarded(handler: Handler) -> Handler:
    """Database failures end the command with exit code 2 and one line, never a traceback.

    Input errors (``InputError``, ``OSError``) are left to ``natsched.cli.main``.
    """

    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except LookupError as exc:  # snapshot() of an empty store says what to run
            print(f"natsched: error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
            return EXIT_INPUT
        except Exception as exc:
            text = _db_error_text(exc)
            if text is None:
                raise
            print(f"natsched: error: {text}", file=sys.stderr)
            return EXIT_INPUT

    return run


def _now(args: argparse.Namespace) -> datetime:
    from scheduler.spec_io import parse_ts

    return (
        parse_ts(args.now) if getattr(args, "now", None) else datetime.now().replace(microsecond=0)
    )


def _cmd_upgrade(args: argparse.Namespace) -> int:
    from scheduler.store.db import database_url, upgrade

    url = database_url(args.db)
    upgrade(url)
    print(f"database at the newest schema: {_safe(url)}")
    return 0


def _cmd_seed(args: argparse.Namespace) -> int:
    from scheduler.store.db import make_engine, transaction, upgrade
    from scheduler.store.world import seed

    problem = _problem_of(args.source, args.seed)
    upgrade(args.db)
    engine = make_engine(args.db)
    with transaction(engine) as s:
        seed(s, problem, now=_now(args), user="cli", with_batches=not args.without_batches)
    print(
        f"seeded {len(problem.labs)} labs, {len(problem.sites)} sites"
        + ("" if args.without_batches else f", {len(problem.batches)} batches")
    )
    return 0


def _problem_of(source: str, seed: int | None) -> Problem:
    from scheduler.fixturegen import PRESETS, generate
    from scheduler.spec_io import load_instance

    if Path(source).is_dir():
        return load_instance(source)
    if source in PRESETS:
        return generate(source, seed).problem
    from scheduler.spec_io import InputError, Located

    raise InputError([Located(source, None, None, "neither an instance folder nor a preset name")])


def _cmd_export(args: argparse.Namespace) -> int:
    from scheduler.store.db import existing_database, make_engine, transaction
    from scheduler.store.world import export_instance

    with transaction(make_engine(existing_database(args.db))) as s:
        out = export_instance(s, args.folder)
    print(f"instance written to {out}")
    return 0


def _cmd_upload(args: argparse.Namespace) -> int:
    from scheduler.ingest.reader import MAX_BYTES
    from scheduler.ingest.upload import IngestSettings, upload
    from scheduler.store.db import existing_database, make_engine, transaction, upgrade

    path = Path(args.file)
    size = path.stat().st_size
    if size > MAX_BYTES:
        # refuse before reading: the library would refuse too, after loading it all
        print(
            f"natsched: error: {path.name}: file is {size / 2**20:.1f} MB, "
            f"over the {MAX_BYTES // 2**20} MB limit; nothing was stored",
            file=sys.stderr,
        )
        return EXIT_INPUT
    data = path.read_bytes()
    url = existing_database(args.db)
    upgrade(url)
    settings = IngestSettings(max_future_hours=args.max_future_hours)
    with transaction(make_engine(url)) as s:
        rep = upload(
            s,
            data,
            path.name,
            args.county,
            user=args.user,
            now=_now(args),
            mode="dry-run" if args.dry_run else "commit",
            accept_valid_rows=args.accept_valid_rows,
            settings=settings,
        )
    if args.json:
        print(json.dumps(rep.to_dict(), ensure_ascii=False, default=str))
    else:
        print(
            f"{rep.status}: {rep.filename} rows {rep.rows_total}, valid {rep.rows_valid}, "
            f"stored {rep.rows_stored} (new {rep.counts_new}, replaced {rep.counts_replaced}, "
            f"unchanged {rep.counts_unchanged}), boxes {rep.batches_created}"
        )
        for e in rep.errors[:200]:
            print(f"  {path.name}: {e}")
        if len(rep.errors) > 200:
            print(f"  ... and {len(rep.errors) - 200} more")
        for e in rep.warnings[:200]:
            print(f"  {path.name}: warning: {e}")
    return 0 if not rep.errors or rep.status == "partial" else 2


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    db = subparsers.add_parser(
        "db",
        help="Create, seed and export the database.",
        description="The store: SQLite in ./instance by default, NATSCHED_DATABASE_URL otherwise.",
        epilog="example:\n  natsched db seed demo",
        formatter_class=fmt,
    )
    sub = db.add_subparsers(dest="db_command", metavar="ACTION")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--db", help="SQLAlchemy URL (default: NATSCHED_DATABASE_URL or SQLite)")

    p = sub.add_parser(
        "upgrade",
        help="apply the migrations",
        epilog=f"example:\n  {EXAMPLES['upgrade']}",
        formatter_class=fmt,
    )
    common(p)
    p.set_defaults(handler=_guarded(_cmd_upgrade))
    p = sub.add_parser(
        "seed",
        help="load a preset or an instance folder (replaces the world)",
        epilog=f"example:\n  {EXAMPLES['seed']}",
        formatter_class=fmt,
    )
    common(p)
    p.add_argument("source", help="preset name (demo, county, city, ...) or SPEC folder")
    p.add_argument("--seed", type=int, help="generator seed for a preset")
    p.add_argument(
        "--without-batches",
        action="store_true",
        help="labs and sites only; batches come from uploads",
    )
    p.add_argument("--now", help="timestamp recorded in the audit log")
    p.set_defaults(handler=_guarded(_cmd_seed))
    p = sub.add_parser(
        "export",
        help="write the stored world as a SPEC instance",
        epilog=f"example:\n  {EXAMPLES['export']}",
        formatter_class=fmt,
    )
    common(p)
    p.add_argument("folder", help="instance folder to write")
    p.set_defaults(handler=_guarded(_cmd_export))

    up = subparsers.add_parser(
        "upload",
        help="Check and store a county office's sample-count file.",
        description="Read a county upload (docs/uploads.md), report every bad cell, store it.",
        epilog=(
            "example:\n  natsched upload fixtures/demo/uploads/411001.csv --county 411001 --dry-run"
        ),
        formatter_class=fmt,
    )
    common(up)
    up.add_argument("file", help="CSV (UTF-8 or GB18030) or XLSX")
    up.add_argument("--county", required=True, help="the uploading office's county code")
    up.add_argument("--dry-run", action="store_true", help="report only, store nothing")
    up.add_argument(
        "--accept-valid-rows", action="store_true", help="store the good rows, report the rest"
    )
    up.add_argument("--user", default="cli", help="who uploads (audit log)")
    up.add_argument("--now", help="the time of the upload (default: now)")
    up.add_argument(
        "--max-future-hours", type=float, default=6.0, help="latest window start after now"
    )
    up.add_argument("--json", action="store_true", help="print the report as JSON")
    up.set_defaults(handler=_guarded(_cmd_upload))
