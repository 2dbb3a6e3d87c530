"""A re-plan in a child process, at low priority, that dies with its parent.

The web process makes its plans here: a solve in one of its threads would
hold the interpreter lock its request threads need, and pages would stall
for as long as it runs. The child is a fresh interpreter started with
``subprocess`` (never a fork of a multithreaded server, and no re-import of
the parent's main script as multiprocessing's spawn does). It gets plain
arguments only, as JSON on its stdin: the database URL, the time to plan
for, the re-plan settings, its parent's pid. It answers one JSON line on
the stdout it was given; everything else it prints goes to stderr.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any

from scheduler.replan.core import ReplanOutcome, ReplanSettings

log = logging.getLogger(__name__)

#: a child running this much longer than its time limit is stuck: it is killed
GRACE_FACTOR, GRACE_SECONDS = 5.0, 300.0
ENTRY = "from scheduler.replan.child import main; main()"


class ChildDied(RuntimeError):
    """The child ended without an answer (killed, crashed, stuck)."""


def replan_in_child(
    db_url: str,
    now: datetime,
    settings: ReplanSettings,
    *,
    on_start: Callable[[int], None] | None = None,
) -> ReplanOutcome:
    """:func:`scheduler.replan.core.replan` in a child process; ``on_start`` gets its pid.

    A child that dies raises :class:`ChildDied`; what it wrote is at most a
    version left "running", which the next tick marks failed. A re-plan that
    fails in the child (the database, say) raises ``RuntimeError`` with its text.
    """
    args = {
        "db_url": db_url,
        "now": now.isoformat(),
        "settings": asdict(settings),
        "parent": os.getpid(),
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", ENTRY],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        close_fds=True,
    )
    if on_start is not None:
        on_start(proc.pid)
    grace = GRACE_FACTOR * settings.time_limit + GRACE_SECONDS
    try:
        out, _ = proc.communicate(json.dumps(args).encode(), timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise ChildDied(f"the re-plan process was still running after {grace:.0f} s") from None
    finally:
        if proc.poll() is None:  # the waiting thread was interrupted: no orphan solves
            proc.kill()
            proc.wait()
    try:
        answer = json.loads(out.decode().strip().splitlines()[-1])
    except (ValueError, IndexError, UnicodeDecodeError):
        raise ChildDied(f"the re-plan process died ({_exit_text(proc.returncode)})") from None
    if "error" in answer:
        raise RuntimeError(f"re-plan process: {answer['error']}")
    return ReplanOutcome(**answer["ok"])


def _exit_text(code: int | None) -> str:
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return f"signal {signal.Signals(-code).name}"
    return f"exit code {code}"


def main() -> None:  # pragma: no cover - runs in the child process
    """The child: read the arguments, re-plan, answer."""
    # the answer goes to the real stdout; anything printed, even by C code, to stderr
    answer = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    args = json.loads(sys.stdin.read())
    _die_with(int(args["parent"]))
    # Ctrl-C in a terminal reaches the whole group: the server decides, not the child
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        os.nice(10)  # web requests win the CPU
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from scheduler.replan.core import replan
    from scheduler.store.db import make_engine

    engine = make_engine(args["db_url"])
    try:
        out = replan(
            engine,
            datetime.fromisoformat(args["now"]),
            settings=ReplanSettings(**args["settings"]),
        )
        doc: dict[str, Any] = {"ok": asdict(out)}
    except Exception as exc:
        log.exception("re-plan in the child process failed")
        doc = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
    finally:
        engine.dispose()
    answer.write(json.dumps(doc) + "\n")
    answer.close()


def _die_with(parent: int) -> None:  # pragma: no cover - runs in the child process
    """End this process when ``parent`` ends (kill -9 included): an orphan solve would
    publish a plan after its server is gone."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # it died before the line above
            os._exit(1)
        return

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()
