"""Rate tables: list and show (read scope), import a YAML file (admin scope)."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from ratebook.api.body import ExactJsonRoute, limited_stream
from ratebook.api.deps import Admin, Config, Reader, Store
from ratebook.api.problems import Problem
from ratebook.errors import InputError
from ratebook.workflows import rate_tables
from ratebook.workflows.import_rate_table import import_rate_table

router = APIRouter(route_class=ExactJsonRoute, tags=["rate tables"])


@router.get("/v1/rate-tables", summary="Rate tables and their versions")
def list_tables(caller: Reader, engine: Store) -> list[dict[str, Any]]:
    return rate_tables.list_rate_tables(engine, entity_code=caller.entity)


@router.get("/v1/rate-tables/{name}", summary="A rate table's versions and rates")
def show_table(
    caller: Reader, engine: Store, name: Annotated[str, PathParam(max_length=100)]
) -> dict[str, Any]:
    return rate_tables.show_rate_table(engine, name, entity_code=caller.entity)


_TABLE_PART = "table"
#: At most this many decks in one upload (a table's versions each name at most one).
_MAX_DECKS = 100


@router.post(
    "/v1/rate-tables",
    summary="Import a rate-table file (YAML, as `ratebook rates import`)",
    description=(
        "Send the YAML alone (`application/yaml`), or, for a table whose versions name decks,"
        " as `multipart/form-data`: the YAML in a part named `table` and each deck as a file"
        " part whose file name is the one the YAML gives. A table imported here reads only"
        " the decks sent with it, never a file of the server's."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/yaml": {"schema": {"type": "string"}},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": [_TABLE_PART],
                        "properties": {
                            _TABLE_PART: {"type": "string", "format": "binary"},
                        },
                        "additionalProperties": {"type": "string", "format": "binary"},
                    }
                },
            },
        }
    },
)
async def import_table(
    request: Request,
    caller: Admin,
    engine: Store,
    settings: Config,
    correct: Annotated[
        bool, Query(description="Store a changed version as its next revision.")
    ] = False,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="ratebook-rates-") as folder:
        path = Path(folder) / "rates.yaml"
        body = limited_stream(request, settings.api_max_body_bytes)
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media == "multipart/form-data":
            decks = await _save_upload(request, body, Path(folder), path)
        else:
            decks = {}
            with path.open("wb") as out:
                async for chunk in body:
                    out.write(chunk)

        def run() -> dict[str, Any]:
            with caller.acting():
                result = import_rate_table(
                    engine, path, entity_code=caller.entity, correct=correct, decks=decks
                )
            return {
                "table": result.table,
                "added": result.added,
                "unchanged": result.unchanged,
                "corrected": result.corrected,
            }

        try:
            return await run_in_threadpool(run)
        except InputError as exc:
            raise _as_sent(exc, folder) from None


async def _save_upload(
    request: Request, body: AsyncGenerator[bytes, None], folder: Path, table: Path
) -> dict[str, Path]:
    """Save a multipart upload's parts in ``folder``: the ``table`` part at ``table``, each
    deck under a name of its own; the decks by the file name the caller gave them."""
    parser = MultiPartParser(request.headers, body, max_files=_MAX_DECKS + 1, max_fields=1)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise Problem(400, "BAD_UPLOAD", f"the multipart body cannot be read: {exc}") from None
    decks: dict[str, Path] = {}
    try:
        found_table = False
        for number, (name, part) in enumerate(form.multi_items()):
            if name == _TABLE_PART and isinstance(part, str):  # sent as a text field
                if found_table:
                    raise Problem(400, "BAD_UPLOAD", "the upload carries two table parts")
                found_table = True
                table.write_text(part, encoding="utf-8", errors="surrogateescape")
                continue
            if not isinstance(part, UploadFile):
                raise Problem(400, "BAD_UPLOAD", f"part {name[:50]!r} is not a file part")
            if name == _TABLE_PART:
                if found_table:
                    raise Problem(400, "BAD_UPLOAD", "the upload carries two table parts")
                found_table, target = True, table
            else:
                deck = part.filename or name
                if deck in decks:
                    raise Problem(400, "BAD_UPLOAD", f"deck {deck[:100]!r} is sent twice")
                target = folder / f"deck-{number}.csv"
                decks[deck] = target
            with target.open("wb") as out:
                while chunk := await part.read(1 << 16):
                    out.write(chunk)
        if not found_table:
            raise Problem(
                400, "BAD_UPLOAD", f"the upload has no {_TABLE_PART!r} part with the YAML"
            )
    finally:
        await form.close()
    return decks


def _as_sent(error: InputError, folder: str) -> InputError:
    """``error`` naming the uploaded files as the caller sent them, not where they were saved
    (a deck's errors name it as the table does already)."""
    source = "table" if Path(error.path).name == "rates.yaml" else error.path
    message = error.message.replace(folder + "/", "").replace(folder, "")
    return InputError(error.code, message, path=source, line=error.line, field=error.field)
