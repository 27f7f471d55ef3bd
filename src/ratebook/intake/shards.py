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

#: The columns of a file's shard assignment: every well-read row's line and shard.
SHARD_SCHEMA: dict[str, pl.DataType] = {"line": pl.Int64(), "shard": pl.Int64()}


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard ``index`` (0-based) of ``count``, and every row's shard (``SHARD_SCHEMA``;
    a line it does not name goes by ``line mod count``)."""

    index: int
    count: int
    assignment: pl.DataFrame

    @property
    def label(self) -> str:
        """``2/4``: the shard's number, from 1, of how many."""
        return f"{self.index + 1}/{self.count}"

    def sha256(self, file_sha256: str) -> str:
        """The manifest's key of this shard of the file with ``file_sha256``."""
        return hashlib.sha256(f"{file_sha256}#shard {self.label}".encode()).hexdigest()

    def rows_of(self, chunk: RawChunk) -> RawChunk:
        """The rows of ``chunk`` that are this shard's, in file order."""
        shard = (
            chunk.frame.select("line")
            .join(self.assignment, on="line", how="left", maintain_order="left")
            .select(pl.col("shard").fill_null(pl.col("line") % self.count))
            .to_series()
        )
        return RawChunk(frame=chunk.frame.filter(shard == self.index), bytes_read=chunk.bytes_read)


def assign(rows: pl.DataFrame, count: int) -> pl.DataFrame:
    """The shard of each row of ``rows`` (``line``, ``record_id``, ``account``, ``caller``,
    every well-read row of one file, in file order): ``SHARD_SCHEMA``."""
    key = pl.coalesce(
        pl.col("account").str.strip_chars().replace("", None),
        pl.col("caller").str.strip_chars().replace("", None),
        pl.col("line").cast(pl.String),
    )
    # a digest, not Polars' own hash, which may change between its releases: an import
    # run again after an upgrade must split the file as the first run did
    digit = plh.col("_key").chash.sha2_256().str.slice(0, 12).str.to_integer(base=16)
    return rows.with_columns(key.alias("_key")).select(
        "line",
        (digit % count).cast(pl.Int64).first().over("record_id").alias("shard"),
    )
