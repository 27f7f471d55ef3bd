"""The console's answers over plain HTTP: its security headers, the session cookie, the
sign-in throttle and form token, no open redirect, and bodies refused before they are read."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from tests.console.conftest import PASSWORD, Console

from ratebook.model.review import Filter
from ratebook.workflows.review_exceptions import list_exceptions

pytestmark = pytest.mark.slow


def _form_token(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


def _sign_in_form(client: httpx.Client) -> str:
    """A sign-in form's token (its cookie kept by the client)."""
    return _form_token(client.get("/login"))


@contextmanager
def _signed_in(console: Console, user: str = "rex") -> Iterator[httpx.Client]:
    with httpx.Client(base_url=console.url, follow_redirects=False, timeout=30) as client:
        token = _sign_in_form(client)
        answer = client.post(
            "/login", data={"csrf": token, "username": user, "password": PASSWORD, "next": "/"}
        )
        assert answer.status_code == 303
        yield client


def test_pages_carry_the_security_headers(console: Console) -> None:
    with _signed_in(console) as client:
        page = client.get("/e/MY1")
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "same-origin"
    assert page.headers["cache-control"] == "no-store"


def test_the_session_cookie(console: Console) -> None:
    with httpx.Client(base_url=console.url, timeout=30) as client:
        token = _sign_in_form(client)
        plain = client.post("/login", data={"csrf": token, "username": "rex", "password": PASSWORD})
        cookie = plain.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=lax" in cookie
        assert "Path=/" in cookie
        assert "Secure" not in cookie
    # behind a TLS proxy on this host (uvicorn trusts its forwarded scheme): Secure
    with httpx.Client(
        base_url=console.url, timeout=30, headers={"X-Forwarded-Proto": "https"}
    ) as client:
        token = _sign_in_form(client)
        tls = client.post("/login", data={"csrf": token, "username": "rex", "password": PASSWORD})
        assert "Secure" in tls.headers["set-cookie"]


def test_sign_in_is_throttled(console: Console) -> None:
    with httpx.Client(base_url=console.url, timeout=30) as client:
        token = _sign_in_form(client)
        statuses = []
        for i in range(5):
            # each refusal comes with a fresh form, as a browser would show it
            refused = client.post(
                "/login", data={"csrf": token, "username": "rex", "password": f"guess {i}"}
            )
            statuses.append(refused.status_code)
            token = _form_token(refused)
        assert statuses == [401] * 5
        throttled = client.post(
            "/login", data={"csrf": token, "username": "rex", "password": PASSWORD}
        )
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) >= 1
    assert "ratebook_session" not in throttled.headers.get("set-cookie", "")


def test_sign_in_needs_its_form_and_goes_only_to_this_site(console: Console) -> None:
    with httpx.Client(base_url=console.url, timeout=30) as client:
        forged = client.post("/login", data={"username": "rex", "password": PASSWORD})
        assert forged.status_code == 403
        token = _sign_in_form(client)
        away = client.post(
            "/login",
            data={"csrf": token, "username": "rex", "password": PASSWORD, "next": "//evil.test/"},
        )
    assert away.status_code == 303
    assert away.headers["location"] == "/"


def test_bodies_are_refused_before_they_are_read(console: Console) -> None:
    pending = list_exceptions(console.store, Filter(status="pending"), entity_code="MY1")
    target = pending[0]["id"]
    with _signed_in(console) as client:
        csrf = _form_token(client.get(f"/e/MY1/exceptions/{target}"))
        nul = client.post(
            f"/e/MY1/exceptions/{target}/act",
            data={"csrf": csrf, "action": "reject", "reason": "a\x00b"},
        )
        assert nul.status_code == 400
        large = client.post(
            f"/e/MY1/exceptions/{target}/act",
            content=b"x" * (2 * 1024 * 1024),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert large.status_code == 413
        cookie = client.cookies.get("ratebook_session")
    # a chunked body declares no length: refused before it is read
    host, port = console.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        raw.sendall(
            f"POST /e/MY1/exceptions/{target}/act HTTP/1.1\r\nHost: {host}\r\n"
            f"Cookie: ratebook_session={cookie}\r\nTransfer-Encoding: chunked\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n\r\n".encode()
        )
        assert raw.recv(4096).split(b"\r\n", 1)[0] == b"HTTP/1.1 411 Length Required"
    still = list_exceptions(console.store, Filter(ids=(target,)), entity_code="MY1")
    assert still[0]["status"] == "open"


def test_an_unknown_entity_looks_like_one_without_a_role(console: Console) -> None:
    with _signed_in(console) as client:
        assert client.get("/e/NOPE").status_code == 404
        assert client.get("/e/SG1").status_code == 404
        assert client.get("/e/MY1/invoices/999").status_code == 404
        assert client.get("/e/MY1/lineage/999999").status_code == 404
        # ids past what the store keeps are bad requests, never a fault of the store
        assert client.get(f"/e/MY1/exceptions/{10**30}").status_code == 400
        assert client.get(f"/e/MY1/invoices/{2**31}").status_code == 400
        assert client.get("/e/MY1/disputes/0").status_code == 400


def test_roles_are_checked_before_a_form_is_read(console: Console) -> None:
    with _signed_in(console, "vic") as client:
        csrf = _form_token(client.get("/e/MY1/imports"))
        upload = client.post(
            "/e/MY1/imports",
            headers={"X-CSRF-Token": csrf},
            files={"file": ("calls.csv", b"record_id,start_time,quantity\n")},
        )
        assert upload.status_code == 403
        assert "needs the admin role" in upload.text
        verify = client.post("/e/MY1/audit/verify", data={"csrf": csrf})
        assert verify.status_code == 403
        # a quote stores nothing: a viewer may ask one
        quote = client.post(
            "/e/MY1/rates/quote",
            data={
                "csrf": csrf,
                "account": "ACME",
                "start_time": "2026-10-05T10:00:00",
                "quantity": "61",
                "destination": "+60398765432",
            },
        )
        assert quote.status_code == 200
        # 61 s: 2 started minutes at RM0.1000
        assert "0.2000 MYR" in quote.text


def test_a_token_beyond_ascii_is_wrong_not_a_fault(console: Console) -> None:
    pending = list_exceptions(console.store, Filter(status="pending"), entity_code="MY1")
    with _signed_in(console) as client:
        refused = client.post(
            f"/e/MY1/exceptions/{pending[0]['id']}/act",
            data={"csrf": "é" * 43, "action": "reject", "reason": "forged"},
        )
        assert refused.status_code == 403
        assert "CSRF_FAILED" in refused.text
        out = client.post("/logout", data={"csrf": "é"})
        assert out.status_code == 403
    with httpx.Client(base_url=console.url, timeout=30) as client:
        _sign_in_form(client)
        sign_in = client.post("/login", data={"csrf": "é", "username": "rex", "password": "x"})
        assert sign_in.status_code == 403
