"""Imports, closes, a rate correction with re-rating, re-processing and late records raced on
one store (``tests/faults/race.py``): every record billed exactly once, the ledger whole, the
seals matching, issued invoices unchanged, and every later close succeeding. A handful of
seeds here; ``python -m tests.faults.run race`` runs many more."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.faults.race import race_trial


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_raced_month_bills_every_record_once(engine: Engine, tmp_path: Path, seed: int) -> None:
    result = race_trial(engine, tmp_path, seed)
    assert result.records == 96
    assert result.errors == []
    assert (result.lost, result.doubled) == (0, 0)
    assert result.wrong == []
    assert result.violations == []
    assert result.findings == []
    assert result.changed_invoices == []
    assert result.closes_failed == []
