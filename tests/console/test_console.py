"""The console's scenarios in a real headless Chromium, on SQLite and PostgreSQL: sign in,
work the queue (correct with a preview, bulk accept), disputes whose credit reaches the
next invoice, an upload watched to its end, a statement download, roles, CSRF and escaping.

Expected money is worked by hand from the conftest's table: RM0.1000 a started minute.
"""

from __future__ import annotations

import re
from io import BytesIO

import pytest
from playwright.sync_api import FilePayload, Page, expect
from pypdf import PdfReader
from sqlalchemy import Engine
from tests.console.conftest import XSS, Console

from ratebook.model.review import Filter
from ratebook.workflows.close_cycle import close_cycle
from ratebook.workflows.customer_accounts import customer_balance
from ratebook.workflows.invoices import list_invoices
from ratebook.workflows.read_audit_log import read_audit_log
from ratebook.workflows.review_exceptions import list_exceptions

pytestmark = pytest.mark.slow


def _pending(engine: Engine, code: str) -> list[dict[str, object]]:
    return list_exceptions(engine, Filter(code=code, status="pending"), entity_code="MY1")


def test_sign_in_and_out(console: Console, page: Page) -> None:
    page.goto(f"{console.url}/e/MY1/exceptions")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fe%2FMY1%2Fexceptions$"))
    console.sign_in(page, "rex", "not the password")
    expect(page.get_by_role("alert")).to_have_text("That user name and password do not match.")
    console.sign_in(page, "rex")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Test Telco Sdn Bhd")
    # October's rated usage so far: 2 + 30 minutes of ACME at RM0.1000
    page.goto(f"{console.url}/e/MY1?period=2026-10")
    expect(page.locator(".figures")).to_contain_text("3.2000 MYR")
    console.shot(page, "overview")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    page.goto(f"{console.url}/e/MY1")
    expect(page).to_have_url(re.compile(r"/login\?next="))


def test_an_unmatched_call_is_corrected_with_a_preview(console: Console, page: Page) -> None:
    [ghost] = _pending(console.store, "UNMATCHED_CUSTOMER")[:1]
    assert ghost["record_id"] == "oct-3"
    console.sign_in(page, "rex")
    page.goto(f"{console.url}/e/MY1/exceptions?code=UNMATCHED_CUSTOMER")
    console.shot(page, "exceptions")
    page.get_by_role("link", name=str(ghost["id"]), exact=True).click()
    page.get_by_label("account", exact=True).fill("ACME")
    page.get_by_label("Reason (required)").fill("GHOST is ACME's old trunk")
    page.get_by_role("button", name="Preview the charge").click()
    # 120 s: 2 minutes at RM0.1000
    expect(page.locator(".preview")).to_contain_text("Resolved (billed)")
    expect(page.locator(".preview")).to_contain_text("0.2000 MYR")
    console.shot(page, "exception-preview")
    # the preview stored nothing
    assert [x["id"] for x in _pending(console.store, "UNMATCHED_CUSTOMER")][:1] == [ghost["id"]]
    page.get_by_role("button", name="Commit the correction").click()
    expect(page.get_by_role("status")).to_have_text("Done: corrected.")
    expect(page.get_by_role("heading", level=1)).to_contain_text("resolved")
    assert ghost["id"] not in [x["id"] for x in _pending(console.store, "UNMATCHED_CUSTOMER")]
    balance = customer_balance(console.store, "ACME", period="2026-10", entity_code="MY1")
    assert balance.usage == "3.4000"  # 0.2000 + 3.0000 + the corrected 0.2000


def test_out_of_policy_calls_are_accepted_in_bulk(console: Console, page: Page) -> None:
    assert len(_pending(console.store, "OUT_OF_POLICY")) == 2
    console.sign_in(page, "rex")
    page.goto(f"{console.url}/e/MY1/exceptions?code=OUT_OF_POLICY&status=pending")
    for box in page.get_by_role("checkbox").all():
        box.check()
    page.get_by_label("Action").select_option("accept")
    page.get_by_role("button", name="Continue…").click()
    expect(page.locator(".count")).to_have_text("2 pending exceptions will be affected.")
    page.get_by_label("Reason (required)").fill("customer confirmed the long calls")
    page.get_by_role("button", name=re.compile("^Confirm")).click()
    outcome = page.locator("dl.outcome")
    # 2 h = 120 minutes and 1.5 h = 90 minutes at RM0.1000: 12.0000 + 9.0000
    expect(outcome).to_contain_text("Resolved (billed)2")
    expect(outcome).to_contain_text("21.0000 MYR")
    assert _pending(console.store, "OUT_OF_POLICY") == []
    accepted = read_audit_log(console.store, entity_code="MY1", action="exception")
    assert [(e["action"], e["actor"]) for e in accepted] == [
        ("exception.accept", "user:rex"),
        ("exception.accept", "user:rex"),
    ]


def test_a_dispute_credit_reaches_the_next_invoice(console: Console, page: Page) -> None:
    close_cycle(console.store, "2026-10", entity_code="MY1")
    _, october = list_invoices(console.store, period="2026-10", entity_code="MY1")
    [acme] = [i for i in october if i.account == "ACME"]
    console.sign_in(page, "rex")
    page.goto(f"{console.url}/e/MY1/invoices/{acme.number}")
    console.shot(page, "invoice")
    page.get_by_role("link", name="dispute", exact=True).first.click()
    page.get_by_label("What the customer disputes (required)").fill("the 30-minute call dropped")
    page.get_by_role("button", name="Open the dispute").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("open")
    page.get_by_label("Comment", exact=True).fill("checked the switch log: it dropped at 12 min")
    page.get_by_role("button", name="Add the comment").click()
    expect(page.locator("ol.history")).to_contain_text("it dropped at 12 min")
    page.get_by_role("radio", name="upheld").check()
    page.get_by_label(re.compile("^Credit before tax")).fill("1.80")
    page.get_by_label("Note (required)").fill("18 minutes not delivered")
    page.get_by_role("button", name="Resolve").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("upheld")
    console.shot(page, "dispute")

    close_cycle(console.store, "2026-11", entity_code="MY1")
    _, november = list_invoices(console.store, period="2026-11", entity_code="MY1")
    [next_one] = [i for i in november if i.account == "ACME"]
    page.goto(f"{console.url}/e/MY1/invoices/{next_one.number}")
    lines = page.locator("table tbody")
    expect(lines).to_contain_text("-1.80")
    # 50 minutes in November at RM0.1000 = 5.0000, less the credit of 1.80: 3.20 before tax
    expect(page.locator("tfoot")).to_contain_text("3.20")


def test_an_upload_is_watched_to_its_summary(console: Console, page: Page) -> None:
    console.sign_in(page, "ada")
    page.goto(f"{console.url}/e/MY1/imports")
    upload: FilePayload = {
        "name": "late.csv",
        "mimeType": "text/csv",
        "buffer": (
            b"record_id,start_time,quantity,account,destination\n"
            b"up-1,2026-11-20T09:00:00+08:00,600,ACME,+60398765432\n"
            b"up-2,2026-11-20T09:30:00+08:00,60,NOBODY,+60398765432\n"
        ),
    }
    page.get_by_label("Usage file (CSV)").set_input_files(files=[upload])
    page.get_by_role("button", name="Upload and import").click()
    expect(page).to_have_url(re.compile(r"/e/MY1/imports/jobs/"))
    expect(page.get_by_role("status")).to_contain_text("Imported in batch")
    expect(page.get_by_role("progressbar")).to_have_attribute("value", "100")
    outcome = page.locator("dl.outcome")
    expect(outcome).to_contain_text("Rows read2")
    expect(outcome).to_contain_text("Rated1")
    # 10 minutes at RM0.1000
    expect(outcome).to_contain_text("1.0000 MYR")
    console.shot(page, "import")
    page.get_by_role("link", name="1", exact=True).click()
    expect(page.locator("table.queue tbody tr")).to_have_count(1)
    expect(page.locator("table.queue")).to_contain_text("up-2")


def test_a_statement_pdf_downloads(console: Console, page: Page) -> None:
    console.sign_in(page, "vic")
    page.goto(f"{console.url}/e/MY1/customers/ACME?period=2026-10")
    console.shot(page, "customer")
    with page.expect_download() as waiting:
        page.get_by_role("link", name="PDF").click()
    download = waiting.value
    assert download.suggested_filename == "ACME-2026-10.pdf"
    data = download.path().read_bytes()
    assert data.startswith(b"%PDF")
    text = "".join(p.extract_text() for p in PdfReader(BytesIO(data)).pages)
    assert "ACME" in text
    assert "3.20" in text


def test_a_viewer_cannot_act_and_another_entity_is_unseen(console: Console, page: Page) -> None:
    [ghost] = _pending(console.store, "UNMATCHED_CUSTOMER")[:1]
    console.sign_in(page, "vic")
    page.goto(f"{console.url}/e/MY1/exceptions")
    expect(page.get_by_role("checkbox")).to_have_count(0)
    page.goto(f"{console.url}/e/MY1/exceptions/{ghost['id']}")
    expect(page.get_by_role("button", name="Preview the charge")).to_have_count(0)
    csrf = page.locator("form[action='/logout'] input[name=csrf]").get_attribute("value")
    refused = page.request.post(
        f"{console.url}/e/MY1/exceptions/{ghost['id']}/act",
        form={"csrf": csrf or "", "action": "reject", "reason": "viewer tries"},
    )
    assert refused.status == 403
    assert ghost["id"] in [x["id"] for x in _pending(console.store, "UNMATCHED_CUSTOMER")]

    other = page.context.browser
    assert other is not None
    context = other.new_context()
    sam = context.new_page()
    console.sign_in(sam, "sam")
    for path in ("/e/MY1", "/e/MY1/exceptions", f"/e/MY1/exceptions/{ghost['id']}"):
        assert sam.goto(f"{console.url}{path}").status == 404  # type: ignore[union-attr]
    # MY1's exception asked for under SG1, where sam may look: not SG1's, so not found
    assert sam.goto(f"{console.url}/e/SG1/exceptions/{ghost['id']}").status == 404  # type: ignore[union-attr]
    context.close()


def test_a_form_without_its_token_is_refused(console: Console, page: Page) -> None:
    [ghost] = _pending(console.store, "UNMATCHED_CUSTOMER")[:1]
    console.sign_in(page, "rex")
    forged: list[dict[str, str | float | bool]] = [
        {"action": "reject", "reason": "forged"},
        {"csrf": "wrong", "action": "reject", "reason": "forged"},
    ]
    for form in forged:
        refused = page.request.post(f"{console.url}/e/MY1/exceptions/{ghost['id']}/act", form=form)
        assert refused.status == 403
        assert "CSRF_FAILED" in refused.text()
    assert ghost["id"] in [x["id"] for x in _pending(console.store, "UNMATCHED_CUSTOMER")]


def test_a_script_in_a_caller_renders_as_text(console: Console, page: Page) -> None:
    [scripted] = [
        x
        for x in list_exceptions(console.store, Filter(status="pending"), entity_code="MY1")
        if x["record_id"] == "oct-6"
    ]
    console.sign_in(page, "rex")
    page.goto(f"{console.url}/e/MY1/exceptions?text=script")
    expect(page.locator("table.queue")).to_contain_text("oct-6")
    page.goto(f"{console.url}/e/MY1/exceptions/{scripted['id']}")
    expect(page.locator("pre.raw")).to_contain_text(XSS)
    assert page.locator("main script").count() == 0
    # the page fixture fails the test if any dialog opened
