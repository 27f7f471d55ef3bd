"""Reading request bodies: a size limit while streaming, exact JSON numbers, a depth limit.

JSON numbers become ``int`` or ``Decimal``, never ``float``, so a quantity or an amount sent
as a number keeps every digit. The route class below makes FastAPI read bodies this way.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncGenerator, Callable, Coroutine
from decimal import Decimal
from typing import Any

from fastapi import Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from ratebook.api.problems import Problem

LIMIT_KEY = "ratebook.body_limit"
DEPTH_KEY = "ratebook.json_depth"
DIGEST_KEY = "ratebook.body_sha256"


def too_large(limit: int) -> Problem:
    """The 413 problem."""
    return Problem(413, "BODY_TOO_LARGE", f"the request body is larger than {limit} bytes")


def check_length_header(request: Request, limit: int) -> None:
    """Refuse at once a body whose declared length is over ``limit``."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise Problem(400, "BAD_CONTENT_LENGTH", "Content-Length is not a number") from None
        if size > limit:
            raise too_large(limit)


async def limited_stream(request: Request, limit: int) -> AsyncGenerator[bytes, None]:
    """The body's chunks, raising 413 as soon as more than ``limit`` bytes arrived, and 408
    when the whole body takes longer than the settings' ``api_body_seconds`` to arrive."""
    check_length_header(request, limit)
    seconds = request.app.state.settings.api_body_seconds
    deadline = asyncio.get_running_loop().time() + seconds
    chunks = request.stream().__aiter__()
    seen = 0
    while True:
        left = deadline - asyncio.get_running_loop().time()
        try:
            async with asyncio.timeout(max(left, 0)):
                chunk = await chunks.__anext__()
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise Problem(
                408, "BODY_TIMEOUT", f"the request body did not arrive within {seconds} s"
            ) from None
        seen += len(chunk)
        if seen > limit:
            raise too_large(limit)
        yield chunk


def depth(value: Any) -> int:
    """How deeply arrays and objects nest in a parsed JSON value (a scalar is 0)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        level += 1
        deepest = max(deepest, level)
        stack.extend((child, level) for child in children if isinstance(child, dict | list))
    return deepest


def parse_json(body: bytes, max_depth: int) -> Any:
    """Parse a JSON body exactly.

    Raises:
        Problem: 400 ``INVALID_JSON`` or ``JSON_TOO_DEEP``.
    """
    try:
        value = json.loads(
            body,
            parse_float=Decimal,
            parse_constant=_no_constant,
            object_pairs_hook=_object,
        )
    except _RepeatedKeyError as repeated:
        raise Problem(
            400, "DUPLICATE_KEY", f"the JSON object has the key {repeated.args[0]!r} twice"
        ) from None
    except RecursionError:
        raise Problem(400, "JSON_TOO_DEEP", f"JSON nests deeper than {max_depth} levels") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise Problem(400, "INVALID_JSON", f"the body is not valid JSON: {exc}") from None
    if b"\\u0000" in body:
        # PostgreSQL text cannot hold NUL; no field of Ratebook's has a use for one
        raise Problem(400, "INVALID_JSON", "JSON strings may not hold the NUL character (\\u0000)")
    if depth(value) > max_depth:
        raise Problem(400, "JSON_TOO_DEEP", f"JSON nests deeper than {max_depth} levels")
    if b"\\ud" in body.lower() and not _encodable(value):
        # a lone surrogate escape: not a character, and no store can hold it as text
        raise Problem(400, "INVALID_JSON", "a JSON string holds a lone surrogate (\\uD800-\\uDFFF)")
    return value


def _encodable(value: Any) -> bool:
    """Whether every string (and key) in a parsed JSON value is encodable as UTF-8."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return False
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


class _RepeatedKeyError(ValueError):
    """A JSON object with a key twice (which of the two would count is anyone's guess)."""


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) < len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _RepeatedKeyError(key)
            seen.add(key)
    return found


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


#: Bodies up to this size are parsed on the event loop (a thread hand-off costs more).
_PARSE_ON_LOOP = 64 * 1024


class ExactJsonRequest(Request):
    """A request whose body is read under a size limit and whose JSON is parsed exactly."""

    async def body(self) -> bytes:
        if not hasattr(self, "_body"):
            limit = int(self.scope[LIMIT_KEY])
            self._body = b"".join([chunk async for chunk in limited_stream(self, limit)])
            self.scope[DIGEST_KEY] = hashlib.sha256(self._body).hexdigest()
        return self._body

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            depth = int(self.scope[DEPTH_KEY])
            # a large body is parsed in a worker thread, not on the loop other requests share
            self._json = (
                parse_json(body, depth)
                if len(body) <= _PARSE_ON_LOOP
                else await run_in_threadpool(parse_json, body, depth)
            )
        return self._json


class ExactJsonRoute(APIRoute):
    """Routes whose JSON bodies are read by :class:`ExactJsonRequest`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def exact(request: Request) -> Response:
            settings = request.app.state.settings
            request.scope.setdefault(LIMIT_KEY, settings.api_max_body_bytes)
            request.scope.setdefault(DEPTH_KEY, settings.api_max_json_depth)
            return await handler(ExactJsonRequest(request.scope, request.receive))

        return exact


def body_digest(request: Request) -> str:
    """The SHA-256 of the body a JSON route read (of nothing, if it read none)."""
    return str(request.scope.get(DIGEST_KEY, hashlib.sha256(b"").hexdigest()))


class RefuseNul:
    """Answers 400 to a path or query holding a NUL (``%00``): it can never name anything,
    and PostgreSQL text cannot even hold it for a comparison."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (
            b"%00" in scope.get("raw_path", b"") or b"%00" in scope.get("query_string", b"")
        ):
            body = (
                b'{"type":"about:blank","title":"Bad Request","status":400,'
                b'"detail":"the path or query holds a NUL character","code":"BAD_REQUEST"}'
            )
            await send(
                {
                    "type": "http.response.start",
                    "status": 400,
                    "headers": [
                        (b"content-type", b"application/problem+json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)
