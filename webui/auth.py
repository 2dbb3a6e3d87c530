"""Log in and out, who is asking, and the role checks every view and API call goes through.

Password logins are limited twice, both in Flask-Limiter's storage (shared by every web
process when ``RATELIMIT_STORAGE_URI`` is Redis):

- failed passwords per account (``LOGIN_FAILURES_PER_ACCOUNT``, a moving window keyed
  by the case-folded user name): past it, the account's password logins answer 429
  with ``Retry-After`` until the window frees a place, whichever address asks;
  successful logins do not count;
- every login POST per address (``LOGIN_RATE_PER_ADDRESS``), generous because a
  province's coordinators often share one proxy's address.

The API's bearer tokens are not logins and are not limited here.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, current_user, login_user, logout_user
from flask_wtf import FlaskForm
from limits import parse as parse_limit
from limits.strategies import MovingWindowRateLimiter
from werkzeug.wrappers import Response
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from scheduler.store import models as m
from webui import db
from webui import models as wm
from webui.accounts import HashersBusy, Principal, authenticate, limit_hashing, user_of_token
from webui.labels import current_lang, translate
from webui.overload import release_slot

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


class LoginForm(FlaskForm):
    username = StringField(validators=[DataRequired(), Length(max=64)])
    password = PasswordField(validators=[DataRequired(), Length(max=256)])


def principal() -> Principal | None:
    """The logged-in user (session or bearer token), or None."""
    user = current_user
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return cast(Principal, user)


def roles_required(*roles: str) -> Callable[[F], F]:
    """Only these roles pass; others get 403, strangers the login page (or 401 on the API)."""

    def wrap(view: F) -> F:
        @functools.wraps(view)
        def run(*args: Any, **kwargs: Any) -> Any:
            who = principal()
            if who is None:
                return login_manager.unauthorized()
            if who.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return cast(F, run)

    return wrap


def check_county(code: str | None) -> None:
    who = principal()
    if who is None or not who.can_county(code):
        abort(403)


def check_lab(lab_id: str | None) -> None:
    who = principal()
    if who is None or not who.can_lab(lab_id):
        abort(403)


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site: ``next=`` must never send a user elsewhere."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def home_of(who: Principal) -> str:
    if who.role == "lab":
        return url_for("lab.schedule", lab_id=who.lab_id)
    if who.role == "county":
        return url_for("county.home", code=who.county_code)
    return url_for("ops.dashboard")


class LoginFailures:
    """Failed password logins per account, in the app limiter's storage."""

    def __init__(self, app: Flask, limiter: Limiter) -> None:
        self.limit = parse_limit(str(app.config["LOGIN_FAILURES_PER_ACCOUNT"]))
        self.window = MovingWindowRateLimiter(limiter.storage)
        self.prefix = str(app.config.get("RATELIMIT_KEY_PREFIX") or "natsched")
        self.fail_open = bool(app.config.get("RATELIMIT_SWALLOW_ERRORS"))

    def _keys(self, username: str) -> tuple[str, str, str]:
        # "Ops" and "ops " are one account to a person guessing passwords
        return (self.prefix, "login-failures", username.strip().casefold())

    def locked_for(self, username: str) -> int | None:
        """Seconds until ``username`` may try a password again; None when it may now."""
        try:
            if self.window.test(self.limit, *self._keys(username)):
                return None
            reset = self.window.get_window_stats(self.limit, *self._keys(username)).reset_time
        except Exception:
            if not self.fail_open:
                raise
            log.exception("login failure counter unreachable; not limiting %r", username)
            return None
        return max(1, math.ceil(reset - time.time()))

    def failed(self, username: str) -> None:
        try:
            self.window.hit(self.limit, *self._keys(username))
        except Exception:
            if not self.fail_open:
                raise
            log.exception("login failure counter unreachable; %r not counted", username)


def retry_after() -> int:
    """Seconds until the limit this request broke lets it through (for ``Retry-After``)."""
    limiter: Limiter | None = current_app.extensions.get("natsched.limiter")
    current = limiter.current_limit if limiter is not None else None
    if current is None:
        return 60
    return max(1, math.ceil(current.reset_at - time.time()))


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    form = LoginForm()
    if not form.validate_on_submit():
        return render_template("login.html", form=form)
    lang = current_lang()
    name = form.username.data or ""
    failures: LoginFailures = current_app.extensions["natsched.login_failures"]
    wait = failures.locked_for(name)
    if wait is not None:
        # refused before hashing: a locked account costs the server nothing
        flash(translate("login.locked", lang, minutes=math.ceil(wait / 60)), "error")
        return render_template("login.html", form=form), 429, {"Retry-After": str(wait)}
    s = db.session()
    # waiting for a hasher is no rendering: the slot goes to the pages meanwhile
    release_slot(request.environ)
    try:
        user = authenticate(s, name, form.password.data or "")
    except HashersBusy as busy:
        flash(translate("login.busy", lang), "error")
        return render_template("login.html", form=form), 503, {"Retry-After": str(busy.retry_after)}
    if user is None:
        failures.failed(name)
        flash(translate("login.failed", lang), "error")
        return render_template("login.html", form=form), 401
    who = Principal.of(user)
    login_user(who)
    s.add(
        m.AuditLog(
            at=current_app.extensions["natsched.clock"].now(),
            user=who.username,
            action="login",
            target=who.role,
            detail={"ip": request.remote_addr},
        )
    )
    s.commit()
    return redirect(_safe_next(request.args.get("next")) or home_of(who))


@bp.post("/logout")
def logout() -> Response:
    logout_user()
    flash(translate("login.logged_out", current_lang()), "info")
    return redirect(url_for("auth.login"))


@bp.get("/")
def index() -> Response:
    who = principal()
    if who is None:
        return redirect(url_for("auth.login"))
    return redirect(home_of(who))


def _load_user(user_id: str) -> Principal | None:
    if not user_id.isdigit():
        return None
    user = db.session().get(wm.User, int(user_id))
    if user is None or not user.active:
        return None
    return Principal.of(user)


def _load_from_request(req: Any) -> Principal | None:
    header = req.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    s = db.session()
    user = user_of_token(
        s, header.removeprefix("Bearer ").strip(), current_app.extensions["natsched.clock"].now()
    )
    if user is None:
        return None
    s.commit()  # last_used_at
    return Principal.of(user)


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.user_loader(_load_user)
    login_manager.request_loader(_load_from_request)

    @login_manager.unauthorized_handler
    def unauthorized() -> Any:
        if request.path.startswith("/api/"):
            abort(401)
        flash(translate("login.needed", current_lang()), "info")
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))

    app.register_blueprint(bp)
    limit_hashing(
        int(app.config["PASSWORD_HASH_SLOTS"]),
        int(app.config["PASSWORD_HASH_QUEUE"]),
        float(app.config["PASSWORD_HASH_WAIT_SECONDS"]),
    )
    # one limiter per app, so test apps and the real one never share counters unless
    # they are told to share a storage (RATELIMIT_STORAGE_URI)
    limiter = Limiter(key_func=get_remote_address, app=app, default_limits=[])
    app.view_functions["auth.login"] = limiter.limit(  # type: ignore[assignment]
        lambda: str(
            current_app.config.get("LOGIN_RATE_LIMIT")
            or current_app.config["LOGIN_RATE_PER_ADDRESS"]
        ),
        methods=["POST"],
    )(app.view_functions["auth.login"])
    app.extensions["natsched.limiter"] = limiter
    app.extensions["natsched.login_failures"] = LoginFailures(app, limiter)
