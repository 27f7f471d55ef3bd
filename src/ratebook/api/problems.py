"""RFC 9457 problem details: every error the API returns, each with a stable ``code``.

Errors raised by workflows (``ratebook.errors``) map to statuses here, once; a route never
builds an error response itself.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InternalError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from ratebook.errors import (
    AccessError,
    ConflictError,
    InputError,
    NotFoundError,
    RatebookError,
    StoreError,
)

log = logging.getLogger(__name__)

PROBLEM_TYPE = "application/problem+json"

_STATUS_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    409: "CONFLICT",
    413: "BODY_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_FAILED",
    503: "UNAVAILABLE",
}


class Problem(HTTPException):
    """An error answer: status, stable code, a sentence, and per-field errors.

    Attributes:
        code: stable UPPER_SNAKE code.
        errors: ``[{"pointer": "/events/0/quantity", "code": ..., "detail": ...}]``.
    """

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status_code=status, detail=detail, headers=headers)
        self.code = code
        self.errors = errors or []


def problem_response(
    request: Request,
    status: int,
    code: str,
    detail: str,
    errors: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """The problem JSON response."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
        "instance": request.url.path,
    }
    if errors:
        body["errors"] = errors
    return JSONResponse(
        body, status_code=status, media_type=PROBLEM_TYPE, headers=dict(headers or {})
    )


def _ratebook_status(error: RatebookError) -> int:
    if isinstance(error, AccessError):
        return 401
    if isinstance(error, NotFoundError):
        return 404
    if isinstance(error, ConflictError):
        return 409
    if isinstance(error, StoreError):
        return 503
    return 422  # InputError, ConfigError: what was sent cannot be used


def _pointer(location: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in location]
    if parts and parts[0] in ("body", "query", "path", "header"):
        kind, parts = parts[0], parts[1:]
        prefix = "" if kind == "body" else f"{kind}:"
    else:
        prefix = ""
    return prefix + "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def error_response(request: Request, exc: Exception) -> JSONResponse | None:
    """The problem response for an error a caller can act on, or None for anything else."""
    if isinstance(exc, Problem):
        return problem_response(
            request, exc.status_code, exc.code, str(exc.detail), exc.errors, exc.headers
        )
    if isinstance(exc, StarletteHTTPException):
        code = _STATUS_CODES.get(exc.status_code, f"HTTP_{exc.status_code}")
        detail = str(exc.detail) if exc.detail else HTTPStatus(exc.status_code).phrase
        return problem_response(request, exc.status_code, code, detail, headers=exc.headers)
    if isinstance(exc, RatebookError):
        errors: list[dict[str, Any]] = []
        if isinstance(exc, InputError):
            where: dict[str, Any] = {"source": exc.path}
            if exc.line is not None:
                where["line"] = exc.line
            if exc.field is not None:
                where["field"] = exc.field
            errors.append({**where, "code": exc.code, "detail": exc.message})
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, AccessError) else None
        return problem_response(
            request, _ratebook_status(exc), exc.code, exc.message, errors, headers
        )
    return None


def install(app: FastAPI) -> None:
    """Register the handlers that turn every failure into problem JSON."""

    async def on_error(request: Request, exc: Exception) -> JSONResponse:
        response = error_response(request, exc)
        if response is not None:
            return response
        if isinstance(exc, RequestValidationError):
            errors = [
                {
                    "pointer": _pointer(e.get("loc", ())),
                    "code": str(e.get("type", "invalid")).upper(),
                    "detail": str(e.get("msg", "invalid")),
                }
                for e in exc.errors()
            ]
            return problem_response(
                request, 422, "VALIDATION_FAILED", "the request does not match its schema", errors
            )
        if isinstance(exc, OperationalError | InternalError):
            # the store itself failed (connection lost, read-only, disk full): the request's
            # transaction was rolled back, and a retry may well succeed
            log.error("store failure on %s %s", request.method, request.url.path, exc_info=exc)
            return problem_response(
                request,
                503,
                "STORE_ERROR",
                "the database failed, and nothing of the request was kept; try again",
            )
        # logged with its traceback for the operator; the caller gets no internals
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return problem_response(
            request, 500, "INTERNAL_ERROR", "the server failed; the error has been logged"
        )

    app.add_exception_handler(StarletteHTTPException, on_error)
    app.add_exception_handler(RatebookError, on_error)
    app.add_exception_handler(RequestValidationError, on_error)
    app.add_exception_handler(Exception, on_error)
