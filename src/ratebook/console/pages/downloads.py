"""Files the console hands out, written by the same workflows as the CLI's and the API's."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from sqlalchemy import Engine

from ratebook.workflows.report_usage import write_statement
from ratebook.workflows.statement_pdf import write_statement_pdf

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def attachment(name: str) -> dict[str, str]:
    """The header that saves a download as ``name`` (anything but ``[A-Za-z0-9._-]`` as
    ``_``, so no header can be forged through an account name)."""
    return {"Content-Disposition": f'attachment; filename="{_UNSAFE.sub("_", name)}"'}


def statement_csv(engine: Engine, entity: str, account: str, period: str) -> bytes:
    """A customer's CSV statement of ``period``."""
    with tempfile.TemporaryDirectory(prefix="ratebook-statement-") as folder:
        out = Path(folder) / "statement.csv"
        write_statement(engine, account=account, period=period, out=out, entity_code=entity)
        return out.read_bytes()


def statement_pdf(engine: Engine, entity: str, account: str, period: str) -> bytes:
    """A customer's PDF statement of ``period``."""
    with tempfile.TemporaryDirectory(prefix="ratebook-statement-") as folder:
        out = Path(folder) / "statement.pdf"
        write_statement_pdf(engine, account=account, period=period, out=out, entity_code=entity)
        return out.read_bytes()
