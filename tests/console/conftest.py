"""The console over a real socket, on SQLite and PostgreSQL, driven by a real headless
Chromium (Debian's, through Playwright's ``executable_path``).

MY1 holds October and November 2026 of calls to +60 at RM0.1000 a minute (whole minutes,
at most an hour a call), with an unmatched call, two calls over the hour and a caller
"number" that is a script; SG1 is another tenant. Users: ``ada`` admin of MY1, ``rex``
reviewer of MY1, ``vic`` viewer of MY1, ``sam`` reviewer of SG1.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Dialog, Page, Playwright, sync_playwright
from sqlalchemy import Engine
from tests.conftest import two_entities, write
from tests.support.api_server import LiveServer

from ratebook.api import create_app
from ratebook.model.users import Role
from ratebook.settings import Settings
from ratebook.store.engine import make_engine
from ratebook.workflows.import_customers import import_customers
from ratebook.workflows.import_feed import import_feed
from ratebook.workflows.import_rate_table import import_rate_table
from ratebook.workflows.manage_users import create_user

PASSWORD = "correct horse battery"
XSS = "<script>alert(1)</script>"

TABLE = """
name: flat
currency: MYR
timezone: Asia/Kuala_Lumpur
rounding: {places: 4, mode: half-up}
versions:
  - effective_from: 2026-10-01
    policy: {max_quantity: {voice: 1h}}
    rows:
      - {prefix: "60", destination: Malaysia, price: "0.1000", increment: 60/60}
"""
CUSTOMERS = "account,name,rate_table,numbers\nACME,Acme Sdn Bhd,flat,\nBETA,Beta Bhd,flat,\n"
HEADER = "record_id,start_time,quantity,account,caller,destination,service,unit\n"
#: ACME: 2 + 30 minutes in October (RM3.2000), 50 in November (RM5.0000); an unmatched call
#: (GHOST, 2 minutes), two calls past the hour (2 h and 1.5 h), and a script as a caller.
CALLS = HEADER + (
    "oct-1,2026-10-05T10:00:00+08:00,120,ACME,+60311111111,+60398765432,voice,s\n"
    "oct-2,2026-10-06T10:00:00+08:00,1800,ACME,+60311111111,+60398765432,voice,s\n"
    "oct-3,2026-10-07T10:00:00+08:00,120,GHOST,+60311111111,+60398765432,voice,s\n"
    "oct-4,2026-10-08T10:00:00+08:00,7200,ACME,+60311111111,+60398765432,voice,s\n"
    "oct-5,2026-10-09T10:00:00+08:00,5400,BETA,+60311111111,+60398765432,voice,s\n"
    f'oct-6,2026-10-10T10:00:00+08:00,60,,"{XSS}",+60398765432,voice,s\n'
    "nov-1,2026-11-03T10:00:00+08:00,3000,ACME,+60311111111,+60398765432,voice,s\n"
)
USERS = {
    "ada": ("MY1", Role.ADMIN),
    "rex": ("MY1", Role.REVIEWER),
    "vic": ("MY1", Role.VIEWER),
    "sam": ("SG1", Role.REVIEWER),
}


def chromium_path() -> str:
    """Debian's Chromium; on CI a missing one fails the run, elsewhere it skips (with why)."""
    found = os.environ.get("RATEBOOK_CHROMIUM") or shutil.which("chromium")
    if found:
        return found
    message = "no Chromium: apt-get install chromium (the console's browser tests need it)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(
        executable_path=chromium_path(), args=["--no-sandbox", "--disable-dev-shm-usage"]
    )
    yield launched
    launched.close()


@dataclass
class Console:
    """A running server with the console, its owner's engine, and where screenshots go."""

    url: str
    store: Engine
    shots: Path

    def sign_in(self, page: Page, user: str, password: str = PASSWORD) -> None:
        """Sign ``user`` in through the sign-in form."""
        page.goto(f"{self.url}/login")
        page.get_by_label("User name").fill(user)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()

    def shot(self, page: Page, name: str) -> None:
        """Write a full-page screenshot, to look at."""
        self.shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)


@pytest.fixture
def console(engine: Engine, db_url: str, tmp_path: Path) -> Iterator[Console]:
    two_entities(engine)
    import_rate_table(engine, write(tmp_path / "flat.yaml", TABLE), entity_code="MY1")
    import_customers(engine, write(tmp_path / "c.csv", CUSTOMERS), entity_code="MY1")
    import_feed(
        engine, write(tmp_path / "calls.csv", CALLS), format_name="generic", entity_code="MY1"
    )
    for user, (entity, role) in USERS.items():
        create_user(engine, user, PASSWORD, role, entity_code=entity)
    app_engine = make_engine(db_url)
    server = LiveServer(create_app(Settings(database_url=db_url), engine=app_engine))
    output = Path(os.environ.get("RATEBOOK_TEST_OUTPUT", "test-output"))
    try:
        yield Console(
            url=server.url,
            store=engine,
            shots=output / "console" / engine.dialect.name,
        )
    finally:
        server.stop()
        app_engine.dispose()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (its own cookies) at 1280×800, failing on a script dialog."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    tab = context.new_page()
    dialogs: list[str] = []

    def opened(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    tab.on("dialog", opened)
    yield tab
    context.close()
    assert dialogs == [], f"a page opened a dialog: {dialogs}"
