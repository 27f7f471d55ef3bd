"""A long import shows its progress to the end: the bytes read, then the held charges placed
and booked partition by partition, which comes after the last chunk is read."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from ratebook.intake.tally import ImportProgress
from ratebook.settings import Settings
from ratebook.workflows.import_customers import import_customers
from ratebook.workflows.import_feed import import_feed
from ratebook.workflows.import_rates import import_rates
from tests.conftest import write


def test_progress_covers_reading_then_placing(my_engine: Engine, tmp_path: Path) -> None:
    import_rates(
        my_engine,
        write(tmp_path / "d.csv", "prefix,destination,rate\n60,M,0.0300\n"),
        name="standard",
        effective_from="2026-10-01",
    )
    accounts = [f"A{n}" for n in range(6)]
    import_customers(
        my_engine,
        write(
            tmp_path / "c.csv",
            "account,name,rate_table,numbers\n" + "".join(f"{a},{a},standard,\n" for a in accounts),
        ),
    )
    feed = write(
        tmp_path / "feed.csv",
        "record_id,start_time,quantity,account,destination\n"
        + "".join(
            f"r{n},2026-10-05T10:{n:02d}:00+08:00,60,{accounts[n % 6]},+60312345678\n"
            for n in range(12)
        ),
    )
    seen: list[tuple[str, int, int]] = []
    progress = ImportProgress(
        read=lambda done, total: seen.append(("read", done, total)),
        place=lambda done, total: seen.append(("place", done, total)),
    )
    summary = import_feed(
        my_engine, feed, format_name="generic", settings=Settings(chunk_rows=3), progress=progress
    )
    assert summary.rated == 12
    reads = [(d, t) for kind, d, t in seen if kind == "read"]
    places = [(d, t) for kind, d, t in seen if kind == "place"]
    size = feed.stat().st_size
    # four chunks of three rows, the last one ending at the file's size
    assert len(reads) == 4
    assert reads[-1] == (size, size)
    assert [d for d, _ in reads] == sorted(d for d, _ in reads)
    # then every partition, counted up to all of them
    partitions = places[-1][1]
    assert partitions >= 2
    assert places == [(n, partitions) for n in range(partitions + 1)]
    assert [kind for kind, _, _ in seen] == ["read"] * 4 + ["place"] * (partitions + 1)
