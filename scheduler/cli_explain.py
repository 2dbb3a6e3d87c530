"""``natsched explain``: why a batch went where it did; where capacity falls short."""

from __future__ import annotations

import argparse
import json

from scheduler.spec_io import InputError, Located


def _cmd_explain(args: argparse.Namespace) -> int:
    from scheduler.explain import (
        capacity_shortfall,
        explain_batch,
        format_batch_explanation,
        format_shortfall,
    )
    from scheduler.network import Network
    from scheduler.spec_io import load_instance, read_plan

    problem = load_instance(args.instance)
    plan = read_plan(args.plan)
    net = Network.build(problem)
    if args.batch is not None:
        if args.batch not in problem.batch_index:
            raise InputError(
                [Located(str(args.instance), None, "batch_id", f"no batch {args.batch!r}")]
            )
        ex = explain_batch(problem, plan, args.batch, net=net)
        print(
            json.dumps(ex.to_dict(), ensure_ascii=False)
            if args.json
            else format_batch_explanation(ex, top=args.top)
        )
        return 0
    rep = capacity_shortfall(problem, plan, net=net)
    print(
        json.dumps(rep.to_dict(), ensure_ascii=False)
        if args.json
        else format_shortfall(rep, args.top)
    )
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "explain",
        help="Why a batch went where it did; where capacity falls short.",
        description=(
            "Without --batch: late and unassigned tubes by city and the capacity "
            "(tubes/hour, where, when) that would recover them. With --batch: every "
            "lab's option for that batch and what is binding."
        ),
        epilog=(
            "example:\n"
            "  natsched explain fixtures/demo build/demo-plan.csv --batch B411001-0001-01-01"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("instance", help="SPEC instance folder")
    p.add_argument("plan", help="plan CSV")
    p.add_argument("--batch", help="explain this batch")
    p.add_argument("--top", type=int, default=10, help="rows to show (default 10)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=_cmd_explain)
