"""A newcomer's first hour, as the console's guide prints it: ``ratebook demo``, a user,
``ratebook serve``, and the demo's exceptions worked to zero in the browser."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect
from tests.console.conftest import PASSWORD

from ratebook.store.engine import open_store
from ratebook.workflows.review_exceptions import row_identity

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _ratebook(folder: Path, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "ratebook", *args],
        cwd=folder,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "RATEBOOK_DATABASE_URL": "sqlite:///ratebook.db"},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_demo_queue_is_worked_to_zero(tmp_path: Path, page: Page) -> None:
    printed = _ratebook(tmp_path, "demo", "--records", "5000")
    assert "ratebook users create NAME --role admin" in printed
    _ratebook(
        tmp_path,
        "users",
        "create",
        "me",
        "--role",
        "admin",
        "--password-stdin",
        stdin=f"{PASSWORD}\n",
    )
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "ratebook", "serve", "--port", str(port), "--no-feeds"],
        cwd=tmp_path,
        env={**os.environ, "RATEBOOK_DATABASE_URL": "sqlite:///ratebook.db"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "ratebook serve did not start"
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            time.sleep(0.2)

        page.goto(url)
        page.get_by_label("User name").fill("me")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        waiting = page.locator(".figures a").first
        assert int(waiting.inner_text().replace(",", "")) > 0
        page.get_by_role("link", name="Exceptions", exact=True).click()
        page.get_by_label("Action").select_option("reject")
        page.get_by_label("Which").select_option("filter")
        page.get_by_role("button", name="Continue…").click()
        page.get_by_label("Reason (required)").fill("demo data: written off")
        page.get_by_role("button", name="Confirm: reject (write off)").click()
        expect(page.locator("dl.outcome")).to_contain_text("Written off")
        page.get_by_role("link", name="Overview").click()
        expect(page.locator(".figures a").first).to_have_text("0")
        expect(page.get_by_text("The queue is empty.")).to_be_visible()
    finally:
        server.terminate()
        server.wait(timeout=30)
        if server.stderr:
            server.stderr.close()
    store = open_store(f"sqlite:///{tmp_path / 'ratebook.db'}")
    try:
        imports = row_identity(store, entity_code="DEMO")
    finally:
        store.dispose()
    assert imports
    assert all(row["ok"] and row["pending"] == 0 for row in imports)
