"""County office pages: check a file, see every bad cell, store it, see history and boxes."""

from __future__ import annotations

import io
import re
from pathlib import Path

import openpyxl

from tests.support.db import fingerprint
from tests.support.web import COUNTY, token_of

GOOD = "fixtures/demo/uploads/411002.xlsx"


def _csv_of_xlsx(path: str) -> str:
    ws = openpyxl.load_workbook(path).active
    lines = []
    for row in ws.iter_rows(values_only=True):
        cells = [
            "" if v is None else v.strftime("%Y-%m-%dT%H:%M") if hasattr(v, "strftime") else str(v)
            for v in row
        ]
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"


def _check(client, data: bytes, name: str, code: str = COUNTY):
    token = token_of(client, f"/county/{code}/")
    return client.post(
        f"/county/{code}/upload",
        data={"csrf_token": token, "file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def test_home_lists_boxes_with_their_lab_and_times(as_role):
    r = as_role("county").get(f"/county/{COUNTY}/")
    assert r.status_code == 200
    assert 'data-testid="boxes"' in r.text and "B411002-" in r.text


def test_dry_run_marks_the_bad_cell_and_stores_nothing(app, as_role):
    c = as_role("county")
    text = _csv_of_xlsx(GOOD).splitlines()
    cells = text[3].split(",")
    cells[8] = "3"  # pool size 3 is not allowed
    text[3] = ",".join(cells)
    engine = app.extensions["natsched.engine"]
    before = fingerprint(engine)
    r = _check(c, ("\n".join(text) + "\n").encode(), "411002.csv")
    assert r.status_code == 200
    assert 'data-testid="preview-errors"' in r.text
    bad = re.findall(r'class="cell-error" title="([^"]+)"', r.text)
    assert bad and "pool size" in bad[0]
    # the error is on file line 4, in the pool_size column
    assert re.search(
        r'<td class="num">4</td>(?:\s*<td[^>]*>[^<]*(?:<br>.*?)?</td>){8}\s*<td class="cell-error"',
        r.text,
        re.S,
    )
    assert fingerprint(engine) == before


def test_good_file_is_checked_then_stored_then_a_duplicate(app, as_role):
    c = as_role("county")
    data = Path(GOOD).read_bytes()
    r = _check(c, data, "411002.xlsx")
    assert 'data-testid="preview-ok"' in r.text, r.text[:2000]
    token = re.search(r'name="token" value="([^"]+)"', r.text).group(1)
    csrf = token_of(c, f"/county/{COUNTY}/")
    r = c.post(
        f"/county/{COUNTY}/commit", data={"csrf_token": csrf, "token": token}, follow_redirects=True
    )
    assert r.status_code == 200
    # each test has a fresh world in which this office has uploaded nothing
    assert re.search(r"Stored \d+ rows \(\d+ new boxes\)", r.text), r.text[:2000]
    assert "stored before" not in r.text
    assert "411002.xlsx" in r.text  # in the history
    # the same file again
    r = _check(c, data, "411002.xlsx")
    token = re.search(r'name="token" value="([^"]+)"', r.text).group(1)
    r = c.post(
        f"/county/{COUNTY}/commit", data={"csrf_token": csrf, "token": token}, follow_redirects=True
    )
    assert "stored before" in r.text
    # a check token is used once
    r = c.post(
        f"/county/{COUNTY}/commit", data={"csrf_token": csrf, "token": token}, follow_redirects=True
    )
    assert "expired" in r.text


def test_templates_are_valid_uploads(as_role):
    c = as_role("county")
    for fmt in ("csv", "xlsx"):
        r = c.get(f"/county/{COUNTY}/template.{fmt}")
        assert r.status_code == 200
        page = _check(c, r.data, f"template.{fmt}")
        assert 'data-testid="preview-ok"' in page.text, page.text[:3000]


def test_no_file_and_unreadable_file_get_clear_messages(as_role):
    c = as_role("county")
    token = token_of(c, f"/county/{COUNTY}/")
    r = c.post(f"/county/{COUNTY}/upload", data={"csrf_token": token}, follow_redirects=True)
    assert "Choose a file first" in r.text
    r = _check(c, b"\x00\x01garbage", "x.csv")
    assert r.status_code == 200 and "binary data" in r.text


def test_other_county_is_forbidden(as_role):
    c = as_role("county")
    assert c.get("/county/411003/").status_code == 403
    assert _check(c, b"a,b\n", "x.csv", code="411003").status_code == 403
    assert as_role("ops").get("/county/411003/").status_code == 200


def test_chinese_page(as_role):
    r = as_role("county").get(f"/county/{COUNTY}/?lang=zh")
    assert "上报采样人数" in r.text and "许昌" in r.text


def test_a_large_file_is_stored_by_a_background_job(app, as_role):
    import time

    app.config["UPLOAD_JOB_BYTES"] = 1000  # every file counts as large here
    c = as_role("county")
    r = _check(c, Path(GOOD).read_bytes(), "411002.xlsx")
    token = re.search(r'name="token" value="([^"]+)"', r.text).group(1)
    csrf = token_of(c, f"/county/{COUNTY}/")
    r = c.post(f"/county/{COUNTY}/commit", data={"csrf_token": csrf, "token": token})
    job = re.search(r"job=([0-9a-f]+)", r.headers["Location"]).group(1)
    deadline = time.monotonic() + 60
    while True:
        state = c.get(f"/county/{COUNTY}/jobs/{job}").get_json()
        if state["state"] in ("done", "failed") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert state["state"] == "done", state
    assert state["result"]["status"] == "stored"  # the first upload of a fresh world
    # another county office cannot read it
    assert as_role("county_other").get(f"/county/411003/jobs/{job}").status_code == 404


def _mutated_csv(**changes: tuple[int, int, str]) -> list[str]:
    """411002's demo data as CSV lines; changes: name -> (line index, column index, value)."""
    text = _csv_of_xlsx(GOOD).splitlines()
    for line, col, value in changes.values():
        cells = text[line].split(",")
        cells[col] = value
        text[line] = ",".join(cells)
    return text


def _bump_people(text: list[str], line: int) -> None:
    """One more pool at that line: a real change of counts that passes every check."""
    cells = text[line].split(",")
    cells[9] = str(int(cells[9]) + int(cells[8]))
    cells[10] = str(int(cells[10]) + 1)
    text[line] = ",".join(cells)


def _commit(client, page: str, accept: bool = False):
    token = re.search(r'name="token" value="([^"]+)"', page).group(1)
    csrf = token_of(client, f"/county/{COUNTY}/")
    data = {"csrf_token": csrf, "token": token}
    if accept:
        data["accept_valid_rows"] = "1"
    return client.post(f"/county/{COUNTY}/commit", data=data, follow_redirects=True)


def test_fixing_the_file_then_storing_it_stores_rows_and_asks_for_a_replan(app, as_role):
    from scheduler.store import models as m

    c = as_role("county")
    engine = app.extensions["natsched.engine"]
    before = fingerprint(engine)
    bad = _mutated_csv(pool=(3, 8, "3"), date=(5, 5, "2022-13-40T25:00"))
    r = _check(c, ("\n".join(bad) + "\n").encode(), "411002.csv")
    errors = re.findall(r'class="cell-error" title="([^"]+)"', r.text)
    assert len(errors) >= 2, errors
    assert 'data-testid="commit"' in r.text
    assert fingerprint(engine) == before
    # the office fixes both cells and changes one count
    good = _mutated_csv()
    _bump_people(good, 2)
    r = _check(c, ("\n".join(good) + "\n").encode(), "411002.csv")
    assert 'data-testid="preview-ok"' in r.text
    assert fingerprint(engine) == before  # still only a check
    r = _commit(c, r.text)
    assert "Stored" in r.text
    with app.app_context():
        from webui import db

        s = db.session()
        up = s.query(m.Upload).filter_by(county_code=COUNTY, filename="411002.csv").one()
        assert up.outcome == "stored" and up.user == "county"
        req = s.get(m.Setting, "replan_request")
        assert req is not None
        assert any("411002.csv" in reason for reason in req.value["reasons"])
    assert fingerprint(engine) != before


def test_accept_valid_rows_stores_the_rest_and_history_lists_the_errors(app, as_role):
    c = as_role("county")
    text = _mutated_csv(pool=(3, 8, "3"))
    _bump_people(text, 2)
    r = _check(c, ("\n".join(text) + "\n").encode(), "partial.csv")
    assert "accept_valid_rows" in r.text
    # without the option nothing is stored
    r2 = _commit(c, r.text)
    assert "Nothing was stored" in r2.text
    r = _check(c, ("\n".join(text) + "\n").encode(), "partial.csv")
    r = _commit(c, r.text, accept=True)
    assert "Stored" in r.text
    hist = r.text.split('data-testid="history"')[1].split("</table>")[0]
    assert "partial.csv" in hist and "stored in part" in hist
    assert "<details><summary>1</summary>" in hist and "pool_size" in hist


def test_a_row_naming_another_county_is_shown_as_an_error(as_role):
    c = as_role("county")
    text = _mutated_csv(county=(2, 0, "411003"))
    r = _check(c, ("\n".join(text) + "\n").encode(), "411002.csv")
    bad = re.findall(r'class="cell-error" title="([^"]+)"', r.text)
    assert bad and "411003" in r.text
    assert re.search(r'<td class="num">3</td>\s*<td class="cell-error"', r.text)


def test_files_over_the_size_limit_get_a_clear_message(app, as_role):
    c = as_role("county")
    app.config["UPLOAD_MAX_BYTES"] = 1000
    r = _check(c, Path(GOOD).read_bytes(), "411002.xlsx")
    assert r.status_code == 302
    page = c.get(r.headers["Location"]).text
    assert "The file is over" in page and "nothing was stored" in page
    # a request body over the server's own limit: the error page, not a 500
    app.config["MAX_CONTENT_LENGTH"] = 2000
    r = _check(c, b"x" * 5000, "big.csv")
    assert r.status_code == 413 and "too large" in r.text


def test_commit_and_templates_of_another_county_are_forbidden(as_role):
    c = as_role("county")
    csrf = token_of(c, f"/county/{COUNTY}/")
    r = c.post("/county/411003/commit", data={"csrf_token": csrf, "token": "x"})
    assert r.status_code == 403
    assert c.get("/county/411003/template.csv").status_code == 403
    assert c.get("/county/999999/").status_code in (403, 404)


def test_preview_in_chinese_shows_errors_above_the_table_for_unreadable_files(as_role):
    c = as_role("county")
    c.get(f"/county/{COUNTY}/?lang=zh")
    r = _check(c, b"\x00\x01garbage", "x.csv")
    assert 'data-testid="general-errors"' in r.text and "文件整体问题" in r.text
    assert 'data-testid="preview"' not in r.text
