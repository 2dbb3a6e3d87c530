"""Who sees what, for the resources: the caller, its county and lab, pages of a listing.

- ``ops`` may do everything;
- a ``county`` account sees its county's sites, uploads and batches, and the labs;
- a ``lab`` account sees its own lab and the batches planned at or pinned to it,
  and reports its status and its batches' progress.

An operation a role may not use at all answers 403 (``access``). Naming a
county or lab that is not yours (in the path, the query or the body) answers
403 too. A record of another county or lab (batch, upload, job) answers 404,
as an unknown id does: ids outside your part of the world are not told apart
from ids that do not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Select, func, select

from scheduler.store import models as m
from webui import db
from webui.accounts import Principal
from webui.api import schemas as sc
from webui.auth import principal
from webui.errors import ApiError

L = TypeVar("L", bound=sc.PageInfo)


def who() -> Principal:
    """The caller (the guard has checked there is one)."""
    p = principal()
    if p is None:  # pragma: no cover - the guard answers 401 first
        raise ApiError(401, "log in or send a bearer token")
    return p


def not_found(what: str) -> ApiError:
    return ApiError(404, f"no {what}")


def forbidden(what: str) -> ApiError:
    return ApiError(403, f"{what} is not yours")


def county_filter(p: Principal, asked: str | None) -> str | None:
    """The county a listing is limited to: a county account's own (asking for another: 403)."""
    if p.role == "county":
        if asked is not None and asked != p.county_code:
            raise forbidden(f"county {asked}")
        return p.county_code
    return asked


def known_county(code: str) -> bool:
    return db.session().get(m.County, code) is not None


def paged(
    listing: type[L],
    stmt: Select[Any, *tuple[Any, ...]],
    q: sc.Page,
    items: Callable[[list[Any]], list[Any]],
    **extra: Any,
) -> L:
    """Page ``q`` of what ``stmt`` selects, as ``listing``: ``page``, ``per_page``, ``total``
    (of all pages), ``items`` (``items`` of the page's rows) and the ``extra`` fields."""
    s = db.session()
    total = s.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = s.execute(stmt.limit(q.per_page).offset((q.page - 1) * q.per_page)).all()
    return listing.model_validate(
        {"page": q.page, "per_page": q.per_page, "total": int(total), "items": items(list(rows))}
        | extra
    )
