"""Users, roles and API tokens.

Roles: ``ops`` (headquarters: everything), ``county`` (one county office:
its uploads and where its boxes go), ``lab`` (one lab's coordinator: its
schedule and status). Passwords are hashed with scrypt (werkzeug); tokens are
random, shown once, and stored as their SHA-256 digest.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from scheduler.store import models as m

ROLES = ("ops", "county", "lab")
MIN_PASSWORD = 8


class AccountError(ValueError):
    """A user or token request that cannot be done, said in words for the user."""


@dataclass(frozen=True)
class Principal:
    """Who is asking: what views and API calls check roles against."""

    id: int
    username: str
    role: str
    county_code: str | None
    lab_id: str | None

    # Flask-Login's user protocol
    is_authenticated: bool = True
    is_active: bool = True
    is_anonymous: bool = False

    def get_id(self) -> str:
        return str(self.id)

    def can_county(self, code: str | None) -> bool:
        return self.role == "ops" or (self.role == "county" and code == self.county_code)

    def can_lab(self, lab_id: str | None) -> bool:
        return self.role == "ops" or (self.role == "lab" and lab_id == self.lab_id)

    @classmethod
    def of(cls, u: m.User) -> Principal:
        return cls(u.id, u.username, u.role, u.county_code, u.lab_id)


def hash_password(password: str) -> str:
    return generate_password_hash(password, method="scrypt")


def create_user(
    session: Session,
    username: str,
    password: str,
    role: str,
    *,
    county_code: str | None = None,
    lab_id: str | None = None,
) -> m.User:
    username = username.strip()
    if not username or len(username) > 64 or not username.isprintable():
        raise AccountError("a user name is 1-64 printable characters")
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a password has at least {MIN_PASSWORD} characters")
    if role == "county":
        if not county_code or session.get(m.County, county_code) is None:
            raise AccountError(
                f"a county office user needs a known county code, not {county_code!r}"
            )
        lab_id = None
    elif role == "lab":
        if not lab_id or session.get(m.Lab, lab_id) is None:
            raise AccountError(f"a lab coordinator needs a known lab id, not {lab_id!r}")
        county_code = None
    else:
        county_code = lab_id = None
    if session.scalar(select(m.User.id).where(m.User.username == username)) is not None:
        raise AccountError(f"user {username!r} exists already")
    user = m.User(
        username=username,
        password_hash=hash_password(password),
        role=role,
        county_code=county_code,
        lab_id=lab_id,
        active=True,
    )
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> m.User | None:
    user = session.scalar(select(m.User).where(m.User.username == username))
    if user is None:
        # same work as a real check, so a name's existence does not show in the timing
        check_password_hash(_DUMMY, password)
        return None
    if not user.active or not check_password_hash(user.password_hash, password):
        return None
    return user


_DUMMY = hash_password("not a real password")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, user: m.User, label: str, now: datetime) -> str:
    """A new bearer token for ``user``; the caller shows it once, only its digest is kept."""
    token = "nst_" + secrets.token_urlsafe(32)
    session.add(
        m.ApiToken(user_id=user.id, digest=_digest(token), label=label[:128], created_at=now)
    )
    session.flush()
    return token


def user_of_token(session: Session, token: str, now: datetime) -> m.User | None:
    rec = session.scalar(
        select(m.ApiToken).where(m.ApiToken.digest == _digest(token), m.ApiToken.revoked.is_(False))
    )
    if rec is None:
        return None
    user = session.get(m.User, rec.user_id)
    if user is None or not user.active:
        return None
    rec.last_used_at = now
    return user
