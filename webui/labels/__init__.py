"""Every label the pages show, in English and Chinese, from one place.

Each audience keeps its labels in its own module (``common``, ``lab``,
``county``, ``ops``, ``bench``) as ``{key: (english, chinese)}``; this package
merges them and picks the language: ``?lang=`` (remembered in the session),
else the browser's ``Accept-Language``, else English.
"""

from __future__ import annotations

from flask import Flask, request, session

from scheduler.domain import BATCH_STATES
from scheduler.store.errors import EventError, RuleViolation
from webui.labels import bench, common, county, health, lab, ops, rules

LANGS = ("en", "zh")
LABELS: dict[str, tuple[str, str]] = {}
for _module in (common, lab, county, ops, bench, health, rules):
    _dup = LABELS.keys() & _module.LABELS.keys()
    if _dup:  # one meaning per key, whichever page shows it
        raise RuntimeError(f"label keys defined twice: {sorted(_dup)}")
    LABELS.update(_module.LABELS)


def current_lang() -> str:
    asked = request.args.get("lang")
    if asked in LANGS:
        session["lang"] = asked
        return asked
    kept = session.get("lang")
    if kept in LANGS:
        return str(kept)
    return request.accept_languages.best_match(LANGS) or "en"


def translate(key: str, lang: str, **values: object) -> str:
    pair = LABELS.get(key)
    if pair is None:
        raise KeyError(f"no label {key!r}: add it to webui/labels/")
    text = pair[1] if lang == "zh" else pair[0]
    return text.format(**values) if values else text


def say(key: str, **values: object) -> str:
    """``key`` in the language of the current request."""
    return translate(key, current_lang(), **values)


def status_labels() -> dict[str, str]:
    """Each box state's label in the current request's language, for a page to show."""
    return {s: say(f"common.status.{s}") for s in BATCH_STATES}


def violation(exc: RuleViolation) -> str:
    """The service layer's refusal in the current request's language, from its code and params."""
    states = status_labels()
    params = {k: states.get(v, v) if isinstance(v, str) else v for k, v in exc.params.items()}
    return say(f"rule.{exc.code}", **params)


def refusal(exc: EventError) -> str:
    """What a page says of a refused event: a broken rule translated, else the event's text."""
    return violation(exc) if isinstance(exc, RuleViolation) else str(exc)


def init_app(app: Flask) -> None:
    @app.context_processor
    def inject() -> dict[str, object]:
        lang = current_lang()

        def t(key: str, **values: object) -> str:
            return translate(key, lang, **values)

        return {"t": t, "lang": lang}
