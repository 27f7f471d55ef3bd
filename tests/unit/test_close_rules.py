"""The rules of one customer's close, without a database: the lines and their wording, the
floor and the forced invoices, tax and the rounding remainder, and the postings a close adds.
Amounts are at AMOUNT_SCALE (6 places): RM1.00 is 1_000_000. Every expected value is worked
out by hand in the comments.
"""

from __future__ import annotations

import dataclasses
from datetime import date

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ratebook.billing.close import (
    Customer,
    Outcome,
    Policy,
    carry,
    close_customer,
    ledger_lines,
    recurring_line,
    usage_lines,
)
from ratebook.billing.compose import Line
from ratebook.billing.tax import TaxRate, Treatment
from ratebook.errors import ConflictError
from ratebook.model.ledger import POSTING_COLUMNS, Posting, PostingKind
from ratebook.money import RoundingMode

SST = {"*": TaxRate(category="*", treatment=Treatment.STANDARD, rate_ppm=80_000, label="SST")}
POLICY = Policy(
    floor=1_000_000,
    max_carry_cycles=None,
    fiscal_year_end_month=None,
    minor_places=2,
    mode=RoundingMode.HALF_UP,
    rates={},
)
ACME = Customer(id=7, account="ACME", closed=False, floor=None, streak_before=0)


def _ledger(*postings: Posting) -> pl.DataFrame:
    return pl.DataFrame(
        [{name: getattr(p, name) for name in POSTING_COLUMNS} for p in postings],
        schema=POSTING_COLUMNS,
    )


def _usage(amount: int) -> tuple[Line, Posting]:
    """A usage line of ``amount`` and the posting it was booked with."""
    line = Line(kind="usage", category="voice", description="Voice: Malaysia", amount=amount)
    return line, Posting(customer_id=7, period="2026-10", kind=PostingKind.USAGE, amount=amount)


def test_a_balance_under_the_floor_is_carried_by_category() -> None:
    # 0.40 of voice, and 0.05 brought forward from September: 0.45 < 1.00
    line, posting = _usage(400_000)
    forward = Posting(
        customer_id=7,
        period="2026-10",
        kind=PostingKind.BROUGHT_FORWARD,
        amount=50_000,
        category="voice",
        source_period="2026-09",
    )
    closed = close_customer(
        period="2026-10",
        customer=ACME,
        usage=[line],
        recurring=[],
        ledger=_ledger(posting, forward),
        policy=POLICY,
        invoice_number=1,
    )
    assert closed.decision.outcome is Outcome.CARRIED
    assert (closed.carried, closed.streak) == (450_000, 1)
    # one category: 0.45 leaves October and enters November
    assert [(p.period, p.kind, p.amount, p.category, p.source_period) for p in closed.postings] == [
        ("2026-10", PostingKind.CARRIED, -450_000, "voice", None),
        ("2026-11", PostingKind.BROUGHT_FORWARD, 450_000, "voice", "2026-10"),
    ]
    # the brought-forward posting is a line of its own, worded with where it came from
    assert [(x.kind, x.description, x.amount) for x in closed.composed.lines] == [
        ("usage", "Voice: Malaysia", 400_000),
        ("brought_forward", "Brought forward from 2026-09 (voice)", 50_000),
    ]


def test_crossing_the_floor_invoices_with_tax_and_carries_the_rounding() -> None:
    # 1.2345 of voice, SST 8%: tax 0.098760 rounds to 0.10 (per tax line, to the sen); the
    # exact total 1.3345 rounds half-up to 1.33, leaving 0.0045 carried as rounding
    line, posting = _usage(1_234_500)
    policy = dataclasses.replace(POLICY, rates=SST)
    closed = close_customer(
        period="2026-10",
        customer=ACME,
        usage=[line],
        recurring=[],
        ledger=_ledger(posting),
        policy=policy,
        invoice_number=12,
    )
    totals = closed.composed.totals
    assert closed.decision.outcome is Outcome.INVOICED
    assert closed.decision.reason == "floor"
    assert (totals.net, totals.tax, totals.exact, totals.total, totals.rounding) == (
        1_234_500,
        100_000,
        1_334_500,
        1_330_000,
        4_500,
    )
    assert [(p.period, p.kind, p.amount, p.category, p.memo) for p in closed.postings] == [
        ("2026-10", PostingKind.TAX, 100_000, "tax", "tax, invoice 12"),
        ("2026-10", PostingKind.CARRIED, -4_500, "rounding", "invoice 12 rounding"),
        ("2026-11", PostingKind.BROUGHT_FORWARD, 4_500, "rounding", "brought forward from 2026-10"),
    ]
    assert (closed.carried, closed.streak) == (4_500, 0)


@pytest.mark.parametrize(
    ("customer", "policy_change", "reason"),
    [
        (Customer(id=7, account="ACME", closed=True, floor=None, streak_before=0), {}, "closure"),
        (
            Customer(id=7, account="ACME", closed=False, floor=None, streak_before=3),
            {"max_carry_cycles": 3},
            "max_cycles",
        ),
        (ACME, {"fiscal_year_end_month": 10}, "fiscal_year_end"),
    ],
)
def test_a_forced_invoice_goes_out_under_the_floor(
    customer: Customer, policy_change: dict[str, int], reason: str
) -> None:
    line, posting = _usage(300_000)  # 0.30, under the floor
    policy = dataclasses.replace(
        POLICY,
        max_carry_cycles=policy_change.get("max_carry_cycles"),
        fiscal_year_end_month=policy_change.get("fiscal_year_end_month"),
    )
    closed = close_customer(
        period="2026-10",
        customer=customer,
        usage=[line],
        recurring=[],
        ledger=_ledger(posting),
        policy=policy,
        invoice_number=1,
    )
    assert (closed.decision.outcome, closed.decision.reason) == (Outcome.INVOICED, reason)
    assert closed.composed.totals.total == 300_000


def test_a_customer_floor_replaces_the_entity_floor() -> None:
    line, posting = _usage(300_000)
    low = Customer(id=7, account="ACME", closed=False, floor=200_000, streak_before=0)
    closed = close_customer(
        period="2026-10",
        customer=low,
        usage=[line],
        recurring=[],
        ledger=_ledger(posting),
        policy=POLICY,
        invoice_number=1,
    )
    assert closed.decision.outcome is Outcome.INVOICED


def test_a_zero_balance_is_neither_invoiced_nor_counted_as_carried() -> None:
    closed = close_customer(
        period="2026-10",
        customer=Customer(id=7, account="ACME", closed=True, floor=None, streak_before=2),
        usage=[],
        recurring=[],
        ledger=_ledger(Posting(customer_id=7, period="2026-10", kind=PostingKind.USAGE, amount=0)),
        policy=POLICY,
        invoice_number=1,
    )
    assert closed.decision.outcome is Outcome.CARRIED
    assert (closed.postings, closed.carried, closed.streak) == ([], 0, 0)


def test_usage_lines_that_differ_from_the_postings_are_refused() -> None:
    line, _ = _usage(400_000)
    posted = Posting(customer_id=7, period="2026-10", kind=PostingKind.USAGE, amount=300_000)
    with pytest.raises(ConflictError) as refused:
        close_customer(
            period="2026-10",
            customer=ACME,
            usage=[line],
            recurring=[],
            ledger=_ledger(posted),
            policy=POLICY,
            invoice_number=1,
        )
    assert refused.value.code == "LEDGER_UNBALANCED"
    assert (
        "customer ACME, cycle 2026-10: the charges it bills (0.40) differ from its usage"
        " postings (0.30)"
    ) in refused.value.message


def test_charges_group_into_usage_and_late_usage_lines() -> None:
    charges = pl.DataFrame(
        {
            "customer_id": [7, 7, 7, 8],
            "period": ["2026-10", "2026-10", "2026-09", "2026-10"],
            "service": ["voice"] * 4,
            "unit": ["s"] * 4,
            "destination": ["Malaysia", "Malaysia", "Malaysia", None],
            "band": ["peak", "peak", "*", "*"],
            "unit_price": [100_000_000] * 4,
            "rate_unit": [60_000] * 4,
            "billed_quantity": [60_000, 120_000, 60_000, 60_000],
            "charge": [100_000, 200_000, 100_000, 100_000],
        }
    )
    current = usage_lines(charges.filter(pl.col("period") == "2026-10"), "usage")
    # ACME's two peak calls make one line of 180 s; customer 8's line has no destination
    assert [(x.description, x.quantity, x.amount, x.records) for x in current[7]] == [
        ("Voice: Malaysia (peak)", 180_000, 300_000, 2)
    ]
    assert [x.description for x in current[8]] == ["Voice"]
    late = usage_lines(charges.filter(pl.col("period") == "2026-09"), "late_usage")
    assert [(x.description, x.source_period) for x in late[7]] == [
        ("Late usage of 2026-09: Voice: Malaysia", "2026-09")
    ]


def test_a_recurring_line_says_its_interval_and_proration() -> None:
    whole = recurring_line(
        interval_id=1,
        plan="Trunk",
        category="recurring",
        amount=20_000_000,
        first=date(2026, 10, 1),
        last=date(2026, 10, 31),
        days=31,
        interval_days=31,
    )
    part = recurring_line(
        interval_id=2,
        plan="Trunk",
        category="recurring",
        amount=10_322_581,
        first=date(2026, 10, 16),
        last=date(2026, 10, 31),
        days=16,
        interval_days=31,
    )
    assert whole.description == "Trunk, 01 Oct 2026 to 31 Oct 2026"
    assert part.description == "Trunk, 16 Oct 2026 to 31 Oct 2026 (16 of 31 days)"
    assert part.key == ("recurring", 2)


def test_other_postings_become_lines_as_they_are() -> None:
    credit = Posting(
        customer_id=7,
        period="2026-10",
        kind=PostingKind.CREDIT,
        amount=-100_000,
        category="voice",
        memo="Credit for dispute 1: never dialled",
    )
    lines = ledger_lines(_ledger(*_usage(1)[1:], credit))
    assert [(x.kind, x.category, x.description, x.amount) for x in lines] == [
        ("credit", "voice", "Credit for dispute 1: never dialled", -100_000)
    ]


@given(
    amount=st.integers(min_value=-(10**12), max_value=10**12),
    category=st.sampled_from(["voice", "sms", "rounding", "recurring"]),
)
def test_what_is_carried_out_is_brought_in(amount: int, category: str) -> None:
    postings = carry(7, "2026-12", category, amount, memo="carried")
    assert sum(p.amount for p in postings) == 0
    if amount:
        assert [(p.period, p.kind) for p in postings] == [
            ("2026-12", PostingKind.CARRIED),
            ("2027-01", PostingKind.BROUGHT_FORWARD),
        ]
    else:
        assert postings == []
