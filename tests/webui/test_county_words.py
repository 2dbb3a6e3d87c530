"""What the county pages say: counts agree with their nouns, the template's example is right."""

from __future__ import annotations

import csv
import io
import re

from flask.testing import FlaskClient
from sqlalchemy import select

from scheduler.ingest.format import COLUMNS
from scheduler.store import models as m
from tests.support.web import COUNTY, login, token_of
from webui import db
from webui.labels import LABELS
from webui.labels.county import count_key


def _check(client: FlaskClient, data: bytes, name: str) -> str:
    token = token_of(client, f"/county/{COUNTY}/")
    r = client.post(
        f"/county/{COUNTY}/upload",
        data={"csrf_token": token, "file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )
    assert r.status_code == 200
    return r.text


def _template_rows(client: FlaskClient) -> list[dict[str, str]]:
    r = client.get(f"/county/{COUNTY}/template.csv?lang=en")
    assert r.status_code == 200
    return list(csv.DictReader(io.StringIO(r.data.decode("utf-8-sig"))))


def _with_pool_size(row: dict[str, str], pool: str) -> bytes:
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=list(COLUMNS))
    w.writeheader()
    w.writerow({**row, "pool_size": pool})
    return out.getvalue().encode()


def test_the_template_example_is_a_community_site(app, as_role):
    (row,) = _template_rows(as_role("county"))
    assert row["category"] == "community"
    with app.app_context():
        s = db.session()
        site = s.get(m.Site, row["site_id"])
        assert site is not None and site.county_code == COUNTY
        boxes = s.execute(
            select(m.Batch.priority, m.Batch.isolation).where(m.Batch.site_id == site.site_id)
        ).all()
    # a community site's boxes are routine and not isolated (docs/uploads.md, categories);
    # the demo's first site of the county is a fever clinic, which the example once used
    assert boxes and all(prio == "routine" and not iso for prio, iso in boxes)
    assert "发热门诊" not in row["site_name"]


def _one_bad_row(client: FlaskClient, lang: str = "en") -> tuple[str, str]:
    """The check page of a file of one row with one bad cell, and its summary line."""
    (row,) = _template_rows(client)
    client.get(f"/county/{COUNTY}/?lang={lang}")  # the template was asked for in English
    page = _check(client, _with_pool_size(row, "3"), "one-bad.csv")
    said = re.search(r'data-testid="preview-errors">([^<]+)<', page)
    assert said is not None, page[:2000]
    return page, said.group(1)


def test_one_problem_in_one_row_is_said_in_the_singular(as_role):
    c = as_role("county")
    page, said = _one_bad_row(c)
    assert said.startswith("1 problem in 1 row;"), said
    assert "0 rows without problems" in said
    assert not re.search(r"\b1 (problems|rows)\b", page)
    (row,) = _template_rows(c)
    page = _check(c, _with_pool_size(row, "10"), "one-good.csv")
    assert "The row is fine. Store it?" in page and "All 1 rows" not in page


def test_the_counts_read_right_in_chinese(as_role):
    _, said = _one_bad_row(as_role("county"), "zh")
    assert said.startswith("1 行中有 1 个问题"), said


def test_a_rejected_file_is_told_in_the_singular(as_role):
    c = as_role("county")
    page, _ = _one_bad_row(c)
    token = re.search(r'name="token" value="([^"]+)"', page)
    assert token is not None
    r = c.post(
        f"/county/{COUNTY}/commit",
        data={"csrf_token": token_of(c, f"/county/{COUNTY}/"), "token": token.group(1)},
        follow_redirects=True,
    )
    assert "Nothing was stored: 1 problem." in r.text


def test_every_counted_noun_has_both_forms_in_both_languages():
    nouns = {k.split(".")[2] for k in LABELS if k.startswith("county.n.")}
    assert nouns >= {"row", "problem", "box", "new_box"}
    for noun in nouns:
        one, many = LABELS[count_key(noun, 1)], LABELS[count_key(noun, 2)]
        assert one[0].format(n=1) != many[0].format(n=1)  # English: "1 row", "2 rows"
        assert "{n}" in one[1] and "{n}" in many[1]
    assert count_key("row", 0) == count_key("row", 2)  # "0 rows"


def test_the_template_fetched_at_eleven_at_night_is_a_valid_upload(make_app):
    # the example's window is the current hour; at 23:xx it once ended where it began
    app = make_app(CLOCK="fixed:2022-01-09T23:30", UPLOAD_MAX_FUTURE_HOURS=24.0)
    c = login(app.test_client(), "county")
    (row,) = _template_rows(c)
    assert (row["window_start"], row["window_end"]) == ("2022-01-09T23:00", "2022-01-10T00:00")
    page = _check(c, _with_pool_size(row, "10"), "late.csv")
    assert 'data-testid="preview-ok"' in page, page[:3000]
