"""The page at `/` in a real headless browser (Debian chromium): it loads, and a note added through its
form shows on the page the browser is sent back to."""

import pytest

from tests.webdriver import Chromium


@pytest.fixture(scope="module")
def browser():
    with Chromium() as chromium:
        yield chromium


def test_the_page_loads_in_a_headless_browser(browser, api_server):
    browser.open(f"{api_server.url}/")

    assert browser.title() == "Notes"
    assert browser.texts("h1") == ["Notes"]


def test_a_note_added_through_the_form_shows_on_the_page(browser, api_server):
    browser.open(f"{api_server.url}/")

    browser.type("#title", "Typed in a real browser")
    browser.type("#body", "and sent with the page's own form")
    browser.click("form button")

    assert "Typed in a real browser" in browser.wait_for_text("article h2", "Typed in a real browser")
    assert "and sent with the page's own form" in browser.texts("article p")
