"""Every label the pages show, in English and Chinese, from one place.

Each audience keeps its labels in its own module (``common``, ``lab``,
``county``, ``ops``, ``bench``) as ``{key: (english, chinese)}``; this package
merges them and picks the language: ``?lang=`` (remembered in the session),
else the browser's ``Accept-Language``, else English.
"""

from __future__ import annotations

from flask import Flask, request, session

from webui.labels import bench, common, county, health, lab, ops

LANGS = ("en", "zh")
LABELS: dict[str, tuple[str, str]] = {}
for _module in (common, lab, county, ops, bench, health):
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


def init_app(app: Flask) -> None:
    @app.context_processor
    def inject() -> dict[str, object]:
        lang = current_lang()

        def t(key: str, **values: object) -> str:
            return translate(key, lang, **values)

        return {"t": t, "lang": lang}
