"""The gate every API request passes before any work is done for it, as ASGI middleware.

In order, each refusal a problem JSON answered without reading the body:

1. the probes (``/healthz``, ``/readyz``), the metrics and the API's own documents pass
   straight through: they never wait behind work;
2. a request without a well-formed API key gets 401;
3. a body declared larger than its route reads gets 413, one of a media type its route does
   not read 415 (an untyped body is read as the route reads bodies);
4. the key is looked up (kept keys without a store read; requests with the same key share
   one lookup; at most ``_LOOKUPS`` keys looked up at once, beyond that 429), and an
   unknown or revoked one gets 401;
5. a key past its rate (``api_key_rate`` requests a second, bursts of ``api_key_burst``) gets
   429 with ``Retry-After``, as does any request while ``api_max_in_flight`` are being
   served by this process.

The route still checks the key's scope, and the store still checks it where it writes.

The console's pages (every path outside ``/v1/``, but for the probes and documents above)
sign in with a session cookie, which the console checks itself; here a console request
that carries a body must declare its length, within ``console_max_form_bytes`` (an upload:
``api_max_upload_bytes``), and counts towards ``api_max_in_flight``.
"""

from __future__ import annotations

import asyncio
import json
import time

from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine
from starlette.types import ASGIApp, Receive, Scope, Send

from ratebook.api.key_cache import KeyCache
from ratebook.limits import SECOND_NS, RateLimiter
from ratebook.model.keys import KeyRow
from ratebook.settings import Settings
from ratebook.workflows.manage_keys import authenticate, digest, well_formed

#: Paths that need no key and are never held up.
OPEN_PATHS = frozenset(
    {"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
)
#: The media types each route with a body reads (any other route: JSON).
_MEDIA_TYPES: dict[str, frozenset[str]] = {
    "/v1/events": frozenset(
        {"application/json", "application/cloudevents+json", "application/cloudevents-batch+json"}
    ),
    "/v1/imports": frozenset({"text/csv", "application/octet-stream"}),
    "/v1/rate-tables": frozenset(
        {"application/yaml", "application/x-yaml", "text/yaml", "multipart/form-data"}
    ),
}
_JSON = frozenset({"application/json"})
_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})
#: Key lookups in the store at once; an unknown key's lookup cannot queue behind others.
_LOOKUPS = 8


async def answer(
    send: Send, status: int, code: str, detail: str, headers: dict[str, str] | None = None
) -> None:
    """Send a problem JSON (the shape ``api.problems`` gives every error)."""
    titles = {
        401: "Unauthorized",
        408: "Request Timeout",
        411: "Length Required",
        413: "Content Too Large",
        415: "Unsupported Media Type",
        429: "Too Many Requests",
    }
    body = json.dumps(
        {
            "type": "about:blank",
            "title": titles.get(status, "Error"),
            "status": status,
            "detail": detail,
            "code": code,
        }
    ).encode()
    extra = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
                *extra,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _retry_after(nanoseconds: int) -> dict[str, str]:
    return {"Retry-After": str(max(1, -(-nanoseconds // SECOND_NS)))}


class Gate:
    """The middleware (see the module's docstring)."""

    def __init__(self, app: ASGIApp, *, engine: Engine, settings: Settings, keys: KeyCache) -> None:
        self.app = app
        self.engine = engine
        self.settings = settings
        self.keys = keys
        self.limiter = RateLimiter(settings.api_key_rate, settings.api_key_burst)
        self.in_flight = 0
        # the keys being looked up in the store, by digest: one lookup a key at a time
        self.looking_up: dict[str, asyncio.Future[KeyRow | None]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        if not scope["path"].startswith("/v1/"):
            await self._console(scope, receive, send)
            return
        headers = dict(scope["headers"])
        refused = self._refused_by_headers(scope, headers)
        if refused is not None:
            await answer(send, *refused)
            return
        token = headers[b"authorization"][7:].decode("latin-1").strip()
        wanted = digest(token)
        if (
            self.keys.get(wanted) is None
            and wanted not in self.looking_up
            and len(self.looking_up) >= _LOOKUPS
        ):
            await answer(send, 429, "BUSY", "too many new keys at once", _retry_after(1))
            return
        key_id = await self._key_id(token)
        if key_id is None:
            await answer(
                send,
                401,
                "UNAUTHENTICATED",
                "the API key is unknown or revoked",
                {"WWW-Authenticate": "Bearer"},
            )
            return
        wait = self.limiter.take(key_id, time.monotonic_ns())
        if wait:
            await answer(
                send,
                429,
                "RATE_LIMITED",
                f"this key may make {self.settings.api_key_rate} requests a second",
                _retry_after(wait),
            )
            return
        await self._within_limit(scope, receive, send)

    async def _within_limit(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request unless ``api_max_in_flight`` are being served (429)."""
        if self.in_flight >= self.settings.api_max_in_flight:
            await answer(
                send, 429, "BUSY", "the server is at its limit of requests", _retry_after(1)
            )
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1

    async def _console(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A console request: its body's declared length checked, then served within the
        limit of requests in flight."""
        if scope["method"] in _WITH_BODY:
            limit = (
                self.settings.api_max_upload_bytes
                if scope["path"].endswith("/imports")
                else self.settings.console_max_form_bytes
            )
            declared = dict(scope["headers"]).get(b"content-length", b"")
            if not declared.isdigit():
                await answer(send, 411, "LENGTH_REQUIRED", "a form must declare its length")
                return
            if int(declared) > limit:
                await answer(send, 413, "BODY_TOO_LARGE", f"the form is larger than {limit} bytes")
                return
        await self._within_limit(scope, receive, send)

    def _refused_by_headers(
        self, scope: Scope, headers: dict[bytes, bytes]
    ) -> tuple[int, str, str, dict[str, str] | None] | None:
        """The refusal the request's line and headers alone call for, or None."""
        auth = headers.get(b"authorization", b"")
        if auth[:7].lower() != b"bearer " or not well_formed(auth[7:].decode("latin-1").strip()):
            return (
                401,
                "UNAUTHENTICATED",
                "send an API key as a Bearer token",
                {"WWW-Authenticate": "Bearer"},
            )
        if scope["method"] not in _WITH_BODY:
            return None
        path = scope["path"]
        limit = (
            self.settings.api_max_upload_bytes
            if path == "/v1/imports"
            else self.settings.api_max_body_bytes
        )
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return (413, "BODY_TOO_LARGE", f"the request body is larger than {limit} bytes", None)
        media = headers.get(b"content-type", b"").split(b";")[0].strip().lower().decode("latin-1")
        wanted = _MEDIA_TYPES.get(path, _JSON)
        if media and media not in wanted:  # untyped, a body is read as its route reads it
            return (
                415,
                "UNSUPPORTED_MEDIA_TYPE",
                f"send the body as {' or '.join(sorted(wanted))}, not {media}",
                None,
            )
        return None

    async def _key_id(self, token: str) -> int | None:
        """The live key's id, or None (unknown or revoked). Requests presenting the same key
        while it is being looked up wait for that lookup rather than making their own."""
        wanted = digest(token)
        kept = self.keys.get(wanted)
        if kept is not None:
            return kept.id
        lookup = self.looking_up.get(wanted)
        if lookup is None:
            lookup = asyncio.ensure_future(run_in_threadpool(authenticate, self.engine, token))
            self.looking_up[wanted] = lookup
            lookup.add_done_callback(lambda _: self.looking_up.pop(wanted, None))
        key = await asyncio.shield(lookup)
        if key is None:
            return None
        self.keys.keep(wanted, key)
        return key.id
