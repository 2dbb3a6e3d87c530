"""The ``natsched`` console script: one parser composed of every layer's commands.

Exit codes: 0 success (and, for ``check``, a valid plan), 1 an invalid plan,
2 unreadable input or a usage error.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from natsched import bench, db, fixtures, replan, whatif
from scheduler import __version__, cli_explain
from scheduler import cli as library
from scheduler.cli import EXIT_INPUT, CliError
from scheduler.spec_io import InputError
from scheduler.store.errors import NoDatabase

AddParser = Callable[[argparse._SubParsersAction], None]

#: the web app's commands, listed when the web extra is not installed
WEB_COMMANDS = ("serve", "users")
#: the extra that brings each optional module, to say what a command lacks
EXTRA_OF = {
    **dict.fromkeys(("sqlalchemy", "alembic", "psycopg", "apscheduler"), "db"),
    **dict.fromkeys(
        ("flask", "flask_login", "flask_wtf", "flask_limiter", "wtforms", "pydantic", "waitress"),
        "web",
    ),
}


def _web_parser(sub: argparse._SubParsersAction) -> None:
    try:
        from webui.cli import add_parser
    except ModuleNotFoundError as exc:  # installed without the web extra
        missing = exc

        def lacking(args: argparse.Namespace) -> int:
            raise missing

        for name in WEB_COMMANDS:
            p = sub.add_parser(name, help="(needs the web extra: pip install 'natsched[web]')")
            p.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
            p.set_defaults(handler=lacking)
        return
    add_parser(sub)


#: in the order ``natsched --help`` lists them
COMMANDS: tuple[AddParser, ...] = (
    library.add_parser,
    fixtures.add_parser,
    cli_explain.add_parser,
    db.add_parser,
    replan.add_parser,
    whatif.add_parser,
    _web_parser,
    bench.add_parser,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="natsched",
        description="Plan PCR sample batches onto testing labs (see docs/spec.md).",
    )
    parser.add_argument("--version", action="version", version=f"natsched {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return EXIT_INPUT
    try:
        code: int = args.handler(args)
        return code
    except (InputError, CliError, NoDatabase) as exc:
        print(f"natsched: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except OSError as exc:
        print(f"natsched: error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_INPUT
    except ModuleNotFoundError as exc:
        module = (exc.name or "").partition(".")[0]
        extra = EXTRA_OF.get(module)
        if extra is None:
            raise
        print(
            f"natsched: error: {args.command} needs {module}, from the {extra!r} extra: "
            f"pip install 'natsched[{extra}]'",
            file=sys.stderr,
        )
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("natsched: interrupted", file=sys.stderr)
        return 130
