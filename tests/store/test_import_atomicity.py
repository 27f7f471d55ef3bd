"""A crash half-way through a file commits nothing of it; the re-run imports it exactly once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from ratebook.intake import chunk as chunk_module
from ratebook.settings import Settings
from ratebook.store.tables import exceptions, import_batches, ledger_postings, usage_records
from ratebook.workflows import import_feed as import_feed_module
from ratebook.workflows import report_usage
from ratebook.workflows.import_customers import import_customers
from ratebook.workflows.import_feed import import_feed
from ratebook.workflows.import_rates import import_rates
from tests.conftest import write

FEED = (
    "record_id,start_time,quantity,caller,destination\n"
    + "".join(
        f"r{n},2026-10-05T10:{n:02d}:00+08:00,60,+60321110000,+60312345678\n" for n in range(7)
    )
    + "bad,not a time,60,+60321110000,+60312345678\n"
)


def _counts(engine: Engine) -> tuple[int, ...]:
    with engine.connect() as conn:
        return tuple(
            conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (import_batches, usage_records, exceptions, ledger_postings)
        )


def test_crash_mid_file_then_rerun(
    my_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import_rates(
        my_engine,
        write(tmp_path / "d.csv", "prefix,destination,rate\n60,M,0.0300\n"),
        name="standard",
        effective_from="2026-10-01",
    )
    import_customers(
        my_engine,
        write(tmp_path / "c.csv", "account,name,rate_table,numbers\nA,A,standard,+6032*\n"),
    )
    feed = write(tmp_path / "feed.csv", FEED)
    small = Settings(chunk_rows=3)  # three chunks: the crash comes after one has been written
    real = chunk_module.import_chunk
    calls = {"n": 0}

    def crash_on_second(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk unplugged")
        return real(*args, **kwargs)

    before = _counts(my_engine)
    monkeypatch.setattr(f"{import_feed_module.__name__}.import_chunk", crash_on_second)
    with pytest.raises(OSError, match="disk unplugged"):
        import_feed(my_engine, feed, format_name="generic", settings=small)
    assert _counts(my_engine) == before

    monkeypatch.setattr(f"{import_feed_module.__name__}.import_chunk", real)
    summary = import_feed(my_engine, feed, format_name="generic", settings=small)
    assert (summary.rows_read, summary.rated, summary.exceptions) == (8, 7, 1)
    # 7 calls of 60 s at 0.03 a minute
    assert [b.charge for b in report_usage.balances(my_engine, "2026-10")] == ["0.2100"]
    assert import_feed(my_engine, feed, format_name="generic", settings=small).already_imported
    assert _counts(my_engine) == (1, 7, 1, 1)
