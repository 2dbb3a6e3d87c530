"""A lab's boxes as the tests of its pages need them: what the plan sends, what a page shows."""

from __future__ import annotations

import re
from datetime import datetime

from flask import Flask
from sqlalchemy import func, select

from scheduler.replan.core import published
from scheduler.store import models as m


def first_slots(app: Flask, lab: str) -> dict[str, datetime]:
    """Each box the published plan sends to ``lab``, with its first slot."""
    with app.app_context():
        from webui import db

        s = db.session()
        pub = published(s)
        assert pub is not None
        rows = s.execute(
            select(m.PlanRow.batch_id, func.min(m.PlanRow.slot_start))
            .where(m.PlanRow.plan_id == pub.id, m.PlanRow.lab_id == lab)
            .group_by(m.PlanRow.batch_id)
        )
        return {bid: first for bid, first in rows}


def shown(html: str) -> list[str]:
    """The boxes a lab page lists, top first."""
    return re.findall(r'<tr data-batch="([^"]+)"', html)
