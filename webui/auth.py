"""Log in and out, who is asking, and the role checks every view and API call goes through."""

from __future__ import annotations

import functools
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
from werkzeug.wrappers import Response
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from scheduler.store import models as m
from webui import db
from webui.accounts import Principal, authenticate, user_of_token
from webui.labels import current_lang, translate

bp = Blueprint("auth", __name__)
login_manager = LoginManager()

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


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    form = LoginForm()
    if form.validate_on_submit():
        s = db.session()
        user = authenticate(s, form.username.data or "", form.password.data or "")
        if user is not None:
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
        flash(translate("login.failed", current_lang()), "error")
        return render_template("login.html", form=form), 401
    return render_template("login.html", form=form)


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
    user = db.session().get(m.User, int(user_id))
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
    # one limiter per app, so test apps and the real one never share counters
    limiter = Limiter(
        key_func=get_remote_address,
        app=app,
        default_limits=[],
        storage_uri=app.config.get("RATELIMIT_STORAGE_URI", "memory://"),
    )
    app.view_functions["auth.login"] = limiter.limit(  # type: ignore[assignment]
        lambda: str(current_app.config["LOGIN_RATE_LIMIT"]), methods=["POST"]
    )(app.view_functions["auth.login"])
    app.extensions["natsched.limiter"] = limiter
