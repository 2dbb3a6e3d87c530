"""``natsched whatif``: drills and what-if from the command line.

A base (a SPEC folder, or ``live``: the database's state now) plus scenarios
of readable changes (``docs`` in :mod:`scheduler.scenarios.changes`), solved
side by side; ``--recommend`` finds the fewest mobile labs a scenario needs,
with the proof that one fewer cannot; ``--sweep`` solves the base at growing
demand.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scheduler.cli import CliError, add_command, workers_arg

if TYPE_CHECKING:
    from scheduler.domain import Problem
    from scheduler.scenarios.recommend import MobileSpec, Recommendation
    from scheduler.scenarios.run import Outcome
    from scheduler.scenarios.sweep import LabValue, SweepPoint

EXAMPLE = (
    'natsched whatif /tmp/city --change "screening city 4101 people 12600000 '
    'window 09:00-15:00 pool 10 due 24h" --recommend mobile 40000/day from 12:00 '
    "--time-limit 30"
)
EPILOG_GRAMMAR = """
changes (HH:MM is on the plan's first day; a..b may end time-only; AREA is a
4-digit city or 6-digit county code):
  lab ID down A..B                  lab ID capacity xF
  labs city|county AREA capacity xF
  add mobile lab at AREA N/day [from T] [isolation yes|no]
  demand city|county AREA xF        demand category K xF
  screening city|county AREA people N window A-B pool P due Dh
  travel xF                         sla PRIORITY Dh
"""


def _error(text: str) -> Exception:

    return CliError(text)


def _load_base(args: argparse.Namespace) -> Problem:
    if args.base == "live":
        return _live_base(args)
    from scheduler.spec_io import load_instance

    return load_instance(Path(args.base))


def _live_base(args: argparse.Namespace) -> Problem:
    # lazy: the library side stays free of SQLAlchemy
    from scheduler.replan.core import planning_problem
    from scheduler.store.db import make_engine, transaction, upgrade

    upgrade(args.db)
    now = datetime.now().replace(microsecond=0)
    with transaction(make_engine(args.db)) as s:
        problem, _ = planning_problem(s, now)
    return problem


def _scenarios(args: argparse.Namespace, base: Problem) -> list[Any]:
    from scheduler.scenarios.changes import ChangeError, LineError, parse_change, read_scenario_file
    from scheduler.scenarios.run import Scenario

    out = [Scenario("base")]
    if args.change:
        changes = []
        for n, line in enumerate(args.change, 1):
            try:
                changes.append(parse_change(line, base))
            except ChangeError as exc:
                raise _error(f"--change {n}, {exc}") from exc
        out.append(Scenario("changes", tuple(changes)))
    for spec in args.scenario or []:
        name, sep, file = spec.partition("=")
        if not sep or not name or not file:
            raise _error(f"--scenario {spec!r}: expected NAME=FILE")
        try:
            text = Path(file).read_text(encoding="utf-8")
        except OSError as exc:
            raise _error(f"--scenario {name}: cannot read {file}: {exc.strerror or exc}") from exc
        try:
            out.append(Scenario(name, tuple(read_scenario_file(text, base))))
        except LineError as exc:
            raise _error(f"{file}, {exc}") from exc
    names = [s.name for s in out]
    if len(set(names)) != len(names):
        raise _error("scenario names must differ (and 'base' and 'changes' are taken)")
    return out


def _mobile_spec(tokens: list[str], base: Problem) -> MobileSpec:
    """``mobile N/day [from T] [isolation yes|no]``, read with the change grammar."""
    from scheduler.scenarios.changes import AddMobileLab, ChangeError, parse_change
    from scheduler.scenarios.recommend import MobileSpec

    text = " ".join(tokens)
    if not tokens or tokens[0].lower() != "mobile":
        raise _error(f"--recommend {text!r}: expected 'mobile N/day [from T] [isolation yes|no]'")
    # borrow the add-mobile-lab rule (any site's county stands in for the area)
    area = base.sites[0].county_code if base.sites else "000000"
    line = f"add mobile lab at {area} " + " ".join(tokens[1:])
    try:
        c = parse_change(line, base)
    except ChangeError as exc:
        shift = len(f"add mobile lab at {area} ") - len("mobile ")
        raise _error(
            f"--recommend, column {max(1, exc.column - shift)}: {exc.message}".replace(
                "add mobile lab at AREA N/day", "mobile N/day"
            )
        ) from exc
    assert isinstance(c, AddMobileLab)
    return MobileSpec(c.per_day, c.start, c.isolation)


def _sweep_factors(tokens: list[str]) -> list[float]:
    from scheduler.scenarios.sweep import factors_between

    text = " ".join(tokens)
    rule = "expected 'demand LO..HI step S', e.g. demand 1.0..3.0 step 0.1"
    try:
        axis, span, word, step = tokens
        lo, hi = (float(x) for x in span.split(".."))
        if axis != "demand" or word != "step":
            raise ValueError
        return factors_between(lo, hi, float(step))
    except ValueError:
        raise _error(f"--sweep {text!r}: {rule}") from None


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}%"


def _num(x: float | None, fmt: str = ",.0f") -> str:
    return "-" if x is None else format(x, fmt)


def _busy(busiest: list[tuple[str, float]], i: int) -> str:
    return f"{busiest[i][0]} {100 * busiest[i][1]:.0f}%" if i < len(busiest) else "-"


def format_side_by_side(outcomes: list[Outcome]) -> str:
    """The scenarios in fixed-width columns, one figure a row, then each one's shortfall."""
    w = max(16, *(len(o.scenario.name) + 2 for o in outcomes))
    rows: list[tuple[str, list[str]]] = []

    def row(label: str, values: list[str]) -> None:
        rows.append((label, values))

    f = [o.figures for o in outcomes]
    row("score", [_num(x.score) for x in f])
    row("bound", [_num(x.bound) for x in f])
    row("gap", [_pct(None if x.gap is None else 100 * x.gap) for x in f])
    for p in ("urgent", "high", "routine"):
        row(f"on time {p}", [_pct(x.on_time.get(p)) for x in f])
    row("tubes", [_num(x.tubes) for x in f])
    row("late tubes", [_num(x.late_tubes) for x in f])
    row("unassigned tubes", [_num(x.unassigned_tubes) for x in f])
    row("p95 turnaround h", [_num(x.p95_tat_h, ".1f") for x in f])
    for i in range(max(len(x.busiest) for x in f)):
        row(
            f"busiest lab {i + 1}",
            [
                f"{x.busiest[i][0]} {100 * x.busiest[i][1]:.0f}%" if i < len(x.busiest) else "-"
                for x in f
            ],
        )
    w = max(w, *(len(v) + 2 for _, vals in rows for v in vals))
    lines = [f"{'':<18}" + "".join(f"{o.scenario.name:>{w}}" for o in outcomes)]
    lines += [f"{label:<18}" + "".join(f"{v:>{w}}" for v in vals) for label, vals in rows]
    for o in outcomes:
        if o.scenario.changes:
            lines.append("")
            lines.append(f"{o.scenario.name}: " + "; ".join(c.text() for c in o.scenario.changes))
    for o in outcomes:
        lines.append("")
        lines.append(f"capacity shortfall, {o.scenario.name}:")
        if not o.shortfall.rows:
            lines.append("  none: every tube that can be on time is")
            continue
        lines.append(
            f"  {'city':<18} {'late':>10} {'unassigned':>10} {'structural':>10} "
            f"{'extra tubes/h':>13}  when"
        )
        for r in o.shortfall.rows[:10]:
            when = (
                f"{r.peak_from:%m-%d %H:%M}-{r.peak_to:%m-%d %H:%M}"
                if r.peak_from and r.peak_to
                else "-"
            )
            lines.append(
                f"  {r.city_name[:18]:<18} {r.late_tubes:>10,} {r.unassigned_tubes:>10,} "
                f"{r.structural_tubes:>10,} {r.peak_extra_per_hour:>13,.1f}  {when}"
            )
    return "\n".join(lines)


def format_recommendation(rec: Recommendation) -> str:
    lines = ["", "recommendation: " + rec.sentence()]
    lines.append(
        f"  target tubes {rec.target_tubes:,}; relaxation lower bound "
        f"{'-' if rec.lower_bound is None else rec.lower_bound} labs "
        f"(fewer cannot: {'proved' if rec.fewer_cannot else 'not proved'})"
    )
    for a in rec.attempts:
        lines.append(f"  tried {a}")
    if rec.verification is not None:
        v = rec.verification
        lines.append(
            f"  verification solve: score {v.score:,.0f}, late target tubes "
            f"{rec.verified_late_tubes:,}, other tubes on time in the base and late now "
            f"{rec.other_later_tubes:,}"
        )
    return "\n".join(lines)


def format_sweep(
    points: list[SweepPoint], breaks: dict[str, float | None], values: list[LabValue], at: float
) -> str:
    from scheduler.explain import city_name
    from scheduler.scenarios.sweep import chart

    lines = [chart(points), "", "where it breaks (first demand factor with a late tube):"]
    for city, f in breaks.items():
        lines.append(f"  {city_name(city)[:24]:<24} {'holds' if f is None else f'{f:.2f}x'}")
        pcts = " ".join(f"{p.on_time_by_city.get(city, 0):.0f}" for p in points)
        lines.append(f"    on time % by factor: {pcts}")
    lines.append("")
    lines.append(
        f"marginal value of capacity at {at:.2f}x (weighted tube-hours saved per +1 tube/h):"
    )
    lines.append(f"  {'lab':<18} {'from prices':>12} {'re-solved':>10}")
    for v in values[:10]:
        checked = "-" if v.checked is None else f"{v.checked:,.2f}"
        lines.append(f"  {v.lab_id:<18} {v.value:>12,.2f} {checked:>10}")
    return "\n".join(lines)


def _cmd_whatif(args: argparse.Namespace) -> int:
    from scheduler.replan.executors import ParallelExecutor
    from scheduler.scenarios.run import request_for, run_scenarios

    base = _load_base(args)
    scenarios = _scenarios(args, base)
    spec = _mobile_spec(args.recommend, base) if args.recommend else None
    factors = _sweep_factors(args.sweep) if args.sweep else None
    if args.max < 0:
        raise _error("--max must be >= 0")
    executor = ParallelExecutor(args.jobs)
    if factors is not None:
        return _run_sweep(args, scenarios[-1].problem(base), factors, executor)
    outcomes = run_scenarios(
        base, scenarios, time_limit=args.time_limit, seed=args.seed, executor=executor
    )
    rec = None
    if spec is not None:
        from scheduler.scenarios.recommend import recommend

        target = outcomes[1] if len(outcomes) > 1 else outcomes[0]
        rec = recommend(
            base,
            outcomes[0].result,
            target.problem,
            target.result,
            spec,
            solve=lambda p, start: executor.solve(
                replace(request_for(p, args.time_limit, args.seed), initial_plan=start)
            ),
            max_labs=args.max,
        )
    if args.json:
        doc = {
            "scenarios": [o.to_dict() for o in outcomes],
            "recommendation": None if rec is None else rec.to_dict(),
        }
        print(json.dumps(doc, ensure_ascii=False))
    else:
        print(format_side_by_side(outcomes))
        if rec is not None:
            print(format_recommendation(rec))
    return 0


def _run_sweep(
    args: argparse.Namespace, problem: Problem, factors: list[float], executor: Any
) -> int:
    from scheduler.scenarios.changes import scale_demand
    from scheduler.scenarios.sweep import break_points, marginal_values, sweep

    points = sweep(problem, factors, time_limit=args.time_limit, seed=args.seed, executor=executor)
    breaks = break_points(points)
    # prices where the network first breaks, else at the highest demand swept
    broken = [p.factor for p in points if p.figures.late_tubes + p.figures.unassigned_tubes > 0]
    at = broken[0] if broken else factors[-1]
    values = marginal_values(scale_demand(problem, at))
    if args.json:
        doc = {
            "sweep": {
                "axis": "demand",
                "points": [p.to_dict() for p in points],
                "breaks": breaks,
                "marginal": {"factor": at, "labs": [v.to_dict() for v in values]},
            }
        }
        print(json.dumps(doc, ensure_ascii=False))
    else:
        print(format_sweep(points, breaks, values, at))
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:

    p = add_command(
        sub,
        "whatif",
        "Solve a base and scenarios of readable changes side by side; --recommend finds the "
        "fewest mobile labs a scenario needs (with the proof that one fewer cannot), --sweep "
        "solves the base at growing demand.",
        EXAMPLE,
        _cmd_whatif,
    )
    p.epilog = (p.epilog or "") + "\n" + EPILOG_GRAMMAR
    p.add_argument("base", help="SPEC instance folder, or 'live' (the database's state now)")
    p.add_argument(
        "--change", action="append", metavar="LINE", help="a change (repeatable): one scenario"
    )
    p.add_argument(
        "--scenario",
        action="append",
        metavar="NAME=FILE",
        help="a scenario file, one change a line",
    )
    p.add_argument("--time-limit", type=float, default=30.0, help="seconds per solve (default 30)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--jobs", type=workers_arg, default=0, help="solves at once (default 0: one per core)"
    )
    p.add_argument(
        "--recommend",
        nargs="+",
        metavar="WORD",
        help="mobile N/day [from T] [isolation yes|no]: the fewest such labs for the scenario",
    )
    p.add_argument(
        "--max", type=int, default=50, help="with --recommend: most labs tried (default 50)"
    )
    p.add_argument(
        "--sweep", nargs=4, metavar=("demand", "LO..HI", "step", "S"), help="demand LO..HI step S"
    )
    p.add_argument("--db", help="with BASE 'live': database URL (default: NATSCHED_DATABASE_URL)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
