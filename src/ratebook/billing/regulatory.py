"""A regulatory usage report, computed: each charge's dimensions (service, direction,
destination category, country, customer segment, jurisdiction), its measures summed per group
and unit, credits, tax, weights, and the reconciliation with the ledger.

Pure: the charges come in from the store already summed in groups (the database's
``GROUP BY``), as Polars frames; each frame is reduced to the profile's groups at once
(``grouped_partial``), so memory holds groups, never the month. Money stays in
integers: amounts at AMOUNT_SCALE, and products with a rate or weight (parts per million)
at ``WIDE_SCALE``, exact (``docs/reports.md``).
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import polars_hash as plh

from ratebook.billing.tax import TaxRate, Treatment
from ratebook.model.regulatory import DEFAULT_TYPES, Profile
from ratebook.money import AMOUNT_SCALE, QUANTITY_SCALE, format_fixed, parse_fixed
from ratebook.pipeline.destinations import describe

#: The scale of an amount times a rate or weight in parts per million: exact.
WIDE_SCALE = AMOUNT_SCALE + 6

#: The summed measures of a group, in column order.
MEASURES = ("records", "answered", "quantity", "billed_quantity", "gross", "credits")

#: The words feeds use for a direction, read case-blind; anything else (or none) is outbound.
_INBOUND = ("in", "inbound", "incoming", "terminating", "terminated", "mt")
_ON_NET = ("on_net", "on-net", "onnet", "internal", "local_onnet")
_TRUE = ("1", "true", "yes", "y")


@dataclass(frozen=True, slots=True, kw_only=True)
class Context:
    """What the dimensions of a row depend on besides the row.

    Attributes:
        profile: the report's profile.
        home_region: the entity's region: numbers of it are domestic.
        on_net: the numbers the entity's customers hold.
        tax_rates: the entity's tax rates by category (a usage charge's category is its
            service).
    """

    profile: Profile
    home_region: str
    on_net: Sequence[str] = ()
    tax_rates: Mapping[str, TaxRate] = field(default_factory=dict)

    def tax_ppm(self) -> pl.Expr:
        """A row's tax rate in parts per million, by its ``service`` (0 where untaxed)."""

        def ppm(rate: TaxRate) -> int:
            return rate.rate_ppm if rate.treatment is Treatment.STANDARD else 0

        # a service without a rate of its own takes '*', or is outside the scope of tax
        fallback = ppm(self.tax_rates["*"]) if "*" in self.tax_rates else 0
        chain: pl.Expr = pl.lit(fallback, pl.Int64)
        for category, rate in sorted(self.tax_rates.items()):
            if category != "*":
                chain = (
                    pl.when(pl.col("service") == category)
                    .then(pl.lit(ppm(rate), pl.Int64))
                    .otherwise(chain)
                )
        return chain.alias("tax_ppm")

    @property
    def keys(self) -> list[str]:
        """The group's columns: the profile's dimensions, then the unit."""
        return [*self.profile.group_by, "unit"]

    @property
    def sums_by(self) -> list[str]:
        """The columns partial sums are kept by: the group's, and the tax rate, so tax is
        worked out exactly on each rate's own net."""
        return [*self.keys, "tax_ppm"]

    @property
    def prefix_chars(self) -> tuple[int, int]:
        """How many leading characters of the destination and of the caller the profile's
        prefixes (overrides, areas) need: a longest-prefix match on that many is the match
        on the whole number."""
        areas = self.profile.jurisdiction.areas if self.profile.jurisdiction else {}
        destination = max((len(p) for p in (*self.profile.prefixes, *areas)), default=0)
        caller = max((len(p) for p in areas), default=0)
        return destination, caller

    @property
    def needs_category(self) -> bool:
        wanted = {"category", "country", "jurisdiction"}
        return bool(wanted & set(self.profile.group_by))


def _longest_prefix(column: str, prefixes: Mapping[str, str], name: str) -> pl.Expr:
    """The value of the longest of ``prefixes`` that begins ``column`` (null if none)."""
    chain: pl.Expr = pl.lit(None, pl.String)
    for prefix in sorted(prefixes, key=lambda p: (len(p), p)):  # longest tested last, wins
        chain = (
            pl.when(pl.col(column).str.starts_with(prefix))
            .then(pl.lit(prefixes[prefix]))
            .otherwise(chain)
        )
    return chain.alias(name)


def _category(context: Context) -> pl.Expr:
    """A row's destination category, from its destination's ``region`` and ``number_type``
    (joined from ``classify``), in order: no destination; roaming (an attribute); a profile
    prefix; a domestic number by its type; a number of another region; else unknown."""
    profile = context.profile
    domestic = pl.lit("unknown")
    for number_type in sorted(DEFAULT_TYPES):
        domestic = (
            pl.when(pl.col("number_type") == number_type)
            .then(pl.lit(profile.category_of_type(number_type)))
            .otherwise(domestic)
        )
    # a record without a destination has no type (one stored without a number has none)
    chain: Any = pl.when(pl.col("number_type").is_null()).then(pl.lit("none"))
    if profile.roaming_attribute:
        flag = (
            pl.col("attributes")
            .str.json_path_match(f"$.{profile.roaming_attribute}")
            .str.to_lowercase()
        )
        chain = chain.when(flag.is_in(_TRUE)).then(pl.lit("roaming"))
    if profile.prefixes:
        chain = chain.when(pl.col("override").is_not_null()).then(pl.col("override"))
    category: pl.Expr = (
        chain.when(pl.col("region") == context.home_region)
        .then(domestic)
        .when(pl.col("region").is_not_null())
        .then(pl.lit("international"))
        .otherwise(pl.lit("unknown"))
    )
    return category


def _direction(context: Context, *, flagged: bool) -> pl.Expr:
    """The direction from the feed's word, and (``flagged``: from the ``on_net`` column the
    database worked out, else from the destination) whether a customer holds the number
    called."""
    word = pl.col("direction").str.strip_chars().str.to_lowercase()
    on_net = (
        (pl.col("on_net") == 1) if flagged else pl.col("destination").is_in(list(context.on_net))
    )
    return (
        pl.when(word.is_in(_INBOUND))
        .then(pl.lit("inbound"))
        .when(word.is_in(_ON_NET) | on_net)
        .then(pl.lit("on_net"))
        .otherwise(pl.lit("outbound"))
    )


def _jurisdiction(context: Context) -> pl.Expr:
    rules = context.profile.jurisdiction
    assert rules is not None
    same = (
        pl.col("caller_area").is_not_null() & (pl.col("caller_area") == pl.col("destination_area"))
    ).fill_null(False)
    chain: pl.Expr = pl.lit(rules.default)
    for rule in reversed(rules.rules):  # the first rule that holds wins: built last to first
        test: pl.Expr = pl.lit(True)
        if rule.category is not None:
            test = test & pl.col("category").is_in(rule.category)
        if rule.same_area is not None:
            test = test & (same if rule.same_area else ~same)
        chain = pl.when(test).then(pl.lit(rule.then)).otherwise(chain)
    return chain


def _classify_unstored(groups: pl.DataFrame) -> pl.DataFrame:
    """Groups of records stored without their destination's kind (their ``destination`` the
    whole number) with the region and type classified here."""
    unstored = groups.filter(pl.col("number_type").is_null() & pl.col("destination").is_not_null())
    if unstored.is_empty():
        return groups
    found = describe(unstored["destination"]).rename({"region": "_region", "number_type": "_type"})
    return (
        groups.join(found, left_on="destination", right_on="number", how="left")
        .with_columns(
            pl.when(pl.col("number_type").is_null())
            .then(pl.col("_region"))
            .otherwise(pl.col("region"))
            .alias("region"),
            pl.coalesce("number_type", "_type").alias("number_type"),
        )
        .drop("_region", "_type")
    )


def with_dimensions(frame: pl.DataFrame, context: Context) -> pl.DataFrame:
    """``frame`` (the store's report rows, or its groups) with the profile's dimension
    columns, made from its service, direction, destination, caller, attributes and customer
    segment. Groups carry their destinations' ``region`` and ``number_type`` as stored (or
    their whole number, to classify here) and an ``on_net`` flag; single rows (credits) get
    theirs from the destination here."""
    profile = context.profile
    dims = set(profile.group_by)
    out = frame
    grouped = "number_type" in out.columns
    if context.needs_category:
        if not grouped:
            numbers = describe(out["destination"])
            out = out.join(numbers, left_on="destination", right_on="number", how="left")
        else:
            out = _classify_unstored(out)
        if profile.prefixes:
            out = out.with_columns(_longest_prefix("destination", profile.prefixes, "override"))
        out = out.with_columns(_category(context).alias("category"))
        out = out.with_columns(
            pl.when(pl.col("category") == "none")
            .then(pl.lit(""))
            .otherwise(pl.col("region").fill_null(""))
            .alias("country")
        )
    if "jurisdiction" in dims:
        assert profile.jurisdiction is not None
        areas = profile.jurisdiction.areas
        out = out.with_columns(
            _longest_prefix("caller", areas, "caller_area"),
            _longest_prefix("destination", areas, "destination_area"),
        ).with_columns(_jurisdiction(context).alias("jurisdiction"))
    if "direction" in dims:
        out = out.with_columns(_direction(context, flagged=grouped).alias("direction"))
    return out.with_columns(
        [pl.col(d).fill_null("") for d in profile.group_by]
        + [pl.col("unit").fill_null(""), context.tax_ppm()]
    )


def grouped_partial(frame: pl.DataFrame, context: Context) -> pl.DataFrame:
    """Groups the database summed (``store.reports.GROUPED_SCHEMA``) summed again per the
    profile's dimensions (``credits`` zero)."""
    return (
        with_dimensions(frame, context)
        .group_by(context.sums_by)
        .agg(pl.col(m).sum().cast(pl.Int64) for m in MEASURES if m != "credits")
        .with_columns(pl.lit(0, pl.Int64).alias("credits"))
    )


def credit_partial(credits: pl.DataFrame, context: Context) -> pl.DataFrame:
    """Credits and adjustments (the store's credit rows) summed per group. A credit of a
    record takes the record's dimensions; the others only their service and segment (the
    other dimensions and the unit empty)."""
    frame = credits.with_columns(
        pl.lit(0, pl.Int64).alias("quantity"), pl.lit(None, pl.String).alias("disposition")
    )
    kept = ("service", "segment")
    on_records = with_dimensions(frame.filter(pl.col("source") == "dispute"), context)
    others = frame.filter(pl.col("source") != "dispute").with_columns(
        [pl.lit("").alias(d) for d in context.profile.group_by if d not in kept]
        + [pl.col(d).fill_null("") for d in context.profile.group_by if d in kept]
        + [pl.lit("").alias("unit"), context.tax_ppm()]
    )
    both = pl.concat(
        [
            on_records.select(*context.sums_by, "credit"),
            others.select(*context.sums_by, "credit"),
        ]
    )
    return (
        both.group_by(context.sums_by)
        .agg(pl.col("credit").sum().cast(pl.Int64).alias("credits"))
        .with_columns([pl.lit(0, pl.Int64).alias(m) for m in MEASURES if m != "credits"])
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Line:
    """One group of the report. Amounts at AMOUNT_SCALE; ``tax`` and ``weighted`` at
    ``WIDE_SCALE``; ``weight_ppm`` None where the profile weighs nothing."""

    dims: tuple[str, ...]
    unit: str
    records: int
    answered: int
    quantity: int
    billed_quantity: int
    gross: int
    credits: int
    tax: int
    weight_ppm: int | None
    weighted: int

    @property
    def net(self) -> int:
        return self.gross - self.credits


@dataclass(frozen=True, slots=True, kw_only=True)
class Reconciliation:
    """The report against the ledger's own sums. Amounts at AMOUNT_SCALE."""

    gross: int
    invoiced: int
    open: int
    credits: int
    ledger_credits: int

    @property
    def usage_difference(self) -> int:
        return self.gross - (self.invoiced + self.open)

    @property
    def credit_difference(self) -> int:
        return self.credits - self.ledger_credits

    @property
    def holds(self) -> bool:
        return self.usage_difference == 0 and self.credit_difference == 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Computed:
    """A computed report: its lines (in dimension order), the pending exceptions, the
    reconciliation and the weighted summary."""

    dimensions: tuple[str, ...]
    lines: list[Line]
    pending: list[tuple[str, str, int, int]]  # code, unit, records, quantity
    reconciliation: Reconciliation
    weighted: int | None  # WIDE_SCALE; None without weights
    threshold: int | None  # AMOUNT_SCALE
    contribution: int | None  # WIDE_SCALE + 6
    totals: dict[str, dict[str, int]] = field(default_factory=dict)  # per unit

    @property
    def gross(self) -> int:
        return sum(line.gross for line in self.lines)

    @property
    def credits(self) -> int:
        return sum(line.credits for line in self.lines)

    @property
    def tax(self) -> int:
        return sum(line.tax for line in self.lines)


def _ppm(text: str) -> int:
    return parse_fixed(text, 6)


def compute(
    partials: Sequence[pl.DataFrame],
    credits: pl.DataFrame,
    pending: pl.DataFrame,
    ledger: Mapping[str, int],
    *,
    context: Context,
) -> Computed:
    """The report from its partial sums, credits and pending exceptions, reconciled with
    ``ledger`` (``invoiced``, ``open``, ``credits``)."""
    profile = context.profile
    by = context.sums_by
    schema = {k: pl.String() for k in context.keys} | {"tax_ppm": pl.Int64()}
    schema |= {m: pl.Int64() for m in MEASURES}
    parts = [p.select(*by, *MEASURES).cast(schema) for p in partials]  # type: ignore[arg-type]
    parts.append(
        credit_partial(credits, context).select(*by, *MEASURES).cast(schema)  # type: ignore[arg-type]
    )
    summed = pl.concat(parts).group_by(by).agg([pl.col(m).sum() for m in MEASURES]).sort(by)
    # a group's rows at each tax rate: their sums, and the tax on each rate's own net
    groups: dict[tuple[str, ...], dict[str, int]] = {}
    for row in summed.iter_rows(named=True):
        key = tuple(str(row[k]) for k in context.keys)
        group = groups.setdefault(key, dict.fromkeys((*MEASURES, "tax"), 0))
        for m in MEASURES:
            group[m] += int(row[m])
        group["tax"] += (int(row["gross"]) - int(row["credits"])) * int(row["tax_ppm"])
    weights: dict[str, int] = {c: _ppm(w) for c, w in profile.weights.items()}
    category_at = profile.group_by.index("category") if "category" in profile.group_by else None
    lines = []
    for key in sorted(groups):
        group = groups[key]
        net = group["gross"] - group["credits"]
        weight = None
        if weights and category_at is not None:
            weight = weights.get(key[category_at], 0)
        lines.append(
            Line(
                dims=key[:-1],
                unit=key[-1],
                records=group["records"],
                answered=group["answered"],
                quantity=group["quantity"],
                billed_quantity=group["billed_quantity"],
                gross=group["gross"],
                credits=group["credits"],
                tax=group["tax"],
                weight_ppm=weight,
                weighted=net * weight if weight is not None else 0,
            )
        )
    totals: dict[str, dict[str, int]] = {}
    for line in lines:
        unit = totals.setdefault(line.unit, dict.fromkeys(MEASURES, 0))
        for m in MEASURES:
            unit[m] += getattr(line, m)
    gross = sum(line.gross for line in lines)
    reconciliation = Reconciliation(
        gross=gross,
        invoiced=int(ledger["invoiced"]),
        open=int(ledger["open"]),
        credits=sum(line.credits for line in lines),
        ledger_credits=int(ledger["credits"]),
    )
    weighted = sum(line.weighted for line in lines) if weights else None
    threshold = parse_fixed(profile.threshold, AMOUNT_SCALE) if profile.threshold else None
    contribution = None
    if weighted is not None and profile.contribution_rate is not None:
        below = threshold is not None and weighted < threshold * 10**6
        contribution = 0 if below else weighted * _ppm(profile.contribution_rate)
    return Computed(
        dimensions=tuple(profile.group_by),
        lines=lines,
        pending=[
            (str(r["code"]), str(r["unit"] or ""), int(r["records"]), int(r["quantity"]))
            for r in pending.iter_rows(named=True)
        ],
        reconciliation=reconciliation,
        weighted=weighted,
        threshold=threshold,
        contribution=contribution,
        totals=totals,
    )


#: The CSV's measure columns after the dimensions and the unit.
CSV_MEASURES = (
    "records",
    "answered",
    "quantity",
    "billed_quantity",
    "gross",
    "credits",
    "net",
    "tax",
    "weight",
    "weighted",
    "code",
)


def csv_rows(computed: Computed, *, minor: int) -> list[list[str]]:
    """The report as CSV rows: the header, a ``line`` row per group, a ``total`` row per
    unit, a ``pending`` row per exception code and unit. Money shows at least ``minor``
    places and every digit it has; quantities every digit they have."""

    def money(value: int, scale: int = AMOUNT_SCALE) -> str:
        return format_fixed(value, scale, min_places=minor)

    def qty(value: int) -> str:
        return format_fixed(value, QUANTITY_SCALE)

    blank = [""] * len(computed.dimensions)
    header = ["section", *computed.dimensions, "unit", *CSV_MEASURES]
    rows = [header]
    for line in computed.lines:
        rows.append(
            [
                "line",
                *line.dims,
                line.unit,
                str(line.records),
                str(line.answered),
                qty(line.quantity),
                qty(line.billed_quantity),
                money(line.gross),
                money(line.credits),
                money(line.net),
                money(line.tax, WIDE_SCALE),
                "" if line.weight_ppm is None else format_fixed(line.weight_ppm, 6),
                "" if line.weight_ppm is None else money(line.weighted, WIDE_SCALE),
                "",
            ]
        )
    for unit in sorted(computed.totals):
        t = computed.totals[unit]
        mine = [line for line in computed.lines if line.unit == unit]
        weighted = any(line.weight_ppm is not None for line in mine)
        rows.append(
            [
                "total",
                *blank,
                unit,
                str(t["records"]),
                str(t["answered"]),
                qty(t["quantity"]),
                qty(t["billed_quantity"]),
                money(t["gross"]),
                money(t["credits"]),
                money(t["gross"] - t["credits"]),
                money(sum(line.tax for line in mine), WIDE_SCALE),
                "",
                money(sum(line.weighted for line in mine), WIDE_SCALE) if weighted else "",
                "",
            ]
        )
    for code, unit, records, quantity in computed.pending:
        rows.append(["pending", *blank, unit, str(records), "", qty(quantity), *[""] * 7, code])
    return rows


@dataclass(frozen=True, slots=True, kw_only=True)
class Difference:
    """One figure that differs between two reports of the same profile: the row's key (its
    section, dimensions, unit and exception code), the column, and its two values (empty
    where the row is missing from that report)."""

    key: tuple[str, ...]
    column: str
    before: str
    after: str


def differences(before_csv: str, after_csv: str) -> tuple[list[str], list[Difference]]:
    """The figures that differ between two CSVs of a report (an original and its amendment):
    ``(key columns, differences)``, in key order. Rows are matched by their key columns
    (every column that is not a measure); a row only in one report differs in every
    measure it has."""

    def rows(text: str) -> tuple[list[str], dict[tuple[str, ...], dict[str, str]]]:
        parsed = list(csv.reader(text.splitlines()))
        header, body = parsed[0], parsed[1:]
        keys = [c for c in header if c not in CSV_MEASURES or c == "code"]
        out = {}
        for row in body:
            named = dict(zip(header, row, strict=True))
            out[tuple(named[k] for k in keys)] = {m: named[m] for m in header if m not in keys}
        return keys, out

    keys, old = rows(before_csv)
    _, new = rows(after_csv)
    found = []
    for key in sorted(old.keys() | new.keys()):
        a, b = old.get(key, {}), new.get(key, {})
        for column in CSV_MEASURES:
            if column == "code":
                continue
            x, y = a.get(column, ""), b.get(column, "")
            if x != y:
                found.append(Difference(key=key, column=column, before=x, after=y))
    return keys, found


class InputsDigest:
    """The SHA-256 of a report's inputs, whatever order the rows come in: each row's values
    as text joined by U+001F (null as U+0000) are hashed (SHA-256), the row digests are
    summed as 256-bit integers modulo 2^256, and the sum's 32 bytes are hashed once more.

    The rows of a part (charges, credits, pending exceptions) are a set (each names its own
    charge, posting or code), so the store may return them in any order and the report need
    not sort a month to digest it."""

    def __init__(self) -> None:
        self._parts: dict[str, int] = {}

    def add(self, part: str, frame: pl.DataFrame) -> None:
        """Add ``frame``'s rows to the part named ``part``."""
        if frame.height == 0:
            self._parts.setdefault(part, 0)
            return
        text = plh.concat_str(
            [pl.col(c).cast(pl.String).fill_null("\x00") for c in frame.columns],
            separator="\x1f",
        )
        digests = frame.select(text.chash.sha2_256().alias("d"))
        # the digests' eight 32-bit words, each summed down the column (no overflow: 2^32
        # times fewer than 2^32 rows), then carried into one integer
        words = digests.select(
            pl.col("d")
            .str.slice(8 * k, 8)
            .str.to_integer(base=16)
            .cast(pl.UInt64)
            .sum()
            .alias(f"w{k}")
            for k in range(8)
        ).row(0)
        total = sum(int(w) << (32 * (7 - k)) for k, w in enumerate(words))
        self._parts[part] = (self._parts.get(part, 0) + total) % 2**256

    def hexdigest(self) -> str:
        """The digest of every part added."""
        hasher = hashlib.sha256()
        for part in sorted(self._parts):
            hasher.update(part.encode("ascii") + b"\x1e" + self._parts[part].to_bytes(32, "big"))
        return hasher.hexdigest()
