"""The re-planner's heartbeat on the dashboard and the health endpoint, in a real browser."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.support.browser import shot
from tests.support.server import Server


def test_dashboard_shows_the_replanner_heartbeat_and_plan_age(server: Server, page_as: Any) -> None:
    page = page_as("ops")
    page.goto(f"{server.url}/ops/?lang=en")
    health = page.get_by_test_id("replanner-health")
    # the server's worker beats every tick (a second here): it has been seen, and recently
    page.wait_for_function(
        "() => /Re-planner last seen/.test("
        "document.querySelector('[data-testid=replanner-seen]')?.textContent || '')"
    )
    seen = page.get_by_test_id("replanner-seen").inner_text()
    assert re.search(r"last seen \d+ s ago", seen), seen
    assert health.get_attribute("data-status") in ("ok", "degraded")
    assert "published" in page.get_by_test_id("plan-age").inner_text().lower()
    shot(page, "ops-health-en")
    page.goto(f"{server.url}/ops/?lang=zh")
    assert "重新排程程序" in page.get_by_test_id("replanner-health").inner_text()
    shot(page, "ops-health-zh")


def test_health_endpoint_answers_anonymously_in_the_browser(browser: Any, server: Server) -> None:
    ctx = browser.new_context()
    try:
        page = ctx.new_page()
        r = page.goto(f"{server.url}/api/v1/health")
        assert r is not None and r.status == 200
        doc = json.loads(page.inner_text("body"))
        assert doc["status"] in ("ok", "degraded") and doc["database"]["ok"] is True
        assert doc["worker"]["stale"] is False and doc["plan"]["published_id"] is not None
    finally:
        ctx.close()
