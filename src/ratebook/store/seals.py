"""Seals: digests of the billing rows an audited change wrote, committed in its audit entry.

A batch (an import, a group of pushed events, a re-rating, a review, a cycle close, a dispute
credit) seals what it writes as it writes it: its usage records, its rated charges, the
charges it supersedes and its ledger postings; a close also seals the charges it links to
invoice lines and the subscription intervals it bills; an issued invoice seals its row and
lines. Each seal is the SHA-256 of the rows' digests, in the order the rows were written
(their ids), and goes into the change's audit entry, so the hash chain covers the money.

A row's digest is the SHA-256 of its sealed columns joined by U+001F, null as U+0000, an
instant as epoch microseconds and an integer in decimal: the same text whether the row comes
from the frame being written or from the store, so ``audit verify --deep`` recomputes the
seals from the stored rows (``store.deep_verify``) and compares.

Columns that change by design after a row is written are not sealed: a record's status and
customer (review), a charge's ``superseded_by`` and ``invoice_line_id`` (sealed instead as
links by the batch or close that set them).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import polars_hash as plh

#: The columns each kind of row is sealed by, in order.
SEALED: dict[str, tuple[str, ...]] = {
    "records": (
        "origin",
        "record_id",
        "content_sha256",
        "batch_id",
        "source_sha256",
        "source_line",
    ),
    "charges": (
        "record_pk",
        "customer_id",
        "period",
        "posted_period",
        "rate_table_id",
        "version_id",
        "rate_row_id",
        "prefix",
        "band",
        "tier",
        "usage_before",
        "tier_split",
        "billed_quantity",
        "unit_price",
        "rate_unit",
        "connect_fee",
        "discount_ppm",
        "charge",
        "rounding_mode",
        "rounding_places",
        "batch_id",
        "rated_at",
    ),
    "postings": (
        "customer_id",
        "period",
        "kind",
        "amount",
        "quantity",
        "records",
        "batch_id",
        "memo",
        "category",
        "source_period",
        "posted_at",
    ),
    # (old charge, the charge that supersedes it), sealed by the batch of the new one
    "supersedes": ("charge_id", "superseded_by"),
    # (charge, invoice line), sealed by the close that billed it
    "links": ("charge_id", "invoice_line_id"),
    "subscription_charges": (
        "subscription_id",
        "service_from",
        "service_to",
        "days",
        "interval_days",
        "amount",
        "period",
    ),
    "invoice": (
        "number",
        "customer_id",
        "period",
        "issued_at",
        "currency",
        "net",
        "tax",
        "total",
        "rounding",
        "reason",
        "document_sha256",
    ),
    "invoice_lines": (
        "line_no",
        "kind",
        "category",
        "description",
        "service",
        "destination",
        "band",
        "unit",
        "quantity",
        "unit_price",
        "rate_unit",
        "records",
        "source_period",
        "amount",
        "tax_treatment",
        "tax_rate_ppm",
    ),
}

_NULL = "\x00"


def _text(name: str, dtype: pl.DataType) -> pl.Expr:
    column = pl.col(name)
    if isinstance(dtype, pl.Datetime):
        return column.dt.epoch("us").cast(pl.String).fill_null(_NULL)
    if isinstance(dtype, pl.Date):
        return column.cast(pl.String).fill_null(_NULL)
    if dtype == pl.Null:
        return pl.lit(_NULL)
    return column.cast(pl.String).fill_null(_NULL)


#: Up to this many rows are digested one by one in Python, beyond it as one frame
#: expression: a few rows (a pushed event's) cost more to set an expression up for than to
#: hash.
_FEW_ROWS = 64
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _value_text(value: object) -> str:
    """``_text`` for one value of a sealed column (integers, text, instants, dates): an
    instant as epoch microseconds, anything else as Polars casts it to text."""
    if value is None:
        return _NULL
    if isinstance(value, datetime):
        instant = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return str((instant - _EPOCH) // _MICROSECOND)
    return str(value)


def row_digests(frame: pl.DataFrame, kind: str) -> pl.Series:
    """The SHA-256 (hex) of each row of ``frame`` (which holds at least ``SEALED[kind]``)."""
    if frame.height <= _FEW_ROWS:
        return digests_each(frame, kind)
    return digests_as_frame(frame, kind)


def digests_as_frame(frame: pl.DataFrame, kind: str) -> pl.Series:
    """``row_digests`` as one frame expression."""
    text = plh.concat_str([_text(c, frame.schema[c]) for c in SEALED[kind]], separator="\x1f")
    return frame.select(text.chash.sha2_256().alias("digest")).to_series()


def digests_each(frame: pl.DataFrame, kind: str) -> pl.Series:
    """``row_digests`` one row at a time."""
    return pl.Series("digest", _digests_of(frame.select(SEALED[kind]).iter_rows()), dtype=pl.String)


def mapping_digests(kind: str, rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """``row_digests`` of rows given as mappings (a missing column is null), straight from
    their values: the same digests as of ``frame_of(kind, rows)``, for values of the types
    ``TYPES`` gives their columns."""
    names = SEALED[kind]
    return _digests_of(tuple(row.get(name) for name in names) for row in rows)


def _digests_of(rows: Iterable[tuple[Any, ...]]) -> list[str]:
    return [
        hashlib.sha256("\x1f".join(_value_text(v) for v in row).encode("utf-8")).hexdigest()
        for row in rows
    ]


def joined_digests(frame: pl.DataFrame, kind: str) -> bytes:
    """The row digests of ``frame`` in its order, concatenated: what a seal hashes."""
    if frame.is_empty():
        return b""
    return "".join(row_digests(frame, kind).to_list()).encode("ascii")


@dataclass(slots=True)
class Seal:
    """The seals of one batch, added to as its rows are written (in write order)."""

    _hashes: dict[str, Any] = field(default_factory=dict)
    _rows: dict[str, int] = field(default_factory=dict)

    def add(self, kind: str, frame: pl.DataFrame) -> None:
        """Seal the rows of ``frame`` (about to be written, in this order) as ``kind``."""
        if frame.is_empty():
            return
        self.update(kind, joined_digests(frame, kind), frame.height)

    def add_rows(self, kind: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """``add`` for rows given as mappings (a few postings, links)."""
        if rows:
            self.update(kind, "".join(mapping_digests(kind, rows)).encode("ascii"), len(rows))

    def update(self, kind: str, digests: bytes, rows: int) -> None:
        """Feed already joined row digests of ``rows`` rows."""
        if kind not in self._hashes:
            self._hashes[kind] = hashlib.sha256()
            self._rows[kind] = 0
        self._hashes[kind].update(digests)
        self._rows[kind] += rows

    def summary(self) -> dict[str, dict[str, object]]:
        """``{kind: {"rows": n, "sha256": hex}}``, for the audit entry (kinds with rows)."""
        return {
            kind: {"rows": self._rows[kind], "sha256": self._hashes[kind].hexdigest()}
            for kind in sorted(self._hashes)
        }


#: The Polars type of each sealed column (how the store's rows are read back).
_INT, _TEXT, _INSTANT = pl.Int64(), pl.String(), pl.Datetime("us", "UTC")
TYPES: dict[str, pl.DataType] = {
    **dict.fromkeys(
        (
            "batch_id",
            "source_line",
            "record_pk",
            "customer_id",
            "rate_table_id",
            "version_id",
            "rate_row_id",
            "tier",
            "usage_before",
            "billed_quantity",
            "unit_price",
            "rate_unit",
            "connect_fee",
            "discount_ppm",
            "charge",
            "rounding_places",
            "amount",
            "quantity",
            "records",
            "charge_id",
            "superseded_by",
            "invoice_line_id",
            "subscription_id",
            "days",
            "interval_days",
            "number",
            "net",
            "tax",
            "total",
            "rounding",
            "line_no",
            "tax_rate_ppm",
        ),
        _INT,
    ),
    **dict.fromkeys(("rated_at", "posted_at", "issued_at"), _INSTANT),
    **dict.fromkeys(("service_from", "service_to"), pl.Date()),
}


def schema_of(kind: str) -> dict[str, pl.DataType]:
    """The frame schema of ``SEALED[kind]`` (text for every column not typed otherwise)."""
    return {name: TYPES.get(name, _TEXT) for name in SEALED[kind]}


def frame_of(kind: str, rows: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    """Rows given as mappings, as a frame of ``SEALED[kind]``."""
    schema = schema_of(kind)
    return pl.DataFrame(
        [tuple(row.get(name) for name in schema) for row in rows], schema=schema, orient="row"
    )
