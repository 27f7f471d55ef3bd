"""A file's rows split into shards by customer, for an import by several workers
(``ratebook ingest --workers N``): each shard is imported as a batch of its own, in a
transaction of its own, and the shards of one file never share a customer's records, so
the workers do not wait for each other's cycle totals.

A row's customer is not known before it is matched, so a row goes by what names its
customer in the file: its account, or failing that its caller. Every row of one record id
goes with the id's first row, so a repeated id (a duplicate, or an ``ID_CONFLICT``) is
decided in one shard, in file order, exactly as one import decides it. A row the format
cannot read at all goes by its line. Rating is a function of each customer-cycle's records
whatever order they arrive in, so the ledger is the same for any number of shards.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import polars as pl
import polars_hash as plh

from ratebook.sources.csvread import RawChunk

#: A file's shard assignment: a series of this type whose item ``line`` is the shard of the
#: well-read row on that line of the file, null for a line no such row is on (a byte a line,
#: the whole file's assignment held at once by every worker; ``--workers`` is at most 64).
ASSIGNMENT_TYPE = pl.UInt8


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard ``index`` (0-based) of ``count``, and every row's shard (``assign``; a line it
    does not name goes by ``line mod count``)."""

    index: int
    count: int
    assignment: pl.Series

    @property
    def label(self) -> str:
        """``2/4``: the shard's number, from 1, of how many."""
        return f"{self.index + 1}/{self.count}"

    def sha256(self, file_sha256: str) -> str:
        """The manifest's key of this shard of the file with ``file_sha256``."""
        return hashlib.sha256(f"{file_sha256}#shard {self.label}".encode()).hexdigest()

    def rows_of(self, chunk: RawChunk) -> RawChunk:
        """The rows of ``chunk`` that are this shard's, in file order."""
        lines = chunk.frame["line"]
        known = self.assignment.len()
        if lines.is_empty() or known == 0:
            assigned = pl.repeat(None, lines.len(), dtype=ASSIGNMENT_TYPE, eager=True)
        else:
            assigned = self.assignment.gather(lines.clip(0, known - 1))
        shard = pl.select(
            pl.when(lines < known)
            .then(assigned)
            .cast(pl.Int64)
            .fill_null(lines % self.count)
            .alias("shard")
        ).to_series()
        return RawChunk(frame=chunk.frame.filter(shard == self.index), bytes_read=chunk.bytes_read)


def keyed(rows: pl.DataFrame, count: int) -> pl.DataFrame:
    """What ``assign`` needs of ``rows`` (``line``, ``record_id``, ``account``, ``caller``)
    for ``count`` shards, thirteen bytes a row: the line, a 64-bit digest of the record id,
    and the shard of the customer the row names. Taken chunk by chunk, so that a whole
    file's ids and customer fields are never held at once."""
    key = pl.coalesce(
        pl.col("account").str.strip_chars().replace("", None),
        pl.col("caller").str.strip_chars().replace("", None),
        pl.col("line").cast(pl.String),
    )
    # digests, not Polars' own hash, which may change between its releases: an import run
    # again after an upgrade must split the file as the first run did
    customer = plh.col("_key").chash.sha2_256().str.slice(0, 12).str.to_integer(base=16)
    return rows.with_columns(key.alias("_key")).select(
        pl.col("line").cast(pl.UInt32),
        plh.col("record_id").nchash.xxhash64().alias("_id"),
        (customer % count).cast(ASSIGNMENT_TYPE).alias("_shard"),
    )


def assign(keys: pl.DataFrame) -> pl.Series:
    """The shard of each row of ``keys`` (``keyed`` of every well-read row of one file, in
    file order), by line (``ASSIGNMENT_TYPE``): its customer's, or the shard of the first
    row of its record id. Two ids of one digest (one chance in about 10^19 a pair) go
    together, which costs nothing but balance: rating does not depend on the split."""
    if keys.is_empty():
        return pl.Series("shard", [], dtype=ASSIGNMENT_TYPE)
    shards = keys.select("line", pl.col("_shard").first().over("_id").alias("shard"))
    lines = int(shards["line"].max()) + 1  # type: ignore[arg-type]
    by_line = pl.repeat(None, lines, dtype=ASSIGNMENT_TYPE, eager=True).alias("shard")
    return by_line.scatter(shards["line"], shards["shard"])
