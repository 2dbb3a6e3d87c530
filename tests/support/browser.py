"""What the browser tests share beyond their fixtures: the demo world they log into
(the county whose office uploads in the browser) and screenshots of what a page showed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.web import COUNTY, DEMO, NOW, PASSWORD

__all__ = ["COUNTY", "DEMO", "NOW", "PASSWORD", "SCREENSHOTS", "shot"]

SCREENSHOTS = Path("build/screenshots")


def shot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
