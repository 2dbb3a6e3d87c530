"""The API tests' helpers: bearer tokens of the demo's users and the ids each role may
and may not see in the demo world (``tests/support/web.py``)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from scheduler.store import models as m
from tests.support.web import COUNTY, NOW, OTHER_COUNTY
from webui import db
from webui import models as wm
from webui.accounts import issue_token

API = "/api/v1"


def bearer_of(app: Flask, username: str) -> dict[str, str]:
    """An ``Authorization`` header with a fresh token of ``username``."""
    with app.app_context():
        s = db.session()
        user = s.scalar(select(wm.User).where(wm.User.username == username))
        assert user is not None
        token = issue_token(s, user, "test", NOW)
        s.commit()
    return {"Authorization": f"Bearer {token}"}


def as_bearer(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = bearer_of(app, username)["Authorization"]
    return client


@dataclass(frozen=True)
class World:
    """Ids of the demo world each role may and may not see."""

    pub_plan: int
    own_lab: str
    other_lab: str
    lab_batch: str  # planned at own_lab, pooled, not in COUNTY
    other_lab_batch: str  # planned at other_lab, not at own_lab
    county_batch: str  # in COUNTY, pooled
    other_county_batch: str  # in OTHER_COUNTY, planned at other_lab


def world_of(app: Flask, lab_ids: tuple[str, str]) -> World:
    own, other = lab_ids
    with app.app_context():
        s = db.session()
        pub = s.scalar(select(m.PlanVersion.id).where(m.PlanVersion.published.is_(True)))
        assert pub is not None

        def pick(lab: str, county: str | None = None, not_county: str | None = None) -> str:
            stmt = (
                select(m.Batch.batch_id)
                .join(m.Site, m.Site.site_id == m.Batch.site_id)
                .join(m.PlanRow, m.PlanRow.batch_id == m.Batch.batch_id)
                .where(
                    m.PlanRow.plan_id == pub,
                    m.PlanRow.lab_id == lab,
                    m.Batch.people > m.Batch.tubes,
                )
                .order_by(m.Batch.batch_id)
            )
            if county is not None:
                stmt = stmt.where(m.Site.county_code == county)
            if not_county is not None:
                stmt = stmt.where(m.Site.county_code != not_county)
            found = s.scalars(stmt).first()
            assert found is not None
            return found

        county_batch = s.scalars(
            select(m.Batch.batch_id)
            .join(m.Site, m.Site.site_id == m.Batch.site_id)
            .where(m.Site.county_code == COUNTY, m.Batch.people > m.Batch.tubes)
            .order_by(m.Batch.batch_id)
        ).first()
        assert county_batch is not None
        return World(
            pub_plan=pub,
            own_lab=own,
            other_lab=other,
            lab_batch=pick(own, not_county=COUNTY),
            other_lab_batch=pick(other, not_county=COUNTY),
            county_batch=county_batch,
            other_county_batch=pick(other, county=OTHER_COUNTY),
        )
