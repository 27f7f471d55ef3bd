"""Every billing story ends with a store whose ledger invariants hold and whose audit seals
match the rows (``ratebook check`` and ``ratebook audit verify --deep`` find nothing)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from ratebook.workflows.check_ledger import check_ledger
from ratebook.workflows.verify_audit import verify_audit


@pytest.fixture
def engine(engine: Engine) -> Iterator[Engine]:
    """The shared store, checked after the story."""
    yield engine
    violations = [(r.entity.code, v) for r in check_ledger(engine) for v in r.checked.violations]
    assert violations == []
    assert verify_audit(engine, deep=True).findings == []
