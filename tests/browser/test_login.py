"""Logging in through the real page, in English and Chinese, on a laptop and a phone."""

from __future__ import annotations

from tests.support.browser import shot


def test_login_page_and_each_role_lands_home(browser, server, page_as):
    ctx = browser.new_context(viewport={"width": 390, "height": 844})
    page = ctx.new_page()
    page.goto(f"{server.url}/login?lang=zh")
    assert page.locator("h1").inner_text() == "登录"
    shot(page, "login-zh-phone")
    ctx.close()
    assert page_as("ops").url.endswith("/ops/")
    assert page_as("county").url.endswith("/county/411002/")
    assert "/lab/L411001-CDC01/" in page_as("lab-L411001-CDC01").url


def test_wrong_password_stays_on_the_login_page(browser, server):
    page = browser.new_page()
    page.goto(f"{server.url}/login?lang=en")
    page.fill("input[name=username]", "ops")
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    assert "Wrong user name or password" in page.content()
    page.close()
