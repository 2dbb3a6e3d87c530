"""A lab's reception: scanning boxes in, confirming a result, undoing a status change.

Each loud refusal of a scan (nothing, an unknown code, another lab's box, a box
already received) is said beside the field with the code and the reason, in
English and Chinese, and changes nothing.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from scheduler.replan import events
from scheduler.store import models as m
from scheduler.store import rules
from tests.support.lab import first_slots, shown
from tests.support.web import NOW, token_of
from webui import db


def _box(app, lab: str) -> str:  # type: ignore[no-untyped-def]
    return sorted(first_slots(app, lab))[0]


def _state(app, bid: str) -> tuple[str, str | None, int]:  # type: ignore[no-untyped-def]
    """The box's status, pinned lab and number of audit rows."""
    with app.app_context():
        s = db.session()
        b = s.get(m.Batch, bid)
        n = s.scalar(select(func.count()).where(m.AuditLog.target == bid))
        return b.status, b.pinned_lab, n


def _scan(c, lab: str, code: str, lang: str = "en"):  # type: ignore[no-untyped-def]
    return c.post(
        f"/lab/{lab}/scan",
        data={"csrf_token": token_of(c, f"/lab/{lab}/?lang={lang}"), "code": code},
        follow_redirects=True,
    )


def _said(html: str) -> str:
    part = html.split('data-testid="scan-said"')[1]
    return part.split(">", 1)[1].split("</p>")[0]


def test_scan_receives_the_box_and_shows_it_on_top(app, as_role, lab_ids):
    c = as_role("lab")
    bid = sorted(first_slots(app, lab_ids[0]))[-1]
    # a scanner's trailing CR and spaces are not part of the code
    r = _scan(c, lab_ids[0], f"  {bid}\r")
    assert r.status_code == 200
    assert _state(app, bid)[:2] == ("received", lab_ids[0])
    assert shown(r.text)[0] == bid and 'data-testid="scanned"' in r.text
    assert 'class="scan-said scan-ok"' in r.text and bid in _said(r.text)
    # its undo right there, beside the receipt
    assert f'/boxes/{bid}/undo" class="actions undo"' in r.text.split('data-testid="scan-undo"')[0]
    # the field is empty and focused for the next box
    field = r.text.split('id="scan-code"')[1].split(">")[0]
    assert "autofocus" in field and "value=" not in field
    # said once: the next page shows no stale outcome
    assert 'data-testid="scan-said"' not in c.get(f"/lab/{lab_ids[0]}/").text


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_each_scan_refusal_is_loud_names_the_code_and_changes_nothing(app, as_role, lab_ids, lang):
    c = as_role("lab")
    mine, theirs = _box(app, lab_ids[0]), _box(app, lab_ids[1])
    _scan(c, lab_ids[0], mine)
    before = {b: _state(app, b) for b in (mine, theirs)}
    cases = {
        "": {"en": "Nothing was scanned", "zh": "未扫描到编码"},
        "NO-SUCH-BOX": {"en": "NO-SUCH-BOX is no known box", "zh": "NO-SUCH-BOX 不是已知的样本箱"},
        theirs: {"en": f"goes to {lab_ids[1]}, not this lab", "zh": f"应送往 {lab_ids[1]}"},
        mine: {"en": f"{mine} is already received", "zh": f"{mine} 已是已接收"},
    }
    for code, said in cases.items():
        r = _scan(c, lab_ids[0], code, lang)
        assert 'class="scan-said scan-error" role="alert"' in r.text, code
        assert said[lang] in _said(r.text), (code, _said(r.text))
        assert 'data-testid="scanned"' not in r.text and 'data-testid="scan-undo"' not in r.text
    assert {b: _state(app, b) for b in (mine, theirs)} == before


def test_scan_refuses_another_labs_box_even_for_ops(app, as_role, lab_ids):
    theirs = _box(app, lab_ids[1])
    r = _scan(as_role("ops"), lab_ids[0], theirs)
    assert "scan-error" in r.text and _state(app, theirs)[0] == "planned"


def test_resulted_asks_for_confirmation_first(app, as_role, lab_ids):
    c = as_role("lab")
    bid = _box(app, lab_ids[0])
    url = f"/lab/{lab_ids[0]}/boxes/{bid}"
    tok = token_of(c, f"/lab/{lab_ids[0]}/")
    r = c.post(url, data={"csrf_token": tok, "action": "resulted"})
    assert r.status_code == 200 and 'data-testid="confirm-resulted"' in r.text
    assert 'name="confirm" value="1"' in r.text
    assert _state(app, bid)[0] == "planned"
    r = c.post(
        url, data={"csrf_token": tok, "action": "resulted", "confirm": "1"}, follow_redirects=True
    )
    assert _state(app, bid)[0] == "resulted"
    # other marks need no confirmation
    other = sorted(first_slots(app, lab_ids[0]))[1]
    c.post(f"/lab/{lab_ids[0]}/boxes/{other}", data={"csrf_token": tok, "action": "received"})
    assert _state(app, other)[0] == "received"


def _row(html: str, bid: str) -> str:
    return html.split(f'<tr data-batch="{bid}"')[1].split("</tr>")[0]


def test_undo_shows_in_the_window_restores_and_audits(app, as_role, lab_ids):
    c = as_role("lab")
    bid = _box(app, lab_ids[0])
    page = f"/lab/{lab_ids[0]}/"
    assert 'data-testid="undo"' not in c.get(page).text
    tok = token_of(c, page)
    c.post(
        f"/lab/{lab_ids[0]}/boxes/{bid}",
        data={"csrf_token": tok, "action": "resulted", "confirm": "1"},
    )
    html = c.get(page).text
    # a resulted box stays on the page while its undo is open
    assert 'data-testid="undo"' in _row(html, bid)
    assert "back to planned" in _row(html, bid)
    r = c.post(
        f"/lab/{lab_ids[0]}/boxes/{bid}/undo", data={"csrf_token": tok}, follow_redirects=True
    )
    assert f"{bid} is planned again" in r.text
    assert _state(app, bid)[:2] == ("planned", None)
    with app.app_context():
        last = (
            db.session()
            .scalars(
                select(m.AuditLog).where(m.AuditLog.target == bid).order_by(m.AuditLog.id.desc())
            )
            .first()
        )
        assert (last.action, last.user, last.detail["undone"]) == (
            rules.UNDO_ACTION,
            "lab",
            "resulted",
        )
    # once undone, nothing more to undo
    r = c.post(
        f"/lab/{lab_ids[0]}/boxes/{bid}/undo", data={"csrf_token": tok}, follow_redirects=True
    )
    assert "has no status change to undo" in r.text


def test_undo_is_gone_after_the_window_and_refused_in_both_languages(app, as_role, lab_ids):
    c = as_role("lab")
    bid = _box(app, lab_ids[0])
    page = f"/lab/{lab_ids[0]}/"
    tok = token_of(c, page)
    c.post(f"/lab/{lab_ids[0]}/boxes/{bid}", data={"csrf_token": tok, "action": "received"})
    with app.app_context():
        s = db.session()
        row = s.scalars(select(m.AuditLog).where(m.AuditLog.target == bid)).one()
        row.at -= rules.UNDO_WINDOW + timedelta(seconds=1)
        s.commit()
    assert 'data-testid="undo"' not in _row(c.get(page).text, bid)
    url = f"/lab/{lab_ids[0]}/boxes/{bid}/undo"
    r = c.post(url, data={"csrf_token": tok}, follow_redirects=True)
    assert "more than 10 minutes ago" in r.text
    r = c.post(f"{url}?lang=zh", data={"csrf_token": tok}, follow_redirects=True)
    assert "已超过 10 分钟，不能再撤销" in r.text
    assert _state(app, bid)[0] == "received"


def test_undo_of_another_labs_box_is_forbidden(app, as_role, lab_ids):
    c = as_role("lab")
    theirs = _box(app, lab_ids[1])
    tok = token_of(c, f"/lab/{lab_ids[0]}/")
    assert (
        c.post(f"/lab/{lab_ids[0]}/boxes/{theirs}/undo", data={"csrf_token": tok}).status_code
        == 403
    )
    assert (
        c.post(f"/lab/{lab_ids[1]}/boxes/{theirs}/undo", data={"csrf_token": tok}).status_code
        == 403
    )


def test_scan_refuses_a_box_picked_up_for_another_lab_though_planned_here(app, as_role, lab_ids):
    bid = _box(app, lab_ids[0])
    with app.app_context():
        s = db.session()
        # the courier took it to the other lab; the published plan does not know yet
        events.batch_status(s, bid, "picked_up", now=NOW, lab_id=lab_ids[1])
        s.commit()
    r = _scan(as_role("lab"), lab_ids[0], bid)
    assert f"goes to {lab_ids[1]}, not this lab" in _said(r.text)
    assert _state(app, bid)[:2] == ("picked_up", lab_ids[1])
