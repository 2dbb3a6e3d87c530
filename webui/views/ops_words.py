"""The ops pages' enum words and stored reasons in the reader's language.

Plan statuses, lab kinds, audit actions, a move's reason and the re-planner's
decision are stored as English codes or text (the command line and the API
show them as they are); the pages translate them here. A word with no label
(an action added later) is shown as stored rather than failing the page.
"""

from __future__ import annotations

import json
import re
from typing import Any

from scheduler.replan.diff import DROPPED, LAB_CHANGE, Move
from webui.labels import LABELS
from webui.labels import say as _t

_DECISIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"first plan$"), "ops.decision.first"),
    (re.compile(r"inputs changed$"), "ops.decision.inputs"),
    (re.compile(r"the published plan no longer fits$"), "ops.decision.no_fit"),
    (
        re.compile(r"better or equal \((?P<new>[\d,.]+) <= (?P<old>[\d,.]+)\)$"),
        "ops.decision.better",
    ),
    (
        re.compile(r"worse than the published plan \((?P<new>[\d,.]+) > (?P<old>[\d,.]+)\)$"),
        "ops.decision.worse",
    ),
    (re.compile(r"solve failed: (?P<error>.*)$", re.S), "ops.decision.failed"),
)


_BINDING: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"pinned: already dispatched to (?P<lab>\S+)$"), "ops.bind.pinned"),
    (re.compile(r"no lab can take this batch whole"), "ops.bind.no_lab"),
    (
        re.compile(
            r"deadline cannot be met at any lab: best-case result (?P<best>.+?) at (?P<lab>\S+)"
            r" > deadline (?P<deadline>.+?) \("
        ),
        "ops.bind.deadline",
    ),
    (re.compile(r"unassigned: no allowed lab has room"), "ops.bind.unassigned"),
    (
        re.compile(
            r"capacity: (?P<lab>\S+) could return it by (?P<best>\S+) on an empty lab, "
            r"but with the plan's other batches only (?P<now>.+)$"
        ),
        "ops.bind.capacity",
    ),
    (
        re.compile(r"(?P<lab>\S+) gives the earliest result the capacity allows$"),
        "ops.bind.earliest",
    ),
    (
        re.compile(r"isolation: (?P<n>\d+) of (?P<total>\d+) labs are not cleared$"),
        "ops.bind.isolation",
    ),
    (re.compile(r"travel limit excludes (?P<n>\d+) labs$"), "ops.bind.travel"),
)


def _match(table: tuple[tuple[re.Pattern[str], str], ...], text: str) -> str:
    for pattern, key in table:
        found = pattern.match(text)
        if found:
            values = found.groupdict()
            if values.get("now") == "no room in the horizon":
                values["now"] = _t("ops.bind.no_room")
            return _t(key, **values)
    return text


def binding(text: str) -> str:
    """One of ``scheduler.explain``'s reasons why a box is where it is, translated."""
    return _match(_BINDING, text)


def word(group: str, value: str | None) -> str:
    """``value`` of the enum ``group`` (``lab_kind``, ``plan_status``, ``audit``...) translated."""
    if not value:
        return ""
    key = f"common.{group}.{value}"
    return _t(key) if key in LABELS else value


_DETAIL_GROUPS = ("status", "plan_status", "lab_kind", "lab_change", "priority", "role")


def any_word(value: object) -> object:
    """An audit detail's value: an enum word of any group translated, anything else as is."""
    if isinstance(value, str):
        for group in _DETAIL_GROUPS:
            if f"common.{group}.{value}" in LABELS:
                return _t(f"common.{group}.{value}")
    return value


def detail(key: str, value: object) -> tuple[str, str]:
    """One item of an audit row's detail as a reader sees it: its name and its value."""
    name = word("detail", key)
    if isinstance(value, bool):
        return name, _t("common.yes" if value else "common.no")
    if key == "reason" and isinstance(value, str):
        return name, decision(value)
    if isinstance(value, str):
        return name, str(any_word(value))
    return name, json.dumps(value, ensure_ascii=False, default=str)


def why(mv: Move) -> str:
    """Why a batch changed between two plans, from its reason code."""
    if not mv.code:
        return mv.why
    if mv.code == DROPPED:
        status = word("status", mv.detail) if mv.detail != "removed" else _t("ops.why.removed")
        return _t("ops.why.dropped", status=status)
    if mv.code == LAB_CHANGE:
        return _t("ops.why.lab_change", lab=mv.from_lab, kind=word("lab_change", mv.detail))
    return _t(f"ops.why.{mv.code}")


def decision(text: str | None) -> str:
    """The re-planner's decision as stored with a version, translated when it is a known one."""
    return _match(_DECISIONS, text) if text else ""


def worse_lines(note: dict[str, Any]) -> list[str]:
    """The sentences that say why a published plan is far worse than the last one."""
    lines = [_t("ops.worse", ratio=f"{note['ratio']:.1f}", previous=note["previous"])]
    lines += [
        _t("ops.worse_tubes", n=f"{n:,}", county=county) for county, n in note.get("more_tubes", [])
    ]
    lines += [
        _t("ops.worse_lab", lab=lab, kind=word("lab_change", kind))
        for lab, kind in note.get("labs", [])
    ]
    if len(lines) == 1:
        lines.append(_t("ops.worse_none"))
    return lines


def helpers() -> dict[str, Any]:
    """What the ops templates call (registered on the ops blueprint)."""
    return {
        "word": word,
        "why_of": why,
        "decision_of": decision,
        "worse_lines": worse_lines,
        "binding_of": binding,
        "detail_of": detail,
    }
