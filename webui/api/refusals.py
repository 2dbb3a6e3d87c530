"""How the API answers the service layer's refusals.

A broken rule (``scheduler.store.rules``) raises ``RuleViolation``; the API
translates it here, once, into its error shape naming the rule's field and
code, at the status the API gave the same refusal before the rules moved into
the service layer: 409 when the change does not fit the stored state (a box
going back, a box unpinned after pickup, a pool of single tubes), 422 for an
invalid value. Any other ``EventError`` (an unknown id) stays a 409.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from scheduler.store.errors import EventError, RuleViolation
from webui.errors import ApiError, json_error

#: rules whose refusal depends on the stored state, not on the value sent
CONFLICTS = frozenset(
    {
        "batch_status.backwards",
        "batch_status.unpin_after_pickup",
        "batch_status.already_received",
        "batch_status.nothing_to_undo",
        "batch_status.undo_expired",
        "batch_status.undo_superseded",
        "positive.single_tubes",
    }
)


def rule_violation(e: RuleViolation) -> Any:
    """The blueprint's handler: a RuleViolation from any resource."""
    if e.code in CONFLICTS:
        status, code, message = 409, "conflict", e.message
    else:
        status, code, message = 422, "invalid", "invalid body"
    return json_error(
        status, code, message, [{"field": e.field, "message": e.message, "type": e.code}]
    )


@contextmanager
def refused_events(fields: Mapping[str, str] | None = None) -> Iterator[None]:
    """Around a service call: its rules' refusals go to ``rule_violation``; any other event
    that does not fit the stored world is a 409.

    ``fields``: the service's name of an input -> the API body's, where they differ
    (an outage's ``outage_from`` is the body's ``start``), so the refusal names what
    the client sent.
    """
    try:
        yield
    except RuleViolation as exc:
        if fields and exc.field in fields:
            exc.field = fields[exc.field]
        raise
    except EventError as exc:
        raise ApiError(409, str(exc)) from None
