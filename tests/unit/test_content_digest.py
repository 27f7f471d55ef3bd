"""A record's content digest is the standard SHA-256 of its documented canonical text: the
digests stay in the store for ever, so they must not depend on the library computing them."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import polars as pl

from ratebook.pipeline.normalise import content_digests


def test_content_digest_is_sha256_of_the_canonical_text() -> None:
    frame = pl.DataFrame(
        {
            "record_id": ["c1", "ünï-2"],
            "start_time": [
                datetime(2026, 10, 5, 2, 0, 0, tzinfo=UTC),
                datetime(2026, 10, 31, 15, 59, 59, 250_000, tzinfo=UTC),
            ],
            "quantity": [61_000, 0],
            "unit": ["s", "s"],
            "service": ["voice", "sms"],
            "account": ["C0001", None],
            "caller": [None, "+60321110000"],
            "destination": ["+60312345678", None],
            "disposition": ["ANSWERED", None],
            "direction": [None, "out"],
            "attributes": [None, '{"clid":"Ali"}'],
        },
        schema_overrides={"start_time": pl.Datetime("us", "UTC")},
    )
    # worked out by hand from the rule: fields joined by U+001F, null as U+0000, the instant
    # as epoch microseconds (2026-10-05T02:00:00Z = 1791165600 s), the quantity as stored
    texts = [
        "c1\x1f1791165600000000\x1f61000\x1fs\x1fvoice\x1fC0001\x1f\x00\x1f+60312345678"
        "\x1fANSWERED\x1f\x00\x1f\x00",
        "ünï-2\x1f1793462399250000\x1f0\x1fs\x1fsms\x1f\x00\x1f+60321110000\x1f\x00\x1f\x00"
        '\x1fout\x1f{"clid":"Ali"}',
    ]
    expected = [hashlib.sha256(t.encode("utf-8")).hexdigest() for t in texts]
    assert content_digests(frame).to_list() == expected


def test_a_large_frame_is_hashed_in_slices_each_row_in_its_place() -> None:
    """25,003 rows (more than the parallel threshold, not a multiple of the slice count):
    each row keeps its own digest in its own place."""
    n = 25_003
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    frame = pl.DataFrame(
        {
            "record_id": [f"r{i}" for i in range(n)],
            "start_time": [datetime(2026, 10, 5, tzinfo=UTC)] * n,
            "quantity": list(range(n)),
            "unit": ["s"] * n,
            "service": ["voice"] * n,
            "account": [None if i % 7 == 0 else f"C{i % 50}" for i in range(n)],
            "caller": [None] * n,
            "destination": ["+60312345678"] * n,
            "disposition": [None] * n,
            "direction": [None] * n,
            "attributes": [None] * n,
        },
        schema_overrides={
            "start_time": pl.Datetime("us", "UTC"),
            "caller": pl.String,
            "disposition": pl.String,
            "direction": pl.String,
            "attributes": pl.String,
        },
    )
    micros = int((datetime(2026, 10, 5, tzinfo=UTC) - epoch).total_seconds()) * 1_000_000
    texts = [
        "\x1f".join(
            [
                f"r{i}",
                str(micros),
                str(i),
                "s",
                "voice",
                "\x00" if i % 7 == 0 else f"C{i % 50}",
                "\x00",
                "+60312345678",
                "\x00",
                "\x00",
                "\x00",
            ]
        )
        for i in range(n)
    ]
    expected = [hashlib.sha256(t.encode("utf-8")).hexdigest() for t in texts]
    assert content_digests(frame).to_list() == expected
