"""The main pages pass an accessibility check (axe-core, vendored), with no serious or
critical violation, and are screenshot at a desktop's and a phone's width, to look at; and a
user signs in and moves through the navigation with the keyboard alone."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser
from tests.console.conftest import PASSWORD, Console

from ratebook.model.review import Filter
from ratebook.workflows.close_cycle import close_cycle
from ratebook.workflows.review_exceptions import list_exceptions

pytestmark = pytest.mark.slow

AXE = Path(__file__).parent / "vendor" / "axe.min.js"


@pytest.mark.parametrize("width", [1280, 390])
def test_main_pages_are_accessible(console: Console, browser: Browser, width: int) -> None:
    close_cycle(console.store, "2026-10", entity_code="MY1")
    first = list_exceptions(console.store, Filter(status="pending"), entity_code="MY1")[0]["id"]
    # axe is injected as a script of its own, which the console's policy rightly refuses
    context = browser.new_context(viewport={"width": width, "height": 800}, bypass_csp=True)
    page = context.new_page()
    console.sign_in(page, "ada")
    pages = {
        "overview": "/e/MY1?period=2026-10",
        "exceptions": "/e/MY1/exceptions",
        "exception": f"/e/MY1/exceptions/{first}",
        "customers": "/e/MY1/customers",
        "customer": "/e/MY1/customers/ACME?period=2026-10",
        "invoices": "/e/MY1/invoices",
        "invoice": "/e/MY1/invoices/1",
        "disputes": "/e/MY1/disputes",
        "rates": "/e/MY1/rates",
        "imports": "/e/MY1/imports",
        "audit": "/e/MY1/audit",
    }
    found: dict[str, list[str]] = {}
    for name, path in pages.items():
        answer = page.goto(f"{console.url}{path}")
        assert answer is not None
        assert answer.status == 200, path
        page.add_script_tag(path=str(AXE))
        violations = page.evaluate(
            "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
            ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
            ".map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))"
        )
        if violations:
            found[name] = violations
        console.shot(page, f"{name}-{width}")
    context.close()
    assert found == {}


def test_signing_in_and_the_navigation_by_keyboard(console: Console, browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(f"{console.url}/login")
    # the name field has the focus, the password is the next stop, Enter submits
    assert page.evaluate("document.activeElement.id") == "username"
    page.keyboard.type("rex")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{console.url}/e/MY1")
    # the first stop skips to the content; then the navigation, in reading order
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    # the navigation is a list of links in reading order, each reachable by Tab
    stops = []
    page.keyboard.press("Tab")  # the brand, home
    for _ in range(12):
        page.keyboard.press("Tab")
        stops.append(page.evaluate("document.activeElement.textContent.trim()"))
    assert stops[:9] == [
        "Overview",
        "Exceptions",
        "Customers",
        "Disputes",
        "Invoices",
        "Rate tables",
        "Imports",
        "Audit",
        "Sign out",
    ]
    context.close()
