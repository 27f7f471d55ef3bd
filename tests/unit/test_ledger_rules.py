"""Billing periods, where usage is posted, a run's tally and the re-posting of re-rated charges,
without a database. Expected values are worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from ratebook.billing.post import ChargeMoves, Routing, UsageTally, reposting, unbalanced
from ratebook.errors import InputError
from ratebook.model.ledger import Period, Posting, PostingKind


def test_a_period_knows_its_neighbours_across_years() -> None:
    assert str(Period.parse("2026-12").next()) == "2027-01"
    assert str(Period.parse("2027-01").previous()) == "2026-12"
    assert str(Period.parse("2026-06").next()) == "2026-07"
    assert Period.parse("2026-09") < Period.parse("2026-10")


def test_a_period_is_a_local_month_half_open() -> None:
    # Kuala Lumpur is UTC+8 all year: October starts 30 Sep 16:00 UTC
    assert Period.parse("2026-10").bounds("Asia/Kuala_Lumpur") == (
        datetime(2026, 9, 30, 16, tzinfo=UTC),
        datetime(2026, 10, 31, 16, tzinfo=UTC),
    )
    # New York: March starts in EST (UTC-5), April in EDT (UTC-4)
    assert Period.parse("2026-03").bounds("America/New_York") == (
        datetime(2026, 3, 1, 5, tzinfo=UTC),
        datetime(2026, 4, 1, 4, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("2026-13", "'2026-13' is not a month as YYYY-MM"),
        ("October", "'October' is not a month as YYYY-MM"),
        ("2026-1", "'2026-1' is not a month as YYYY-MM"),
        ("0001-01", "0001-01 is outside 1970-01 to 2199-12, the months Ratebook bills"),
        ("9999-12", "9999-12 is outside 1970-01 to 2199-12, the months Ratebook bills"),
    ],
)
def test_an_impossible_period_is_refused(text: str, why: str) -> None:
    with pytest.raises(InputError) as refused:
        Period.parse(text)
    assert (refused.value.code, refused.value.message, refused.value.path) == (
        "BAD_PERIOD",
        why,
        "--period",
    )


def test_usage_of_a_closed_period_goes_to_the_first_open_one() -> None:
    routing = Routing.of({"2026-08", "2026-09"})
    assert routing.posted_to("2026-10") == ("2026-10", PostingKind.USAGE, None)
    assert routing.posted_to("2026-08") == ("2026-10", PostingKind.LATE_USAGE, "2026-08")
    frame = pl.DataFrame({"period": ["2026-08", "2026-10", "2026-11"]})
    assert frame.select(routing.posted_period())["posted_period"].to_list() == [
        "2026-10",
        "2026-10",
        "2026-11",
    ]
    assert Routing.of(()).posted_to("2026-08") == ("2026-08", PostingKind.USAGE, None)


def test_a_run_posts_one_sum_per_customer_period_and_unit() -> None:
    tally = UsageTally()
    # two chunks of one file: customer 7 has 3 calls in October and 1 in August (closed)
    tally.add(
        pl.DataFrame(
            {
                "customer_id": [7, 7],
                "period": ["2026-10", "2026-08"],
                "unit": ["s", "s"],
                "billed_quantity": [60_000, 30_000],
                "charge": [100_000, 50_000],
            }
        )
    )
    tally.add(
        pl.DataFrame(
            {
                "customer_id": [7, 7],
                "period": ["2026-10", "2026-10"],
                "unit": ["s", "s"],
                "billed_quantity": [120_000, 60_000],
                "charge": [200_000, 100_000],
            }
        )
    )
    routing = Routing.of({"2026-08", "2026-09"})
    postings = tally.postings(routing, source="oct.csv")
    assert [
        (p.period, p.kind, p.amount, p.quantity, p.records, p.source_period, p.memo)
        for p in postings
    ] == [
        ("2026-10", PostingKind.LATE_USAGE, 50_000, 30_000, 1, "2026-08", "usage (s) from oct.csv"),
        ("2026-10", PostingKind.USAGE, 400_000, 240_000, 3, None, "usage (s) from oct.csv"),
    ]


def test_a_re_rating_reverses_the_old_charges_and_posts_the_new() -> None:
    columns = ["customer_id", "posted_period", "unit", "billed_quantity", "charge"]
    old = pl.DataFrame([(7, "2026-10", "msg", 1000, 100_000)] * 2, schema=columns, orient="row")
    new = pl.DataFrame([(7, "2026-10", "msg", 1000, 50_000)] * 2, schema=columns, orient="row")
    postings = reposting(old, new, memo="re-rated")
    assert [(p.kind, p.amount, p.quantity, p.records, p.memo) for p in postings] == [
        (PostingKind.REVERSAL, -200_000, -2000, -2, "re-rated (msg)"),
        (PostingKind.USAGE, 100_000, 2000, 2, "re-rated (msg)"),
    ]


def test_a_run_balances_when_its_postings_equal_the_charges_it_moved() -> None:
    columns = ["customer_id", "posted_period", "billed_quantity", "charge"]
    written = pl.DataFrame(
        [(7, "2026-10", 60_000, 100_000), (7, "2026-10", 60_000, 30_000), (8, "2026-11", 1, 5)],
        schema=columns,
        orient="row",
    )
    superseded = pl.DataFrame([(7, "2026-10", 60_000, 40_000)], schema=columns, orient="row")
    moves = ChargeMoves()
    moves.add(written)
    moves.add(superseded, sign=-1)
    moves.add_rows([{"customer_id": 8, "posted_period": "2026-11", "charge": 10}])

    def posting(customer: int, period: str, kind: PostingKind, amount: int) -> Posting:
        return Posting(customer_id=customer, period=period, kind=kind, amount=amount)

    # customer 7: 100_000 + 30_000 - 40_000 = 90_000; customer 8: 5 + 10 = 15
    balanced = [
        posting(7, "2026-10", PostingKind.USAGE, 130_000),
        posting(7, "2026-10", PostingKind.REVERSAL, -40_000),
        posting(8, "2026-11", PostingKind.LATE_USAGE, 15),
        # not usage: a close's recurring fee is no charge's posting
        posting(8, "2026-11", PostingKind.RECURRING, 999),
    ]
    assert unbalanced(moves, balanced) == []
    # the reversal left out: customer 7's postings exceed its charges by the superseded one
    assert unbalanced(moves, balanced[:1] + balanced[2:]) == [((7, "2026-10"), 90_000, 130_000)]
    # a posting for a cycle the run wrote no charge of
    stray = posting(9, "2026-10", PostingKind.USAGE, 1)
    assert unbalanced(moves, [*balanced, stray]) == [((9, "2026-10"), 0, 1)]
