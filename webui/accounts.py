"""Users, roles and API tokens.

Roles: ``ops`` (headquarters: everything), ``county`` (one county office:
its uploads and where its boxes go), ``lab`` (one lab's coordinator: its
schedule and status). Passwords are hashed with scrypt (werkzeug); tokens are
random, shown once, and stored as their SHA-256 digest.

A scrypt hash takes about 0.1 s of a core and releases the interpreter lock,
so a morning's logins at once would take every core from every other page.
Hashes therefore run in a few process-wide slots (``limit_hashing``, set from
``PASSWORD_HASH_*``): callers whose turn is due within the wait queue for one
(a storm of logins waits its turn rather than failing), anyone else is told
``HashersBusy`` at once and the login answers 503.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from scheduler.store import models as m
from webui import models as wm

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
    def of(cls, u: wm.User) -> Principal:
        return cls(u.id, u.username, u.role, u.county_code, u.lab_id)


class HashersBusy(RuntimeError):
    """Every password hasher stayed busy for the whole wait; nothing was checked."""

    retry_after = 2  # seconds: a few hashes' time, and enough to spread the retries


class _Hashers:
    """At most ``slots`` hashes at once; a caller waits while its turn is due within ``wait``.

    Who may wait is decided by the wait they can expect, not by a count tuned on
    one machine: the hashes' own mean time (measured here, as they run) times the
    callers ahead, over the slots. ``queue`` only bounds how many threads may
    wait at once (each holds a server thread), whatever the machine's speed.
    """

    #: a first guess of a hash's seconds until one has been timed here
    FIRST_GUESS = 0.1

    def __init__(self, slots: int, queue: int, wait: float) -> None:
        self.slots, self.queue, self.wait = slots, queue, wait
        self.running = threading.BoundedSemaphore(slots)
        self._lock = threading.Lock()
        self._inside = 0  # hashing or waiting to
        self._mean = self.FIRST_GUESS

    def admit(self) -> bool:
        with self._lock:
            ahead = self._inside - self.slots + 1  # callers this one would wait behind
            due = max(0, ahead) * self._mean / self.slots
            if self._inside >= self.slots + self.queue or due > self.wait:
                return False
            self._inside += 1
            return True

    def leave(self, seconds: float | None) -> None:
        with self._lock:
            self._inside -= 1
            if seconds is not None:
                # a moving mean: the machine's speed now, not at start
                self._mean += 0.2 * (seconds - self._mean)


_hashers = _Hashers(slots=1, queue=8, wait=5.0)


def limit_hashing(slots: int, queue: int, wait: float) -> None:
    """At most ``slots`` hashes at once, ``queue`` more callers waiting up to ``wait`` s."""
    global _hashers
    _hashers = _Hashers(slots=max(1, int(slots)), queue=max(0, int(queue)), wait=float(wait))


@contextmanager
def _hash_slot() -> Iterator[None]:
    # the limits in force when this hash began: a reconfiguration meanwhile must not
    # release a semaphore this caller never acquired
    h = _hashers
    # saying "busy" now is kinder than a wait past what the caller was promised
    if not h.admit():
        raise HashersBusy("every password hasher is busy")
    took: float | None = None
    try:
        if not h.running.acquire(timeout=h.wait):
            raise HashersBusy("every password hasher stayed busy")
        try:
            start = time.monotonic()
            yield
            took = time.monotonic() - start
        finally:
            h.running.release()
    finally:
        h.leave(took)


def hash_password(password: str) -> str:
    with _hash_slot():
        return generate_password_hash(password, method="scrypt")


def _password_matches(stored_hash: str, password: str) -> bool:
    with _hash_slot():
        return check_password_hash(stored_hash, password)


def create_user(
    session: Session,
    username: str,
    password: str,
    role: str,
    *,
    county_code: str | None = None,
    lab_id: str | None = None,
) -> wm.User:
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
    if session.scalar(select(wm.User.id).where(wm.User.username == username)) is not None:
        raise AccountError(f"user {username!r} exists already")
    user = wm.User(
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


def authenticate(session: Session, username: str, password: str) -> wm.User | None:
    """The active user with this name and password, else None.

    Raises ``HashersBusy`` when no hasher came free in time."""
    # read on a connection of its own, given back before the hash: a storm of logins
    # waiting for a hasher must not hold the pool's connections the pages need
    with session.get_bind().engine.connect() as conn:
        row = conn.execute(
            select(wm.User.id, wm.User.password_hash, wm.User.active).where(
                wm.User.username == username
            )
        ).first()
    # one hash whoever asks (unknown and deactivated names too), so neither a name's
    # existence nor its state shows in the timing
    matches = _password_matches(_DUMMY if row is None else row.password_hash, password)
    if row is None or not row.active or not matches:
        return None
    return session.get(wm.User, row.id)


# made outside the hash slots: importing the module must never wait for them
_DUMMY = generate_password_hash("not a real password", method="scrypt")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, user: wm.User, label: str, now: datetime) -> str:
    """A new bearer token for ``user``; the caller shows it once, only its digest is kept."""
    token = "nst_" + secrets.token_urlsafe(32)
    session.add(
        wm.ApiToken(user_id=user.id, digest=_digest(token), label=label[:128], created_at=now)
    )
    session.flush()
    return token


def user_of_token(session: Session, token: str, now: datetime) -> wm.User | None:
    rec = session.scalar(
        select(wm.ApiToken).where(
            wm.ApiToken.digest == _digest(token), wm.ApiToken.revoked.is_(False)
        )
    )
    if rec is None:
        return None
    user = session.get(wm.User, rec.user_id)
    if user is None or not user.active:
        return None
    rec.last_used_at = now
    return user
