"""Plain-text, one-screen reports of an :class:`~scheduler.evaluate.Evaluation`.

Columns are aligned by hand (no table library) and the per-lab part is
condensed, so the report stays about a screen long even with 864 labs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from scheduler.domain import PRIORITIES, Problem
from scheduler.evaluate import Evaluation

if TYPE_CHECKING:  # only for the annotation: keeps report importable without the solver stack
    from scheduler.result import Result

#: labs listed by name in the utilisation summary
TOP_LABS = 10


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "  ") -> list[str]:
    """Right-align every column but the first (labels), two spaces apart."""
    widths = [len(h) for h in header]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        parts = [cells[0].ljust(widths[0])]
        parts += [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return (indent + "  ".join(parts)).rstrip()

    return [line(header)] + [line(r) for r in rows]


def _num(x: float | None, fmt: str = "{:.2f}") -> str:
    return "-" if x is None else fmt.format(x)


def _pct(part: int, whole: int) -> str:
    return "-" if whole <= 0 else f"{100.0 * part / whole:.1f}%"


def format_evaluation(problem: Problem, ev: Evaluation, *, max_violations: int = 50) -> str:
    """A compact text report: validity and the first ``max_violations`` violations,
    the score, a per-priority table and a condensed per-lab summary."""
    out: list[str] = []
    n_viol = len(ev.violations)
    if ev.valid:
        out.append("VALID plan")
    else:
        by_rule = ", ".join(f"rule {r}: {n}" for r, n in sorted(ev.violation_counts.items()) if n)
        out.append(f"INVALID plan: {n_viol} violation{'s' if n_viol != 1 else ''} ({by_rule})")
        for v in ev.violations[:max_violations]:
            out.append(f"  [rule {v.rule}] {v.message}")
        if n_viol > max_violations:
            out.append(f"  ... and {n_viol - max_violations} more")
        out.append("  (batches broken under rules 1-2 are scored as unassigned)")
    out.append(
        f"score {ev.score:,.2f}   tubes {ev.total_tubes:,}   assigned {ev.assigned_tubes:,}"
        f"   unassigned {ev.unassigned_tubes:,}   batches {len(problem.batches):,}"
    )
    out.append("")

    header = ["priority", "batches", "tubes", "on time", "mean TAT h", "p95 TAT h",
              "unassigned", "cost"]  # fmt: skip
    rows: list[list[str]] = []
    for p in PRIORITIES:
        k = ev.per_priority.get(p)
        if k is None:
            continue
        rows.append(
            [
                p,
                f"{k.batches:,}",
                f"{k.tubes:,}",
                _pct(k.tubes_on_time, k.tubes),
                _num(k.mean_tat_h),
                _num(k.p95_tat_h),
                f"{k.unassigned_tubes:,}",
                f"{k.cost:,.1f}",
            ]
        )
    out += _table(header, rows)
    out.append("")

    labs = ev.per_lab
    used = [lab_id for lab_id, k in labs.items() if k.planned_tubes > 0]
    mean_util = sum(k.utilisation for k in labs.values()) / len(labs) if labs else 0.0
    planned = sum(k.planned_tubes for k in labs.values())
    capacity = sum(k.capacity_after_backlog for k in labs.values())
    out.append(
        f"labs {len(labs):,} ({len(used):,} used)   mean utilisation {100 * mean_util:.1f}%"
        f"   overall {_pct(planned, capacity)} ({planned:,} / {capacity:,} tubes)"
    )
    top = sorted(labs.items(), key=lambda kv: (-kv[1].utilisation, kv[0]))[:TOP_LABS]
    top = [(lab_id, k) for lab_id, k in top if k.planned_tubes > 0]
    if top:
        names = {lab.lab_id: lab.name for lab in problem.labs}
        lab_rows = [
            [
                lab_id,
                f"{100 * k.utilisation:.1f}%",
                f"{k.planned_tubes:,}",
                f"{k.capacity_after_backlog:,}",
                f"{k.batches:,}",
                _clip(names.get(lab_id, ""), 24),
            ]
            for lab_id, k in top
        ]
        out.append(f"  most utilised (top {len(top)}):")
        lab_header = ["lab", "util", "planned", "capacity", "batches", "name"]
        out += _table(lab_header, lab_rows, indent="    ")
    return "\n".join(out)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def format_result(problem: Problem, result: Result, *, max_violations: int = 20) -> str:
    """Header line of a solve (solver, status, score, bound, gap, time) and its evaluation."""
    gap = result.gap
    gap_txt = "-" if gap is None else ("inf" if gap == float("inf") else f"{100 * gap:.3f}%")
    bound_txt = "-" if result.bound is None else f"{result.bound:,.2f}"
    timing = ", ".join(f"{k} {v:.2f}s" for k, v in result.timings.items())
    head = (
        f"solver {result.solver}   status {result.status}   score {result.score:,.2f}"
        f"   bound {bound_txt}   gap {gap_txt}   time {result.runtime:.2f}s ({timing})"
        f"   seed {result.seed}{' (repeatable)' if result.repeatable else ''}"
    )
    return (
        head + "\n" + format_evaluation(problem, result.evaluation, max_violations=max_violations)
    )
