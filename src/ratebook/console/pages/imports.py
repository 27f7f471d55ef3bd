"""Imports: the entity's last imports with their row identity, and a CSV upload whose page
shows the import's progress, then its summary and a link to its exceptions."""

from __future__ import annotations

import tempfile
from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse
from starlette.datastructures import UploadFile

from ratebook.console.jobs import ImportJobs
from ratebook.console.params import Name
from ratebook.console.session import Administering, Viewing
from ratebook.console.web import ConsoleRoute, page
from ratebook.intake.tally import ImportProgress, ImportSummary
from ratebook.model.actor import acting_as
from ratebook.store import scratch
from ratebook.workflows.import_feed import import_feed, known_formats
from ratebook.workflows.review_exceptions import row_identity

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

#: Imports listed.
LISTED = 50
_COPY_CHUNK = 1024 * 1024


def _listing(request: Request, desk: Viewing, *, status: int = 200, error: str = "") -> Response:
    rows = row_identity(request.app.state.engine, entity_code=desk.entity, last=LISTED)
    return page(
        request,
        "imports.html",
        desk=desk,
        status=status,
        rows=rows[::-1],
        formats=known_formats(),
        error=error,
    )


@router.get("/e/{entity}/imports")
def imports(request: Request, desk: Viewing) -> Response:
    return _listing(request, desk)


@router.post("/e/{entity}/imports")
async def upload(request: Request, desk: Administering) -> Response:
    form = await request.form()
    file = form.get("file")
    fmt = str(form.get("format") or "generic")
    origin = str(form.get("origin") or "").strip() or None
    zone = str(form.get("tz") or "").strip() or None
    if not isinstance(file, UploadFile) or not file.filename:
        await form.close()
        return await run_in_threadpool(
            lambda: _listing(request, desk, status=422, error="choose a CSV file to upload")
        )
    if fmt not in known_formats():
        await form.close()
        return await run_in_threadpool(
            lambda: _listing(request, desk, status=422, error=f"unknown format {fmt!r}")
        )
    name = Path(file.filename).name[:200] or "upload.csv"
    folder = Path(tempfile.mkdtemp(prefix="console-upload-", dir=scratch.folder()))
    path = folder / "upload.csv"
    try:
        with path.open("wb") as out:
            while chunk := await file.read(_COPY_CHUNK):
                out.write(chunk)
    finally:
        await form.close()
    engine = request.app.state.engine
    settings = request.app.state.settings
    references = request.app.state.references
    actor = desk.signed_in.actor

    def run(progress: ImportProgress) -> ImportSummary:
        with acting_as(actor):
            return import_feed(
                engine,
                path,
                format_name=fmt,
                entity_code=desk.entity,
                origin=origin,
                feed_zone=zone,
                settings=settings,
                progress=progress,
                source_name=f"console:{desk.signed_in.user.username}:{name}",
                references=references,
            )

    jobs: ImportJobs = request.app.state.console_imports
    job = jobs.submit(desk.entity, name, path, run)
    if job is None:
        return await run_in_threadpool(
            lambda: _listing(
                request, desk, status=429, error="several imports are waiting: try again soon"
            )
        )
    return RedirectResponse(f"/e/{desk.entity}/imports/jobs/{job.id}", status_code=303)


@router.get("/e/{entity}/imports/jobs/{job_id}")
def job_page(request: Request, desk: Viewing, job_id: Name) -> Response:
    jobs: ImportJobs = request.app.state.console_imports
    return page(
        request, "import_job.html", desk=desk, job=jobs.get(job_id, desk.entity), job_id=job_id
    )


@router.get("/e/{entity}/imports/jobs/{job_id}/progress")
def job_progress(request: Request, desk: Viewing, job_id: Name) -> Response:
    jobs: ImportJobs = request.app.state.console_imports
    return page(
        request, "import_progress.html", desk=desk, job=jobs.get(job_id, desk.entity), job_id=job_id
    )
