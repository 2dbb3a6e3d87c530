"""Ops: the benchmark page — saved runs, study tables and plots, and a quick benchmark.

Everything is read from ``BENCH_DIR`` (default ``build/bench``, relative to the
working directory), where ``make bench`` (pytest-benchmark's autosave under
``speed/<machine>/NNNN_*.json``), ``make bench-quality`` / ``make
bench-scaling`` (``quality.*``, ``scaling.*``, plots, ``index.json``) and the
quick benchmark (``quick/quick_*.json``) save their runs.

Files are only ever served by name from that folder: a name must match a
strict pattern, be listed in the folder, and resolve inside it.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from sqlalchemy import select

from webui import db
from webui import models as wm
from webui.auth import principal, roles_required
from webui.jobs import JobContext, JobFn, job_dict, jobs_of
from webui.labels import LABELS, current_lang, translate
from webui.settings import wants_json

bp = Blueprint("bench", __name__, url_prefix="/ops/bench")

QUICK_KIND = "bench.quick"
#: plots the studies write, and which study each belongs to
KNOWN_PLOTS = {"gap_vs_time": "quality", "ontime": "quality", "time_vs_batches": "scaling"}
PLOT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}\.(png|svg)$")
QUICK_NAME = re.compile(r"^quick_\d{8}T\d{6}_[0-9a-f]{1,32}\.json$")
#: the study outputs that may be downloaded as they are
DATA_FILES = ("quality.md", "quality.csv", "scaling.md", "scaling.csv", "index.json")
MAX_JSON_BYTES = 20 * 1024 * 1024
SPEED_RUNS_SHOWN = 10
QUICK_RUNS_SHOWN = 20
PHASES = ("generate", "greedy", "bound", "optimise", "save")


# --- reading what is saved -------------------------------------------------------


def bench_dir(app: Flask | None = None) -> Path:
    """``BENCH_DIR`` as an absolute path (relative settings are from the working directory)."""
    a = app or current_app
    return Path(str(a.config.get("BENCH_DIR") or "build/bench")).resolve()


def _read_json(path: Path) -> Any:
    if path.stat().st_size > MAX_JSON_BYTES:
        raise ValueError("file too large")
    return json.loads(path.read_text(encoding="utf-8"))


def _num(x: Any) -> float | None:
    """A finite number from JSON or CSV, else None."""
    if isinstance(x, bool) or x is None:
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _change(new: float | None, old: float | None) -> float | None:
    if new is None or old is None or old <= 0:
        return None
    return (new - old) / old


@dataclass
class SpeedCase:
    name: str
    fullname: str
    mean: float | None
    stddev: float | None
    rounds: int | None
    score: float | None
    greedy: float | None
    bound: float | None
    gap: float | None
    improvement: float | None
    peak_rss_mb: float | None
    mean_change: float | None = None
    score_change: float | None = None


@dataclass
class SpeedRun:
    file: str
    folder: str
    date: str
    node: str
    cpu: str
    cpus: int | None
    python: str
    commit: str
    branch: str
    dirty: bool
    cases: list[SpeedCase] = field(default_factory=list)


def _date_of(text: Any) -> str:
    """``2026-11-29T00:40:18.42+00:00`` -> ``2026-11-29 00:40 UTC`` (as given when unparsable)."""
    if not isinstance(text, str):
        return ""
    try:
        d = datetime.fromisoformat(text)
    except ValueError:
        return text[:32]
    tz = " UTC" if d.utcoffset() is not None and not d.utcoffset() else ""
    return d.strftime("%Y-%m-%d %H:%M") + tz


def _speed_run(path: Path, folder: str) -> SpeedRun:
    data = _read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        raise ValueError("not a pytest-benchmark file")
    mi = data.get("machine_info") or {}
    ci = data.get("commit_info") or {}
    cpu = mi.get("cpu") or {}
    run = SpeedRun(
        file=path.name,
        folder=folder,
        date=_date_of(data.get("datetime")),
        node=str(mi.get("node") or ""),
        cpu=str(cpu.get("brand_raw") or mi.get("processor") or mi.get("machine") or ""),
        cpus=cpu.get("count") if isinstance(cpu.get("count"), int) else None,
        python=str(mi.get("python_version") or ""),
        commit=str(ci.get("id") or "")[:10],
        branch=str(ci.get("branch") or ""),
        dirty=bool(ci.get("dirty")),
    )
    for b in data["benchmarks"]:
        if not isinstance(b, dict):
            continue
        st = b.get("stats") or {}
        ex = b.get("extra_info") or {}
        rounds = st.get("rounds")
        run.cases.append(
            SpeedCase(
                name=str(b.get("name") or b.get("fullname") or "?"),
                fullname=str(b.get("fullname") or b.get("name") or "?"),
                mean=_num(st.get("mean")),
                stddev=_num(st.get("stddev")),
                rounds=rounds if isinstance(rounds, int) else None,
                score=_num(ex.get("score")),
                greedy=_num(ex.get("greedy")),
                bound=_num(ex.get("bound")),
                gap=_num(ex.get("gap")),
                improvement=_num(ex.get("improvement_over_greedy")),
                peak_rss_mb=_num(ex.get("peak_rss_mb")),
            )
        )
    return run


def speed_runs(root: Path) -> tuple[list[SpeedRun], list[str]]:
    """The saved speed runs, newest first, and the files that could not be read."""
    speed = root / "speed"
    runs: list[SpeedRun] = []
    bad: list[str] = []
    if not speed.is_dir():
        return runs, bad
    per_folder: dict[str, list[SpeedRun]] = {}
    for folder in sorted(p for p in speed.iterdir() if p.is_dir()):
        for path in sorted(folder.glob("*.json")):
            try:
                run = _speed_run(path, folder.name)
            except (OSError, ValueError, TypeError, AttributeError):
                bad.append(f"speed/{folder.name}/{path.name}")
                continue
            per_folder.setdefault(folder.name, []).append(run)
    for folder_runs in per_folder.values():
        # pytest-benchmark numbers its saves: compare each with the one before
        for prev, run in itertools.pairwise(folder_runs):
            old = {c.fullname: c for c in prev.cases}
            for c in run.cases:
                o = old.get(c.fullname)
                if o is not None:
                    c.mean_change = _change(c.mean, o.mean)
                    c.score_change = _change(c.score, o.score)
        runs.extend(folder_runs)
    runs.sort(key=lambda r: (r.date, r.file), reverse=True)
    return runs, bad


@dataclass
class Study:
    kind: str
    at: str
    rows: list[dict[str, Any]]
    exponents: dict[str, float]
    earlier: list[str]
    source: str


def _flat_row(r: dict[str, Any]) -> dict[str, Any]:
    """A study row (from index.json or the CSV) in one flat shape."""
    seconds = r.get("seconds")
    s: dict[str, Any] = seconds if isinstance(seconds, dict) else {}
    out: dict[str, Any] = {
        "preset": str(r.get("preset") or ""),
        "seed": r.get("seed"),
        "time_limit": _num(r.get("time_limit")),
        "batches": _num(r.get("batches")),
        "labs": _num(r.get("labs")),
        "greedy": _num(r.get("greedy")),
        "score": _num(r.get("score")),
        "bound": _num(r.get("bound")),
        "gap": _num(r.get("gap")),
        "closed": _num(r.get("closed")),
        "improvement": _num(r.get("improvement_over_greedy")),
        "first_plan_s": _num(s.get("first_plan", r.get("first_plan_s"))),
        "solve_s": _num(s.get("solve", r.get("solve_s"))),
        "peak_rss_mb": _num(r.get("peak_rss_mb")),
        "bound_method": str(r.get("bound_method") or ""),
        "error": str(r.get("error") or ""),
    }
    return out


def studies(root: Path) -> tuple[dict[str, Study], list[str]]:
    """The newest quality and scaling study: from index.json, else from the CSV tables."""
    found: dict[str, Study] = {}
    bad: list[str] = []
    index = root / "index.json"
    if index.is_file():
        try:
            data = _read_json(index)
            runs = [r for r in data.get("runs", []) if isinstance(r, dict)]
        except (OSError, ValueError, AttributeError):
            bad.append("index.json")
            runs = []
        for kind in ("quality", "scaling"):
            of_kind = [r for r in runs if r.get("kind") == kind]
            if not of_kind:
                continue
            last = of_kind[-1]
            rows = [_flat_row(r) for r in last.get("rows") or [] if isinstance(r, dict)]
            given = last.get("exponents")
            exps: dict[str, Any] = given if isinstance(given, dict) else {}
            found[kind] = Study(
                kind=kind,
                at=_date_of(last.get("at")),
                rows=rows,
                exponents={str(k): v for k, v in exps.items() if _num(v) is not None},
                earlier=[_date_of(r.get("at")) for r in reversed(of_kind[:-1])],
                source="index.json",
            )
    for kind in ("quality", "scaling"):
        table = root / f"{kind}.csv"
        if kind in found or not table.is_file():
            continue
        try:
            with table.open(encoding="utf-8", newline="") as fh:
                rows = [_flat_row(dict(r)) for r in csv.DictReader(fh)]
        except (OSError, ValueError, csv.Error):
            bad.append(table.name)
            continue
        at = datetime.fromtimestamp(table.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
        found[kind] = Study(kind, at, rows, {}, [], table.name)
    return found, bad


@dataclass
class Plot:
    stem: str
    kind: str  # quality, scaling or other
    svg: str | None
    png: str | None


def listed_files(root: Path) -> set[str]:
    """The plot files of ``root`` (its own entries only, never a sub-folder's)."""
    try:
        names = os.listdir(root)
    except OSError:
        return set()
    real = root.resolve()
    return {
        n
        for n in names
        if PLOT_NAME.fullmatch(n) and (root / n).is_file() and (root / n).resolve().parent == real
    }


def plots(root: Path) -> list[Plot]:
    names = listed_files(root)
    stems = sorted({n.rsplit(".", 1)[0] for n in names})
    order = list(KNOWN_PLOTS)
    stems.sort(key=lambda s: (order.index(s) if s in order else len(order), s))
    return [
        Plot(
            stem=s,
            kind=KNOWN_PLOTS.get(s, "other"),
            svg=f"{s}.svg" if f"{s}.svg" in names else None,
            png=f"{s}.png" if f"{s}.png" in names else None,
        )
        for s in stems
    ]


def quick_runs(root: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Saved quick benchmarks, newest first."""
    folder = root / "quick"
    out: list[tuple[str, float, dict[str, Any]]] = []
    bad: list[str] = []
    if not folder.is_dir():
        return [], bad
    for path in folder.iterdir():
        if not QUICK_NAME.fullmatch(path.name) or not path.is_file():
            continue
        try:
            data = _read_json(path)
            if not isinstance(data, dict):
                raise ValueError("not an object")
            mtime = path.stat().st_mtime
        except (OSError, ValueError):
            bad.append(f"quick/{path.name}")
            continue
        data["file"] = path.name
        data["date"] = _date_of(data.get("at"))
        out.append((str(data.get("at") or ""), mtime, data))
    out.sort(key=lambda t: (t[0], t[1]), reverse=True)
    return [d for _, _, d in out[:QUICK_RUNS_SHOWN]], bad


def _safe_file(root: Path, name: str, pattern: re.Pattern[str]) -> Path:
    """``root/name`` when ``name`` is one of root's own files matching ``pattern``; else 404."""
    if not pattern.fullmatch(name):
        abort(404)
    try:
        listed = name in os.listdir(root)
    except OSError:
        listed = False
    path = root / name
    if not listed or not path.is_file() or path.resolve().parent != root.resolve():
        abort(404)
    return path


# --- the quick benchmark job -----------------------------------------------------


def quick_command(
    preset: str, time_limit: float, out: Path, at: datetime, tag: str
) -> tuple[list[str], dict[str, str]]:
    """The command (and its environment) that runs ``natsched bench quick`` in its own process.

    The installed command, not the source tree's ``benchmarks/``, so the page works wherever
    natsched is installed from a wheel.
    """
    cmd = [sys.executable, "-m", "natsched", "bench", "quick", preset]
    cmd += ["--time-limit", f"{time_limit:g}", "--out", str(out)]
    cmd += ["--at", at.isoformat(timespec="seconds"), "--tag", tag]
    env = dict(os.environ)
    return cmd, env


def quick_job(out: Path, preset: str, time_limit: float) -> JobFn:
    """A job function: run the quick benchmark in a child process, relaying its progress."""

    def run(ctx: JobContext) -> dict[str, Any]:
        cmd, env = quick_command(preset, time_limit, out, ctx.clock.now(), ctx.job_id)
        timeout = 10 * time_limit + 300
        result: dict[str, Any] | None = None
        with tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, env=env)
            timer = threading.Timer(timeout, proc.kill)
            timer.start()
            try:
                last = ("", 0.0)
                assert proc.stdout is not None
                for line in proc.stdout:
                    try:
                        event = json.loads(line)
                    except ValueError:
                        continue
                    if not isinstance(event, dict):
                        continue
                    if event.get("event") == "result" and isinstance(event.get("result"), dict):
                        result = event["result"]
                    elif event.get("event") == "phase":
                        phase = str(event.get("phase"))
                        # one write per phase, then at most one a second
                        if phase != last[0] or time.monotonic() - last[1] > 1.0:
                            ctx.progress(float(event.get("fraction") or 0), phase)
                            last = (phase, time.monotonic())
                code = proc.wait()
            finally:
                timer.cancel()
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            if result is None:
                err.seek(0)
                lines = err.read().decode("utf-8", "replace").strip().splitlines()
                why = lines[-1] if lines else f"exit code {code}"
                if code < 0:
                    why = f"stopped after {timeout:.0f} s" if code == -9 else f"signal {-code}"
                raise RuntimeError(f"quick benchmark failed: {why}")
        return result

    return run


def running_quick_job(app: Flask) -> wm.Job | None:
    """The quick benchmark queued or running, if any (read fresh, not from the request)."""
    with app.extensions["natsched.sessions"]() as s:
        job = s.scalars(
            select(wm.Job)
            .where(wm.Job.kind == QUICK_KIND, wm.Job.state.in_(("queued", "running")))
            .order_by(wm.Job.created_at.desc())
            .limit(1)
        ).first()
        if job is not None:
            s.expunge(job)
        return job


def quick_time_limit(app: Flask) -> float:
    """``BENCH_QUICK_TIME_LIMIT`` seconds (default 5), kept between 0.1 s and an hour."""
    try:
        limit = float(app.config.get("BENCH_QUICK_TIME_LIMIT", 5.0))
    except (TypeError, ValueError):
        limit = 5.0
    return min(3600.0, max(0.1, limit)) if math.isfinite(limit) else 5.0


def _start_lock(app: Flask) -> Any:
    lock = app.extensions.get("natsched.bench_lock")
    if lock is None:
        lock = app.extensions.setdefault("natsched.bench_lock", threading.Lock())
    return lock


# --- formatting for the template ---------------------------------------------------


def _formatters(lang: str) -> dict[str, Callable[..., str]]:
    dash = "–"

    def num(x: Any, digits: int = 0) -> str:
        v = _num(x)
        return dash if v is None else f"{v:,.{digits}f}"

    def pct(x: Any, digits: int = 2) -> str:
        v = _num(x)
        return dash if v is None else f"{100 * v:.{digits}f}%"

    def change(x: Any) -> str:
        v = _num(x)
        return "" if v is None else f"{100 * v:+.1f}%"

    def secs(x: Any) -> str:
        v = _num(x)
        if v is None:
            return dash
        if v < 1:
            return f"{1000 * v:,.0f} {translate('bench.unit.ms', lang)}"
        return f"{v:,.2f} {translate('bench.unit.s', lang)}"

    return {"num": num, "pct": pct, "secs": secs, "change": change}


@bp.context_processor
def _inject() -> dict[str, Any]:
    return {"fmt": _formatters(current_lang())}


# --- views ----------------------------------------------------------------------


@bp.get("/")
@roles_required("ops")
def index() -> Any:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    root = bench_dir(app)
    speed, bad_speed = speed_runs(root)
    found, bad_studies = studies(root)
    quick, bad_quick = quick_runs(root)
    running = running_quick_job(app)
    last_job = (
        db.session()
        .scalars(
            select(wm.Job)
            .where(wm.Job.kind == QUICK_KIND)
            .order_by(wm.Job.created_at.desc(), wm.Job.finished_at.desc())
            .limit(1)
        )
        .first()
    )
    failed = last_job if last_job is not None and last_job.state == "failed" else None
    all_plots = plots(root)
    lang = current_lang()
    return render_template(
        "bench/index.html",
        root=root,
        speed=speed[:SPEED_RUNS_SHOWN],
        speed_total=len(speed),
        studies=found,
        plots=all_plots,
        other_plots=[p for p in all_plots if p.kind == "other"],
        quick=quick,
        running=running,
        failed=failed,
        bad=bad_speed + bad_studies + bad_quick,
        data_files=[n for n in DATA_FILES if (root / n).is_file()],
        time_limit=quick_time_limit(app),
        preset=str(app.config.get("BENCH_QUICK_PRESET", "county")),
        phase_labels={p: translate(f"bench.phase.{p}", lang) for p in PHASES},
        state_labels={
            s: translate(f"common.job.{s}", lang) for s in ("queued", "running", "done", "failed")
        },
        known_exps={k for k in LABELS if k.startswith("bench.exp.")},
        empty=not (speed or found or quick or all_plots),
    )


@bp.get("/plot/<name>")
@roles_required("ops")
def plot(name: str) -> Any:
    """A study plot, by name: only PNG/SVG files the benchmark folder itself lists."""
    path = _safe_file(bench_dir(), name, PLOT_NAME)
    svg = name.endswith(".svg")
    resp = send_file(path, mimetype="image/svg+xml" if svg else "image/png", max_age=60)
    # an SVG opened on its own must not run anything: no scripts, its own sandbox
    resp.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"
    )
    return resp


@bp.get("/data/<name>")
@roles_required("ops")
def data(name: str) -> Any:
    """The study tables as the study wrote them (Markdown, CSV, index.json)."""
    if name not in DATA_FILES:
        abort(404)
    pattern = re.compile(re.escape(name))
    path = _safe_file(bench_dir(), name, pattern)
    kinds = {".md": "text/markdown", ".csv": "text/csv", ".json": "application/json"}
    return send_file(
        path, mimetype=kinds[path.suffix], as_attachment=True, download_name=name, max_age=0
    )


@bp.get("/quick/file/<name>")
@roles_required("ops")
def quick_file(name: str) -> Any:
    """A saved quick benchmark's JSON."""
    path = _safe_file(bench_dir() / "quick", name, QUICK_NAME)
    return send_file(
        path, mimetype="application/json", as_attachment=True, download_name=name, max_age=0
    )


@bp.post("/quick")
@roles_required("ops")
def start_quick() -> Any:
    """Start the quick benchmark; while one runs, answer with that one instead."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    lang = current_lang()
    who = principal()
    assert who is not None  # roles_required
    with _start_lock(app):
        job = running_quick_job(app)
        started = job is None
        if job is None:
            out = bench_dir(app) / "quick"
            fn = quick_job(
                out,
                str(app.config.get("BENCH_QUICK_PRESET", "county")),
                quick_time_limit(app),
            )
            job_id = jobs_of(app).submit(QUICK_KIND, who.username, fn)
        else:
            job_id = job.id
    poll = url_for("bench.quick_status", job_id=job_id)
    if wants_json(request):
        body = {"job_id": job_id, "poll": poll, "already_running": not started}
        return jsonify(body), (202 if started else 200), {"Location": poll}
    flash(translate("bench.quick.started" if started else "bench.quick.already", lang), "info")
    return redirect(url_for("bench.index"))


@bp.get("/quick/<job_id>")
@roles_required("ops")
def quick_status(job_id: str) -> Any:
    """The quick benchmark job's state, progress and (when done) result, as JSON."""
    job = db.session().get(wm.Job, job_id[:32])
    if job is None or job.kind != QUICK_KIND:
        abort(404)
    return jsonify(job_dict(job))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
