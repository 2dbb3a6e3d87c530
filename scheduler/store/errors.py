"""The store's errors a user can fix, importable without SQLAlchemy (the CLI reports them)."""

from __future__ import annotations


class NoDatabase(LookupError):
    """There is no natsched database where the URL points: said, never created on the quiet."""


class EventError(ValueError):
    """An event that does not fit the stored world (unknown id, a single tube as a pool)."""


class RuleViolation(EventError):
    """A change the service layer refuses by one of its rules (capacity, outage, box state).

    The rules are ``scheduler.store.rules``. It is an :class:`EventError`, so
    every caller that already reports a refused event (the command line, the
    API's 409) still does; a form translates it by ``code`` instead.

    The forms and the API translate this one error; they do not re-check the rule.
    ``field`` names the input that broke it (``capacity_per_hour``, ``status``, ...),
    ``code`` is a stable machine-readable name of the rule, and ``params`` carries
    the values a translated message needs (the limit, the current state, ...).
    """

    def __init__(self, field: str, code: str, message: str, **params: object) -> None:
        super().__init__(message)
        self.field = field
        self.code = code
        self.message = message
        self.params = params
