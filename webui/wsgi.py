"""The WSGI entry of a production start: ``gunicorn -w 2 --threads 8 'webui.wsgi:app'``.

Settings come from the environment as everywhere (``NATSCHED_DATABASE_URL``,
``NATSCHED_SECRET_KEY``, ``NATSCHED_RATELIMIT_STORAGE_URI``, ...; see
``webui.settings``). Two things differ from ``natsched serve``:

- the schema is not migrated here: several web processes starting at once
  would each run the Alembic upgrade and race; ``natsched db upgrade`` is
  the deploy step, run once before the processes start;
- no re-planning worker runs in these processes: ``natsched worker`` is one
  process of its own beside them.

Every process must sign sessions with the same key, or a login made in one
is unknown to the next. The key is ``NATSCHED_SECRET_KEY`` or else the
instance folder's ``secret_key`` file, which all processes on one machine
share; but with neither, each process would race to write that file on its
first start, so that case is refused with a message saying what to set.
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask

from webui import create_app


class ConfigError(RuntimeError):
    """The environment lacks what several web processes need to agree on."""


def _check_secret() -> None:
    if os.environ.get("NATSCHED_SECRET_KEY"):
        return
    folder = Path(os.environ.get("NATSCHED_INSTANCE_PATH", "instance")).resolve()
    if not (folder / "secret_key").is_file():
        raise ConfigError(
            "set NATSCHED_SECRET_KEY (e.g. from `python -c 'import secrets; "
            "print(secrets.token_hex(32))'`): every web process must sign sessions with "
            f"the same key, and {folder / 'secret_key'} does not exist yet"
        )


def make_app() -> Flask:
    """The app as gunicorn serves it: no migration, the shared secret key checked."""
    _check_secret()
    return create_app({"MIGRATE": False})


app = make_app()
