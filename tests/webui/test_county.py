"""County office pages: check a file, see every bad cell, store it, see history and boxes."""

from __future__ import annotations

import io
import re
from pathlib import Path

import openpyxl

from tests.store.conftest import fingerprint
from tests.webui.conftest import COUNTY, token_of

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
    assert "Stored" in r.text or "stored before" in r.text
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
    assert state["result"]["status"] in ("stored", "duplicate")
    # another county office cannot read it
    assert as_role("county_other").get(f"/county/411003/jobs/{job}").status_code == 404
