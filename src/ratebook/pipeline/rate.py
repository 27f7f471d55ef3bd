"""Stage 5: price each matched record with the rate table in force, exactly.

For each record: the customer's override table, then base table, in force at the start time
(an override row wins wherever the override table has a row for the record); the table's
version in force then (the latest ``effective_from`` at or before it); the rate row of the
record's service whose destination prefix is the longest match (``*`` matches any). The
billed quantity and charge are worked out by ``pipeline.charges``; a row with tiers is priced
by ``pipeline.tiers`` at the record's place in its customer's cycle.

Policy limits are checked on the record alone, so that whether a record is billed never
depends on other records: its quantity, its row's price, and its charge at the row's own
(first-tier) price.

A chargeable record with no table, version or row is a ``NO_RATE`` rejection.
All arithmetic is integer (Int128 for the products): see ``ratebook.money`` for the scales.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import polars as pl

from ratebook.model.parties import IDENTIFIER_SCHEMA
from ratebook.model.rejections import Code, no_rejections, reject_where
from ratebook.model.tariffs import destination_key_expr, time_bands
from ratebook.model.usage import CHARGED_DISPOSITIONS
from ratebook.money import AMOUNT_SCALE, PRICE_SCALE, QUANTITY_SCALE, RoundingMode, format_fixed
from ratebook.pipeline.charges import billed_quantity_expr, charge_expr
from ratebook.pipeline.compiled import RatingState, compile_reference
from ratebook.pipeline.scalar import split_charge
from ratebook.pipeline.steps import step_columns, stepped_exprs
from ratebook.pipeline.tiers import price_in_cycle

#: Columns a rated record gains.
RATING_COLUMNS = (
    "rate_table_id",
    "version_id",
    "rate_row_id",
    "prefix",
    "band",
    "destination_name",
    "billed_quantity",
    "unit_price",
    "rate_unit",
    "connect_fee",
    "discount_ppm",
    "charge",
    "rounding_mode",
    "rounding_places",
    "usage_before",  # the customer-cycle's usage of the service before this record
    "tier",  # tiered rows: the tier the record starts in (volume: the tier reached)
    "tier_split",  # graduated rows: JSON parts [{tier, quantity, price}, ...]
)


def _bands(records: pl.DataFrame, versions: pl.DataFrame) -> pl.Series:
    """The band each record (with ``version_id``) falls in, by its version's time bands.

    One lazy pass for every version: a band expression uses the local time several times, and
    only a lazy plan computes it once (common subexpressions)."""
    if records.is_empty():
        return pl.Series("band", [], dtype=pl.String)
    low, high = records.select(
        pl.col("start_time").dt.year().min().alias("low"),
        pl.col("start_time").dt.year().max().alias("high"),
    ).row(0)
    years = range(int(low) - 1, int(high) + 2)
    used = set(records["version_id"].drop_nulls().unique().to_list())
    band: pl.Expr = pl.lit(None, pl.String)
    for version_id, zone, spec in versions.select("version_id", "timezone", "spec").iter_rows():
        if version_id not in used:
            continue
        bands = time_bands(json.loads(spec or "{}"), zone)
        band = (
            pl.when(pl.col("version_id") == version_id)
            .then(bands.classify(pl.col("start_time"), years))
            .otherwise(band)
        )
    # beside a column, so that a lone literal (no version in use) still has every row
    return records.lazy().select("version_id", band.alias("band")).collect()["band"]


def _longest_prefix(records: pl.DataFrame, rows: pl.DataFrame) -> pl.DataFrame:
    """For each record (with ``version_id`` and ``record_band``), the rate row of its service
    and unit whose prefix matches longest; at equal length a row for the record's band beats
    one for every band (``*``).

    One function: the joins by prefix length are one lazy plan."""
    digits = destination_key_expr(pl.col("destination"))
    keys = records.select(
        "row_idx", "version_id", "service", "unit", "record_band", digits.alias("_digits")
    )
    if keys.height * _MAX_DIGITS < rows.height:
        # a few records against a large deck (a pushed event): only the rows whose prefix
        # begins one of the records' numbers, or is "*", can match
        starts = (
            keys.select("_digits")
            .drop_nulls()
            .with_columns(pl.int_ranges(1, pl.col("_digits").str.len_chars() + 1).alias("_n"))
            .explode("_n")
            .select(pl.col("_digits").str.slice(0, pl.col("_n")).alias("_start"))["_start"]
        )
        rows = rows.filter(
            (pl.col("prefix") == "*") | pl.col("prefix").is_in(starts.unique().implode())
        )
    with_len = rows.with_columns(
        pl.when(pl.col("prefix") == "*")
        .then(pl.lit(0))
        .otherwise(pl.col("prefix").str.len_chars())
        .alias("_len")
    )
    found: list[pl.DataFrame] = []
    by_length = {key[0]: part for key, part in with_len.partition_by("_len", as_dict=True).items()}
    # longest first: a record matched at one length is not probed at the shorter ones
    for length in sorted(by_length, reverse=True):
        if keys.is_empty():
            break
        of_length = by_length[length]
        key = pl.lit("*") if length == 0 else pl.col("_digits").str.slice(0, length)
        probe = keys if length == 0 else keys.filter(pl.col("_digits").str.len_chars() >= length)
        probe = probe.with_columns(key.alias("_key"))
        # a version has one row per service, prefix and band, so each join below finds at
        # most one row per record: first one for the record's own band, which beats one for
        # every band ("*"), then, for the records without, one for every band
        on = ["version_id", "service", "unit", "_key"]
        rows_on = ["version_id", "service", "unit", "prefix"]
        best = probe.join(
            of_length.filter(pl.col("band") != "*"),
            left_on=[*on, "record_band"],
            right_on=[*rows_on, "band"],
            how="inner",
        ).select("row_idx", "rate_row_id", pl.col("_key").alias("prefix"))
        every_band = of_length.filter(pl.col("band") == "*")
        if not every_band.is_empty():
            rest = probe.join(best.select("row_idx"), on="row_idx", how="anti")
            best = pl.concat(
                [
                    best,
                    rest.join(every_band, left_on=on, right_on=rows_on, how="inner").select(
                        "row_idx", "rate_row_id", pl.col("_key").alias("prefix")
                    ),
                ]
            )
        if best.is_empty():
            continue
        found.append(best)
        keys = keys.join(best.select("row_idx"), on="row_idx", how="anti")
    if not found:
        return pl.DataFrame(
            schema={"row_idx": pl.Int64, "rate_row_id": pl.Int64, "prefix": pl.String}
        )
    return pl.concat(found).sort("row_idx")


#: The most digits an E.164 number has after its ``+``.
_MAX_DIGITS = 22  # a short code's key: "short:", 15 characters and "$"

#: What choosing a rate gives each record.
_CHOICE = (
    "rate_table_id",
    "version_id",
    "rounding_mode",
    "rounding_places",
    "record_band",
    "rate_row_id",
    "prefix",
)


def _assigned(keys: pl.DataFrame, assignments: pl.DataFrame) -> pl.DataFrame:
    """``keys`` plus the ``rate_table_id`` and ``discount_ppm`` of the assignment in force at
    each record's start (the latest ``valid_from`` first), null where none is."""
    valid = (pl.col("valid_from").is_null() | (pl.col("valid_from") <= pl.col("start_time"))) & (
        pl.col("valid_to").is_null() | (pl.col("start_time") < pl.col("valid_to"))
    )
    if assignments["customer_id"].is_unique().all():
        # one assignment a customer (the usual case): in force or not, no choice to make
        return keys.join(
            assignments.select(
                "customer_id", "rate_table_id", "discount_ppm", "valid_from", "valid_to"
            ),
            on="customer_id",
            how="left",
            maintain_order="left",
        ).select(
            *keys.columns,
            *(
                pl.when(valid).then(pl.col(name)).alias(name)
                for name in ("rate_table_id", "discount_ppm")
            ),
        )
    chosen = (
        keys.select("row_idx", "customer_id", "start_time")
        .join(assignments, on="customer_id", how="inner")
        .filter(valid)
        .sort(["row_idx", "valid_from"], descending=[False, True], nulls_last=True)
        .unique("row_idx", keep="first")
        .select("row_idx", "rate_table_id", "discount_ppm")
    )
    return keys.join(chosen, on="row_idx", how="left", maintain_order="left")


#: What the version in force gives a record.
_VERSION_COLUMNS = ("version_id", "rounding_mode", "rounding_places")


def _in_force(with_table: pl.DataFrame, versions: pl.DataFrame) -> pl.DataFrame:
    """``with_table`` plus the version of its ``rate_table_id`` in force at each record's start
    (the latest ``effective_from`` at or before it), null where none is."""
    used = versions.join(
        with_table.select(pl.col("rate_table_id").drop_nulls().unique()), on="rate_table_id"
    )
    if used["rate_table_id"].is_unique().all():
        # one version a table: it is in force from its effective_from on
        return with_table.join(
            used.select("rate_table_id", "effective_from", *_VERSION_COLUMNS),
            on="rate_table_id",
            how="left",
            maintain_order="left",
        ).select(
            *with_table.columns,
            *(
                pl.when(pl.col("effective_from") <= pl.col("start_time"))
                .then(pl.col(name))
                .alias(name)
                for name in _VERSION_COLUMNS
            ),
        )
    in_force = (
        with_table.filter(pl.col("rate_table_id").is_not_null())
        .select("row_idx", "rate_table_id", "start_time")
        .sort("start_time")
        .join_asof(
            used.sort("effective_from"),
            left_on="start_time",
            right_on="effective_from",
            by="rate_table_id",
            strategy="backward",
            check_sortedness=False,  # sorted just above; Polars cannot check within groups
        )
        .select("row_idx", *_VERSION_COLUMNS)
    )
    return with_table.join(in_force, on="row_idx", how="left", maintain_order="left")


def _choose(
    records: pl.DataFrame,
    assignments: pl.DataFrame,
    versions: pl.DataFrame,
    rows: pl.DataFrame,
) -> pl.DataFrame:
    """For each record: the assignment in force (latest ``valid_from`` first), its table's
    version in force, the record's band in it, and the best row (null where none)."""
    keys = records.select("row_idx", "customer_id", "start_time", "service", "unit", "destination")
    with_version = _in_force(_assigned(keys, assignments), versions)
    with_version = with_version.with_columns(_bands(with_version, versions).alias("record_band"))
    best = _longest_prefix(with_version.filter(pl.col("version_id").is_not_null()), rows)
    return with_version.join(best, on="row_idx", how="left", maintain_order="left").select(
        "row_idx", *_CHOICE, "discount_ppm"
    )


def rate(
    records: pl.DataFrame,
    *,
    assignments: pl.DataFrame,
    versions: pl.DataFrame,
    rows: pl.DataFrame,
    zone: str,
    before: pl.DataFrame | None = None,
    enforce_policy: bool = True,
    place_tiers: bool = True,
    state: Callable[[], RatingState] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Price matched records (``customer_id`` set); ``zone`` dates the rejection messages.

    ``enforce_policy=False`` prices records beyond their table's policy limits instead of
    rejecting them (a clerk accepting an ``OUT_OF_POLICY`` record as it is).

    ``before`` gives each customer-cycle's usage ahead of these records (``tiers.place``);
    without it the records are taken as the first of their cycles. Records need an
    ``origin`` column for their order in the cycle (the empty origin if absent).
    ``place_tiers=False`` leaves tiered records at their first tier's price, for a caller
    that places them itself (``intake.place``), so tiers are not priced twice.
    ``state`` gives the compiled form of the same reference data (a caller that keeps one),
    which prices the calls of ``split_bands`` versions; without it, it is compiled when such
    a call is met.

    Returns:
        ``(rated, rejections)``: ``rated`` is ``records`` plus ``RATING_COLUMNS``.

    One function: the stages are one lazy plan, and splitting it would cut the plan.
    """
    charged = (pl.col("quantity") > 0) & (
        pl.col("disposition").is_null() | pl.col("disposition").is_in(sorted(CHARGED_DISPOSITIONS))
    )
    base = records.with_columns(charged.alias("_charged"))

    chosen = _choose(base, assignments.filter(pl.col("role") == "base"), versions, rows)
    overrides = assignments.filter(pl.col("role") == "override")
    if not overrides.is_empty():
        # an override table's row wins wherever it matches; the base table prices the rest
        mine = _choose(base, overrides, versions, rows).drop("discount_ppm")
        chosen = chosen.join(
            mine, on="row_idx", how="left", suffix="_override", maintain_order="left"
        )
        hit = pl.col("rate_row_id_override").is_not_null()
        chosen = chosen.with_columns(
            pl.when(hit).then(pl.col(f"{c}_override")).otherwise(pl.col(c)).alias(c)
            for c in _CHOICE
        ).select("row_idx", *_CHOICE, "discount_ppm")
    priced = base.join(chosen, on="row_idx", how="left", maintain_order="left").join(
        rows.drop("version_id", "service", "prefix", "unit"),
        on="rate_row_id",
        how="left",
        maintain_order="left",
    )

    day = pl.col("start_time").dt.convert_time_zone(zone).dt.strftime("%Y-%m-%d")
    no_rate_reason = (
        pl.when(pl.col("rate_table_id").is_null())
        .then(
            pl.lit("customer ")
            + pl.col("customer_account")
            + pl.lit(" has no rate table on ")
            + day
        )
        .when(pl.col("version_id").is_null())
        .then(pl.lit("the customer's rate table has no version in force on ") + day)
        .otherwise(
            pl.lit("no ")
            + pl.col("service")
            + pl.lit(" rate for destination ")
            + pl.col("destination").fill_null("(none)")
            + pl.lit(" on ")
            + day
        )
    )
    kept, rejected = reject_where(
        priced,
        pl.col("_charged") & pl.col("rate_row_id").is_null(),
        code=Code.NO_RATE,
        reason=no_rate_reason,
        field="destination",
    )
    on_row = pl.col("rate_row_id").is_not_null()
    # a record shorter than its row's grace is free: nothing billed, nothing charged
    billable = pl.col("_charged") & ~(
        pl.col("grace").is_not_null() & (pl.col("quantity") < pl.col("grace"))
    ).fill_null(False)
    # a row's own rounding, where it has one, replaces its version's
    own = pl.col("row_rounding_mode").is_not_null() & pl.col("row_rounding_places").is_not_null()
    roundings = {
        *versions.select("rounding_places", "rounding_mode").unique().rows(),
        *rows.select("row_rounding_places", "row_rounding_mode").drop_nulls().unique().rows(),
    }
    steps, depth = step_columns(rows, kept["rate_row_id"])
    if depth:
        kept = kept.join(steps, on="rate_row_id", how="left", maintain_order="left")
    billed, usage = _billed_and_usage(depth)
    # lazy: the charge's numerator and its rounding terms recur in every branch, and only a
    # lazy plan computes a repeated expression once
    rated = (
        kept.lazy()
        .with_columns(
            billable.alias("_charged"),
            pl.when(own)
            .then(pl.col("row_rounding_mode"))
            .otherwise(pl.col("rounding_mode"))
            .alias("rounding_mode"),
            pl.when(own)
            .then(pl.col("row_rounding_places"))
            .otherwise(pl.col("rounding_places"))
            .alias("rounding_places"),
        )
        .with_columns(
            pl.when(on_row).then(pl.col("record_band")).otherwise(None).alias("band"),
            billed.alias("billed_quantity"),
        )
        .with_columns(
            charge_expr(
                usage,
                rate_unit=pl.col("rate_unit"),
                connect_fee=pl.col("connect_fee"),
                minimum=pl.col("minimum_charge"),
                # a record its included quantity covers bills nothing, but is charged: its
                # connect fee (raised to the minimum), as ASTPP bills it
                charged=pl.col("_charged"),
                places=pl.col("rounding_places"),
                mode=pl.col("rounding_mode"),
                discount_ppm=pl.col("discount_ppm").fill_null(0),
                max_cost=pl.col("max_cost"),
                roundings=roundings,
            ).alias("charge"),
            pl.col("price").fill_null(0).alias("unit_price"),
            pl.col("rate_unit").fill_null(60 * 10**QUANTITY_SCALE),
            pl.col("connect_fee").fill_null(0),
            pl.col("discount_ppm").fill_null(0),
            pl.col("rounding_mode").fill_null(RoundingMode.HALF_UP.value),
            pl.col("rounding_places").fill_null(0),
            pl.lit(None, pl.Int64).alias("usage_before"),
            pl.lit(None, pl.Int64).alias("tier"),
            pl.lit(None, pl.String).alias("tier_split"),
        )
        .select([*records.columns, *RATING_COLUMNS])
        .collect()
    )
    rated = _split_calls(rated, assignments, versions, rows, state)
    rated, breaches = (
        _enforce_policy(rated, versions) if enforce_policy else (rated, rejected.clear())
    )
    if "origin" not in rated.columns:
        rated = rated.with_columns(pl.lit("").alias("origin"))
    if place_tiers:
        rated = price_in_cycle(rated, rows, before)
    return rated.select([*records.columns, *RATING_COLUMNS]), pl.concat([rejected, breaches])


def _split_calls(
    rated: pl.DataFrame,
    assignments: pl.DataFrame,
    versions: pl.DataFrame,
    rows: pl.DataFrame,
    state_of: Callable[[], RatingState] | None,
) -> pl.DataFrame:
    """``rated`` with the charge of each billed call of a ``split_bands`` version priced part
    by part (``pipeline.band_split``), one call at a time by the scalar path's own rule:
    only such calls pay for it, and the two paths agree by construction."""
    split = versions.filter(
        pl.col("spec").str.json_path_match("$.split_bands").fill_null("false") == "true"
    )["version_id"]
    if split.is_empty():
        return rated
    target = pl.col("version_id").is_in(split.implode()) & (pl.col("billed_quantity") > 0)
    calls = rated.with_row_index("_at").filter(target)
    if calls.is_empty():
        return rated
    if state_of is not None:
        state = state_of()
    else:
        from ratebook.pipeline.price import Reference  # price imports this module

        state = compile_reference(
            Reference(
                identifiers=pl.DataFrame(schema=IDENTIFIER_SCHEMA),
                assignments=assignments,
                versions=versions,
                rows=rows,
            )
        )
    charge = rated["charge"].clone()
    charge.scatter(
        calls["_at"],
        pl.Series([split_charge(state, call) for call in calls.iter_rows(named=True)]),
    )
    return rated.with_columns(charge)


def _billed_and_usage(depth: int) -> tuple[pl.Expr, pl.Expr]:
    """The billed quantity and usage (billed x price) of the rated records: by the rows'
    increments when none is on a stepped row (``depth`` 0), else by the steps
    (``pipeline.steps``) of the ``step_columns`` the records are joined to."""
    if not depth:
        billed = billed_quantity_expr(
            pl.col("quantity"),
            pl.col("increment_initial"),
            pl.col("increment_subsequent"),
            pl.col("_charged"),
            pl.col("included"),
        )
        return billed, pl.col("billed_quantity").cast(pl.Int128) * pl.col("price").cast(pl.Int128)
    billable = pl.col("quantity") - pl.col("included").fill_null(0)
    billed, usage = stepped_exprs(
        depth,
        billable,
        pl.col("price"),
        pl.col("increment_initial"),
        pl.col("increment_subsequent"),
    )
    none = ~pl.col("_charged") | (billable <= 0) | pl.col("rate_row_id").is_null()
    return (
        pl.when(none).then(pl.lit(0, pl.Int64)).otherwise(billed),
        pl.when(none).then(pl.lit(0, pl.Int128)).otherwise(usage),
    )


def _policies(versions: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(per version: max_charge, max_price), (per version and service: max_quantity)."""
    limits: list[dict[str, Any]] = []
    quantities: list[dict[str, Any]] = []
    for version_id, spec_text in versions.select("version_id", "spec").iter_rows():
        policy = json.loads(spec_text or "{}").get("policy") or {}
        limits.append(
            {
                "version_id": version_id,
                "max_charge": policy.get("max_charge"),
                "max_price": policy.get("max_price"),
            }
        )
        for service, amount in (policy.get("max_quantity") or {}).items():
            quantities.append(
                {"version_id": version_id, "service": service, "max_quantity": amount}
            )
    return (
        pl.DataFrame(
            limits, schema={"version_id": pl.Int64, "max_charge": pl.Int64, "max_price": pl.Int64}
        ),
        pl.DataFrame(
            quantities,
            schema={"version_id": pl.Int64, "service": pl.String, "max_quantity": pl.Int64},
        ),
    )


def _fixed_text(column: str, scale: int) -> pl.Expr:
    """Exact decimal text of a fixed-scale integer column (for messages)."""

    def render(values: pl.Series) -> pl.Series:
        return pl.Series(
            [None if v is None else format_fixed(v, scale) for v in values], dtype=pl.String
        )

    return pl.col(column).map_batches(render, return_dtype=pl.String)


def _enforce_policy(
    rated: pl.DataFrame, versions: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Move records beyond their version's policy limits to ``OUT_OF_POLICY`` rejections."""
    limits, quantities = _policies(versions)
    if (
        quantities.is_empty()
        and limits["max_charge"].is_null().all()
        and limits["max_price"].is_null().all()
    ):
        return rated, no_rejections()  # no version sets a limit
    checked = rated.join(limits, on="version_id", how="left", maintain_order="left").join(
        quantities, on=["version_id", "service"], how="left", maintain_order="left"
    )
    rules = [
        (
            "quantity",
            pl.col("quantity") > pl.col("max_quantity"),
            pl.lit("quantity ")
            + _fixed_text("quantity", QUANTITY_SCALE)
            + pl.lit(" ")
            + pl.col("unit")
            + pl.lit(" is over the rate table's max_quantity of ")
            + _fixed_text("max_quantity", QUANTITY_SCALE)
            + pl.lit(" ")
            + pl.col("unit"),
        ),
        (
            "charge",
            pl.col("charge") > pl.col("max_charge"),
            pl.lit("charge ")
            + _fixed_text("charge", AMOUNT_SCALE)
            + pl.lit(" is over the rate table's max_charge of ")
            + _fixed_text("max_charge", AMOUNT_SCALE),
        ),
        (
            "price",
            pl.col("unit_price") > pl.col("max_price"),
            pl.lit("price ")
            + _fixed_text("unit_price", PRICE_SCALE)
            + pl.lit(" is over the rate table's max_price of ")
            + _fixed_text("max_price", PRICE_SCALE),
        ),
    ]
    found: list[pl.DataFrame] = []
    for field, condition, reason in rules:
        checked, hit = reject_where(
            checked, condition.fill_null(False), code=Code.OUT_OF_POLICY, reason=reason, field=field
        )
        found.append(hit)
    return checked.select(rated.columns), pl.concat(found)
