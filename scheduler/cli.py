"""The library's commands (``plan``, ``check``, ``bound``) and what every command shares.

The console script (:mod:`natsched.cli`) composes these with the other
layers' commands. Exit codes: 0 success (and, for ``check``, a valid plan),
1 an invalid plan, 2 unreadable input or a usage error.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the solver stack loads only when a command needs it
    from scheduler.result import Result

EXIT_OK, EXIT_INVALID, EXIT_INPUT = 0, 1, 2

Handler = Callable[[argparse.Namespace], int]


class CliError(Exception):
    """A problem the user can fix, reported in one line with exit code 2."""


def add_command(
    sub: argparse._SubParsersAction, name: str, help_: str, example: str, handler: Handler
) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        name,
        help=help_,
        description=help_,
        epilog=f"example:\n  {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.set_defaults(handler=handler)
    return p


def _cmd_plan(args: argparse.Namespace) -> int:
    from scheduler.progress import ProgressBar
    from scheduler.report import format_result
    from scheduler.solve import solve
    from scheduler.spec_io import load_instance, read_plan, write_plan

    problem = load_instance(args.instance)
    initial = read_plan(args.initial_plan) if args.initial_plan else None
    # fail before a long solve, not after it
    _check_writable(args.output)
    bar = ProgressBar(args.time_limit) if not args.quiet else None
    try:
        result = solve(
            problem,
            solver=args.solver,
            time_limit=args.time_limit,
            seed=args.seed,
            initial_plan=initial,
            compute_bound=not args.no_bound,
            progress=bar,
            max_iterations=args.iterations,
            workers=args.workers,
        )
    finally:
        if bar is not None:
            bar.close()
    out = write_plan(problem, result.plan, args.output)
    if args.json:
        print(json.dumps({**result.to_dict(), "plan_file": str(out)}, ensure_ascii=False))
    else:
        head, _, rest = format_result(problem, result).partition("\n")
        print(head)
        strong = strong_bound_line(result)
        if strong:
            print(strong)
        print(rest)
        print(f"plan written to {out}")
    return EXIT_OK


def strong_bound_line(result: Result) -> str:
    """The strong bound and its gap, for the line under the SPEC bound's (empty: none)."""
    if result.bound_strong is None:
        return ""
    gap = result.gap_strong
    gap_txt = "-" if gap is None else ("inf" if gap == float("inf") else f"{100 * gap:.3f}%")
    return (
        f"strong bound {result.bound_strong:,.2f}   gap {gap_txt}   ({result.bound_strong_method})"
    )


def workers_arg(text: str) -> int:
    """``--workers``: 0 (all cores) or a count."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 (all cores) or more")
    return value


def _check_writable(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror or exc}") from exc
    if path.is_dir() or not os.access(path.parent, os.W_OK):
        raise CliError(f"cannot write {path}: not a writable file path")


def _cmd_check(args: argparse.Namespace) -> int:
    from scheduler.evaluate import evaluate
    from scheduler.report import format_evaluation
    from scheduler.spec_io import load_instance, read_plan

    problem = load_instance(args.instance)
    plan = read_plan(args.plan)
    ev = evaluate(problem, plan)
    if args.json:
        print(json.dumps(ev.to_dict(include_batches=args.batches), ensure_ascii=False))
    else:
        print(format_evaluation(problem, ev))
    return EXIT_OK if ev.valid else EXIT_INVALID


def _cmd_bound(args: argparse.Namespace) -> int:
    from scheduler.network import Network
    from scheduler.solvers.bounds import lower_bound
    from scheduler.spec_io import load_instance

    problem = load_instance(args.instance)
    res = lower_bound(Network.build(problem))
    if args.json:
        print(
            json.dumps(
                {"bound": res.value, "method": res.method, "arcs": res.arcs, "seconds": res.seconds}
            )
        )
    else:
        print(f"method: {res.method}, {res.arcs:,} arcs, {res.seconds:.2f} s")
        print(f"{res.value:.4f}")
    return EXIT_OK


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``plan``, ``check`` and ``bound``."""
    p = add_command(
        sub,
        "plan",
        "Plan an instance folder and write the plan CSV.",
        "natsched plan fixtures/demo -o build/plan.csv --time-limit 30",
        _cmd_plan,
    )
    p.add_argument("instance", type=Path, help="SPEC instance folder")
    p.add_argument("-o", "--output", type=Path, required=True, help="plan CSV to write")
    from scheduler.solve import SOLVERS

    p.add_argument("--solver", choices=SOLVERS, default=SOLVERS[-1], help="default: %(default)s")
    p.add_argument("--time-limit", type=float, default=60.0, help="seconds (default 60)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--initial-plan", type=Path, help="warm start from this plan CSV")
    p.add_argument(
        "--iterations",
        type=int,
        help="stop after this many neighbourhoods (ruin-and-recreate rounds or CP-SAT models)",
    )
    p.add_argument(
        "--workers",
        type=workers_arg,
        default=0,
        help="cores to use (default 0: all); with 1 the time limit is measured in "
        "work, so the same seed gives the same plan",
    )
    p.add_argument("--no-bound", action="store_true", help="skip the lower bound")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the result as JSON")

    p = add_command(
        sub,
        "check",
        "Validate a plan against the SPEC and print its score and KPIs.",
        "natsched check fixtures/demo build/plan.csv --json",
        _cmd_check,
    )
    p.add_argument("instance", type=Path, help="SPEC instance folder")
    p.add_argument("plan", type=Path, help="plan CSV")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--batches", action="store_true", help="with --json: include per-batch outcomes")

    p = add_command(
        sub,
        "bound",
        "Compute the SPEC lower bound (min-cost flow); the value is the last line.",
        "natsched bound fixtures/demo",
        _cmd_bound,
    )
    p.add_argument("instance", type=Path, help="SPEC instance folder")
    p.add_argument("--json", action="store_true", help="print one JSON object")
