"""Sampling sites, by county."""

from __future__ import annotations

from flask import Response
from sqlalchemy import select

from scheduler.store import models as m
from webui.api import schemas as sc
from webui.api.blueprint import answer, route
from webui.api.scope import county_filter, paged, who


@route(
    "GET",
    "/sites",
    summary="Sampling sites, by county (a county account: its own)",
    roles=("ops", "county"),
    responses={200: sc.SiteList},
    tag="sites",
)
def list_sites(query: sc.SiteQuery) -> Response:
    county = county_filter(who(), query.county)
    stmt = select(m.Site).order_by(m.Site.site_id)
    if county is not None:
        stmt = stmt.where(m.Site.county_code == county)
    return answer(
        paged(
            sc.SiteList,
            stmt,
            query,
            lambda rows: [sc.SiteOut.model_validate(r[0], from_attributes=True) for r in rows],
        )
    )
