"""Rate steps within one record: a carrier's price that changes after the first seconds of
a call (CGRateS's rate intervals), each step with its own increment.

A stepped row's own price and increments are its first step; its stored ``steps`` (JSON
``[{"from": q, "price": p, "increment": i}, ...]``, ``from`` strictly rising, in the row's
base unit at QUANTITY_SCALE) are the ones after it. Of a record's billable quantity (after its
row's included quantity), the part before the first ``from`` is billed by the row's
increments (``initial``/``subsequent``), and each later step's part in whole increments of
its own; each billed part at its step's price. The record's billed quantity is the sum of the
billed parts. A row has steps or tiers, never both.
"""

from __future__ import annotations

import json

import polars as pl

#: How steps decode from their JSON.
STEPS = pl.List(pl.Struct({"from": pl.Int64, "price": pl.Int64, "increment": pl.Int64}))


def decode(text: str | None) -> tuple[tuple[int, int, int], ...] | None:
    """A row's stored steps as ``(from, price, increment)`` (None for an unstepped row)."""
    if not text:
        return None
    return tuple((int(s["from"]), int(s["price"]), int(s["increment"])) for s in json.loads(text))


def first_billed(part: int, initial: int, subsequent: int) -> int:
    """A part billed by a row's increments (``initial``, then whole ``subsequent``)."""
    if part <= 0:
        return 0
    if part <= initial:
        return initial
    return initial + -(-(part - initial) // subsequent) * subsequent


def stepped(
    billable: int,
    *,
    price: int,
    initial: int,
    subsequent: int,
    steps: tuple[tuple[int, int, int], ...],
) -> list[tuple[int, int, int]]:
    """A record's parts on a stepped row: ``(quantity in the step, billed, price)``, one per
    step it reaches, in order."""
    bounds = [0, *(s[0] for s in steps)]
    parts = []
    for k, low in enumerate(bounds):
        high = bounds[k + 1] if k + 1 < len(bounds) else None
        part = max(min(billable, billable if high is None else high) - low, 0)
        if part <= 0:
            break
        if k == 0:
            billed = first_billed(part, initial, subsequent)
            parts.append((part, billed, price))
        else:
            _, step_price, increment = steps[k - 1]
            parts.append((part, -(-part // increment) * increment, step_price))
    return parts


def step_columns(rows: pl.DataFrame, used: pl.Series) -> tuple[pl.DataFrame, int]:
    """The steps of the stepped rows among ``used`` (rate row ids) side by side:
    ``rate_row_id`` and ``_sf{k}``, ``_sp{k}``, ``_si{k}`` (from, price, increment) for each
    step ``k`` from 1 of the longest list (null past a row's own), and that length."""
    stepped_rows = rows.filter(
        pl.col("steps").is_not_null() & pl.col("rate_row_id").is_in(used.unique().implode())
    ).select("rate_row_id", pl.col("steps").str.json_decode(STEPS))
    if stepped_rows.is_empty():
        return stepped_rows.select("rate_row_id"), 0
    depth = int(stepped_rows.select(pl.col("steps").list.len().max()).item() or 0)
    steps = pl.col("steps")
    return (
        stepped_rows.select(
            "rate_row_id",
            *[
                steps.list.get(k - 1, null_on_oob=True).struct.field(name).alias(f"_{short}{k}")
                for k in range(1, depth + 1)
                for name, short in (("from", "sf"), ("price", "sp"), ("increment", "si"))
            ],
        ),
        depth,
    )


def stepped_exprs(
    depth: int, billable: pl.Expr, price: pl.Expr, initial: pl.Expr, subsequent: pl.Expr
) -> tuple[pl.Expr, pl.Expr]:
    """``(billed quantity, usage)`` of records joined to ``step_columns`` of that depth, for
    a positive ``billable`` (usage: billed x price at QUANTITY_SCALE x PRICE_SCALE, Int128);
    a row without steps bills all of it by its increments, as an unstepped row does."""
    first_end = pl.col("_sf1") if depth else pl.lit(None, pl.Int64)
    part0 = pl.min_horizontal(billable, first_end.fill_null(billable))
    billed0 = (
        pl.when(part0 <= 0)
        .then(pl.lit(0, pl.Int64))
        .when(part0 <= initial)
        .then(initial)
        .otherwise(initial + (part0 - initial + subsequent - 1) // subsequent * subsequent)
    )
    billed_parts = [billed0]
    usage_parts = [billed0.cast(pl.Int128) * price.cast(pl.Int128)]
    for k in range(1, depth + 1):
        low = pl.col(f"_sf{k}")
        high = pl.col(f"_sf{k + 1}") if k < depth else pl.lit(None, pl.Int64)
        part = pl.max_horizontal(pl.min_horizontal(billable, high.fill_null(billable)) - low, 0)
        increment = pl.col(f"_si{k}")
        billed = (
            pl.when(low.is_null())
            .then(0)
            .otherwise((part + increment - 1) // increment * increment)
        )
        billed_parts.append(billed)
        usage_parts.append(billed.cast(pl.Int128) * pl.col(f"_sp{k}").fill_null(0).cast(pl.Int128))
    return pl.sum_horizontal(billed_parts), pl.sum_horizontal(usage_parts)
