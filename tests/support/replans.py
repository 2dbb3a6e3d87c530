"""A second plan version on a web test's demo world: the busiest lab's capacity falls, and
the real re-planner makes and publishes the next plan."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from sqlalchemy import func, select

from scheduler.replan.core import ReplanSettings, published, replan_once
from scheduler.replan.events import lab_status
from scheduler.store import models as m
from tests.support.web import NOW

FAST = ReplanSettings(time_limit=1.0, workers=1)


def replan_after_drop(app: Flask, capacity: int = 1) -> tuple[int, int, str]:
    """Drop the busiest lab to ``capacity`` tubes/h and re-plan: (old plan, new plan, lab)."""
    with app.app_context():
        from webui import db

        s = db.session()
        first = published(s).id
        busiest = (
            s.execute(
                select(m.PlanRow.lab_id).group_by(m.PlanRow.lab_id).order_by(func.count().desc())
            )
            .scalars()
            .first()
        )
        assert busiest is not None
        at = NOW + timedelta(minutes=5)
        lab_status(s, busiest, now=at, user="ops", capacity_per_hour=capacity)
        out = replan_once(s, at + timedelta(minutes=1), settings=FAST)
        s.commit()
        assert out.published, out.reason
        return first, out.version_id, busiest
