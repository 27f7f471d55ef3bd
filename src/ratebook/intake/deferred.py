"""The charges of one file import, held until the whole file is read, then placed and booked.

Graduated tiers make a record's price depend on the records before it in its customer-cycle.
A file is read in chunks, and its rows are seldom in time order: booking each chunk as it
comes made every later chunk re-rate the earlier chunks' charges of the same cycles (a
reversal and a new posting each time), work that grew with the square of the file.

Instead, each chunk's rated records (stored already, without charges) are spilled to Parquet
files on local disk, split by customer into partitions; after the last chunk each partition
is read back, placed in its cycles at once (against what earlier imports hold) and booked.
Records of one file never re-rate each other; only charges of earlier imports are re-rated.
Memory stays bounded by a partition, about one chunk.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import TracebackType

import polars as pl
from sqlalchemy import Connection

from ratebook.intake.book import Ledger
from ratebook.intake.place import CycleUsage
from ratebook.intake.tally import Tally
from ratebook.store import scratch, usage


class DeferredCharges:
    """Spill and settle the rated records of one import (a context manager: the spill
    directory is removed on exit)."""

    def __init__(self, *, expected_rows: int, partition_rows: int) -> None:
        self._partitions = max(1, math.ceil(expected_rows / max(1, partition_rows)))
        self._folder = tempfile.TemporaryDirectory(prefix="charges-", dir=scratch.folder())
        self._spills = 0
        self._held = 0  # records held, all partitions
        self._customers: set[int] = set()  # of the records held

    def __enter__(self) -> DeferredCharges:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._folder.cleanup()

    def hold(self, rated: pl.DataFrame) -> None:
        """Keep ``rated`` (records with their ``record_pk``, priced, not placed)."""
        if rated.is_empty():
            return
        self._spills += 1
        self._held += rated.height
        self._customers.update(rated["customer_id"].unique().to_list())
        keyed = rated.with_columns((pl.col("customer_id") % self._partitions).alias("_partition"))
        for (partition,), part in keyed.partition_by("_partition", as_dict=True).items():
            # lz4: a spill is read back once, minutes later; writing fast matters more
            part.drop("_partition").write_parquet(
                Path(self._folder.name) / f"p{partition}-{self._spills}.parquet",
                compression="lz4",
            )

    def settle(
        self,
        conn: Connection,
        *,
        cycle: CycleUsage,
        ledger: Ledger,
        entity_id: int,
        batch_id: int,
        now: datetime,
        progress: Callable[[int, int], None] | None = None,
    ) -> Tally:
        """Place and book everything held, a partition at a time, telling ``progress`` of
        ``(partitions done, partitions)`` after each.

        Returns:
            the charge of the new records, how many charges of earlier imports were re-rated,
            and what that changed (AMOUNT_SCALE).
        """
        booked = Tally()
        first = True
        folder = Path(self._folder.name)
        # every held customer's placing lock at once, in the one order every writer takes
        # them in, rather than a partition's at a time
        cycle.lock(self._customers)
        for partition in range(self._partitions):
            files = sorted(folder.glob(f"p{partition}-*.parquet"))
            if progress is not None:
                progress(partition, self._partitions)
            if not files:
                continue
            held = pl.read_parquet(files)
            # the charges booked so far change the best plan of the cycle queries
            usage.refresh_statistics(
                conn,
                adding=self._held,
                tables=("usage_records", "record_keys", "rated_charges", "usage_totals")
                if first
                else ("rated_charges", "usage_totals"),
            )
            first = False
            placed = cycle.place(held)
            ledger.book(
                conn,
                placed.rated,
                placed,
                entity_id=entity_id,
                batch_id=batch_id,
                now=now,
            )
            booked += Tally(
                charge=int(placed.rated["charge"].sum() or 0),
                rerated=placed.replacements.height,
                rerated_change=int(placed.replacements["charge"].sum() or 0)
                - int(placed.replaced["charge"].sum() or 0),
            )
            for file in files:
                file.unlink()
        if progress is not None:
            progress(self._partitions, self._partitions)
        return booked
