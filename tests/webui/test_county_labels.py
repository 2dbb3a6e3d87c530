"""A county office's sheet of box labels: its own boxes only, each QR code its box id."""

from __future__ import annotations

import re
from datetime import date

from flask import Flask
from sqlalchemy import select

from scheduler.domain import PICKED_UP, PLANNED
from scheduler.store import models as m
from tests.support.web import COUNTY, OTHER_COUNTY
from webui import db
from webui.views.county_labels import qr_svg

LABEL = re.compile(r'<article class="box-label" data-batch="([^"]+)">(.*?)</article>', re.S)


def _planned_boxes(app: Flask, county: str) -> dict[str, m.Batch]:
    """The county's boxes not yet picked up that the published plan sends to a lab."""
    with app.app_context():
        s = db.session()
        plan = s.scalar(select(m.PlanVersion.id).where(m.PlanVersion.published))
        rows = s.execute(
            select(m.Batch, m.PlanOutcome.lab_id)
            .join(m.PlanOutcome, m.PlanOutcome.batch_id == m.Batch.batch_id)
            .where(
                m.PlanOutcome.plan_id == plan,
                m.PlanOutcome.county_code == county,
                m.Batch.status == PLANNED,
                m.PlanOutcome.lab_id.is_not(None),
            )
        ).all()
        s.expunge_all()
        return {b.batch_id: b for b, _ in rows}


def test_the_sheet_has_a_label_for_every_box_of_the_county_and_none_of_another(app, as_role):
    expected = _planned_boxes(app, COUNTY)
    others = _planned_boxes(app, OTHER_COUNTY)
    assert expected and others
    r = as_role("county").get(f"/county/{COUNTY}/labels")
    assert r.status_code == 200
    shown = dict(LABEL.findall(r.text))
    assert set(shown) == set(expected)
    assert not set(shown) & set(others)
    # no asset of another origin: the codes are drawn inline
    assert "<img" not in r.text and "http://" not in r.text.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )


def test_each_label_names_the_lab_pickup_and_due_in_both_languages(app, as_role):
    with app.app_context():
        s = db.session()
        plan = s.scalar(select(m.PlanVersion.id).where(m.PlanVersion.published))
        oc, batch, lab = s.execute(
            select(m.PlanOutcome, m.Batch, m.Lab)
            .join(m.Batch, m.Batch.batch_id == m.PlanOutcome.batch_id)
            .join(m.Lab, m.Lab.lab_id == m.PlanOutcome.lab_id)
            .where(
                m.PlanOutcome.plan_id == plan,
                m.PlanOutcome.county_code == COUNTY,
                m.Batch.status == PLANNED,
            )
            .limit(1)
        ).one()
        want = (
            oc.batch_id,
            lab.lab_id,
            lab.name,
            batch.ready_at.strftime("%Y-%m-%d %H:%M"),
            oc.due_at.strftime("%Y-%m-%d %H:%M"),
            f"{batch.tubes} {'tube' if batch.tubes == 1 else 'tubes'}<",
            f"{batch.tubes} 管<",
        )
    for lang, words in (("en", ("To lab", "送往实验室")), ("zh", ("送往实验室", "To lab"))):
        r = as_role("county").get(f"/county/{COUNTY}/labels?lang={lang}")
        body = dict(LABEL.findall(r.text))[want[0]]
        for value in want[1:]:
            assert value in body, (value, body)
        assert "Pickup" in body and "取样时间" in body and "Result due" in body
        # the page's language first, the other beside it and marked as the other language
        assert body.index(words[0]) < body.index(words[1])
        other = "zh-CN" if lang == "en" else "en"
        assert f'lang="{other}">{words[1]}<' in body


def test_the_qr_code_is_the_box_id_and_nothing_else(app, as_role):
    r = as_role("county").get(f"/county/{COUNTY}/labels")
    labels = LABEL.findall(r.text)
    assert labels
    for batch_id, body in labels:
        svg = re.search(r"<svg.*?</svg>", body, re.S)
        assert svg is not None
        # segno cannot decode; its encoding is deterministic, so the drawn code must be
        # exactly the one of the id (and differ from the one of any other text)
        assert svg.group(0) == str(qr_svg(batch_id))
        assert svg.group(0) != str(qr_svg(batch_id + " "))


def test_qr_svg_encodes_the_text_as_segno_does():
    import segno

    code = segno.make_qr("B411002-0001", error="m")
    svg = str(qr_svg("B411002-0001"))
    # every dark module of the matrix is drawn: count them in the path's horizontal runs
    runs = sum(int(n) for n in re.findall(r"h(\d+)", svg))
    assert runs == sum(sum(row) for row in code.matrix)


def test_picked_up_boxes_and_other_days_are_left_out(app, as_role):
    boxes = _planned_boxes(app, COUNTY)
    first = min(boxes.values(), key=lambda b: (b.ready_at, b.batch_id))
    with app.app_context():
        s = db.session()
        s.get(m.Batch, first.batch_id).status = PICKED_UP
        s.commit()
    c = as_role("county")
    shown = dict(LABEL.findall(c.get(f"/county/{COUNTY}/labels").text))
    assert first.batch_id not in shown and len(shown) == len(boxes) - 1
    day = max(b.ready_at.date() for b in boxes.values())
    on_day = {k for k, b in boxes.items() if b.ready_at.date() == day and k != first.batch_id}
    shown = dict(LABEL.findall(c.get(f"/county/{COUNTY}/labels?day={day.isoformat()}").text))
    assert set(shown) == on_day
    empty = c.get(f"/county/{COUNTY}/labels?day={date(2001, 1, 1).isoformat()}")
    assert 'data-testid="no-labels"' in empty.text
    # a day that is not a date shows every day
    every = LABEL.findall(c.get(f"/county/{COUNTY}/labels?day=soon").text)
    assert len(every) == len(boxes) - 1


def test_another_county_office_cannot_print_them_ops_can(as_role):
    assert as_role("county_other").get(f"/county/{COUNTY}/labels").status_code == 403
    assert as_role("county").get(f"/county/{OTHER_COUNTY}/labels").status_code == 403
    assert as_role("county").get("/county/999999/labels").status_code in (403, 404)
    r = as_role("ops").get(f"/county/{COUNTY}/labels")
    assert r.status_code == 200 and LABEL.search(r.text)


def test_the_county_page_links_to_the_labels(as_role):
    r = as_role("county").get(f"/county/{COUNTY}/")
    assert f'href="/county/{COUNTY}/labels"' in r.text
