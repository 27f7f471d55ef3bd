"""Match and rate a few records one at a time, without frames: the path of a quote or a pushed
event, where the vectorized stages (``match``, ``rate``, ``tiers``) spend their time setting up
plans rather than pricing.

Every rule is the vectorized one, written for one record: the customer by account, exact
number, then longest number prefix; the override table's row where it has one, else the
base table's; the version in force; the band by local time, holidays first; the longest
destination prefix, a row for the record's band beating one for every band; increments, connect
fee, minimum, discount and one rounding; the policy limits in order (quantity, charge, price);
then the tiers at the record's place in its cycle. ``price.price`` picks this path for small
groups, and a differential property test holds both paths to the same frames.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from typing import Any
from zoneinfo import ZoneInfo

from ratebook.model.rejections import Code
from ratebook.model.tariffs import destination_key
from ratebook.model.usage import CHARGED_DISPOSITIONS
from ratebook.money import (
    AMOUNT_SCALE,
    PRICE_SCALE,
    QUANTITY_SCALE,
    RoundingMode,
    format_fixed,
    round_div,
)
from ratebook.pipeline.band_split import Part, band_at, band_parts, split_usage
from ratebook.pipeline.compiled import Assignment, Ladder, RatingState, Row, Version
from ratebook.pipeline.steps import first_billed, stepped

_PRICE_TO_AMOUNT = 10 ** (PRICE_SCALE - AMOUNT_SCALE)
_MILLION = 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)
_DAY = 86_400


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a record is not priced: a rejection's code, field and reason."""

    code: str
    field: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class Choice:
    """The rate a record takes: its table, version, band and row (None where there is none)."""

    rate_table_id: int | None
    version: Version | None
    band: str | None
    row: Row | None
    prefix: str | None


def charged(record: dict[str, Any]) -> bool:
    """Whether a record is charged: a positive quantity, answered or without a disposition."""
    disposition = record["disposition"]
    return record["quantity"] > 0 and (disposition is None or disposition in CHARGED_DISPOSITIONS)


def _local_day(record: dict[str, Any], zone: str) -> str:
    return f"{record['start_time'].astimezone(ZoneInfo(zone)):%Y-%m-%d}"


def match(state: RatingState, record: dict[str, Any], zone: str) -> tuple[int, str] | Refusal:
    """The customer (id, account) of a record, or its ``UNMATCHED_CUSTOMER`` refusal."""
    at = record["start_time"]
    account, caller = record["account"], record["caller"]
    # (-score, customer_id, account): the highest score, then the lowest customer id
    candidates: list[tuple[int, int, str]] = []
    if account is not None:
        for found in state.accounts.get(account, ()):
            if found.in_force(at):
                candidates.append((-1000, found.customer_id, found.account))
    elif caller is not None:
        for found in state.numbers.get(caller, ()):
            if found.in_force(at):
                candidates.append((-(len(caller) * 2 + 1), found.customer_id, found.account))
        for length, values in state.number_prefixes.items():
            for found in values.get(caller[:length], ()):
                if found.in_force(at):
                    candidates.append((-(length * 2), found.customer_id, found.account))
    if candidates:
        _, customer_id, customer_account = min(candidates)
        return customer_id, customer_account
    if account is not None:
        reason = f"account '{account}' is not a customer account"
    elif caller is not None:
        reason = f"caller {caller} is not a number of any customer on {_local_day(record, zone)}"
    else:
        reason = "the record has neither an account nor a caller number"
    return Refusal(Code.UNMATCHED_CUSTOMER.value, None, reason)


def _assigned(assignments: list[Assignment], at: datetime) -> Assignment | None:
    """The assignment in force at ``at``, the latest ``valid_from`` first (open last)."""
    live = [a for a in assignments if a.in_force(at)]
    if not live:
        return None
    dated = [a for a in live if a.valid_from is not None]
    if not dated:
        return live[0]
    return max(dated, key=lambda a: a.valid_from or at)


def _in_force(versions: list[Version], at: datetime) -> Version | None:
    """The version in force at ``at``: the latest ``effective_from`` at or before it."""
    chosen = None
    for version in versions:
        if version.effective_from <= at:
            chosen = version
        else:
            break
    return chosen


def row_for(version: Version, record: dict[str, Any], band: str) -> tuple[Row, str] | None:
    """The row of the longest matching destination prefix, the band's own row first."""
    key = (record["service"], record["unit"])
    assert version.rows is not None
    assert version.lengths is not None
    by_prefix = version.rows.get(key)
    if by_prefix is None:
        return None
    destination = record["destination"]
    digits = destination_key(destination)
    for length in version.lengths[key]:
        if length == 0:
            prefix = "*"
        elif digits is None or len(digits) < length:
            continue
        else:
            prefix = digits[:length]
        by_band = by_prefix.get(prefix)
        if by_band is None:
            continue
        row = by_band.get(band) or by_band.get("*")
        if row is not None:
            return row, prefix
    return None


def _choose(state: RatingState, assignments: list[Assignment], record: dict[str, Any]) -> Choice:
    at = record["start_time"]
    assignment = _assigned(assignments, at)
    if assignment is None:
        return Choice(None, None, None, None, None)
    version = _in_force(state.versions.get(assignment.rate_table_id, []), at)
    if version is None:
        return Choice(assignment.rate_table_id, None, None, None, None)
    state.rows_of(version)
    band = band_at(version.bands, version.holidays, at)
    found = row_for(version, record, band)
    if found is None:
        return Choice(assignment.rate_table_id, version, band, None, None)
    return Choice(assignment.rate_table_id, version, band, found[0], found[1])


def billed_quantity(quantity: int, row: Row | None, is_charged: bool) -> int:
    """The quantity past the row's included quantity, after its increments (0 for a record
    not charged, or one its included quantity covers)."""
    if not is_charged or row is None:
        return 0
    return first_billed(
        quantity - (row.included or 0), row.increment_initial, row.increment_subsequent
    )


def charge_of(
    usage: int,
    *,
    rate_unit: int,
    connect_fee: int,
    minimum: int | None,
    places: int,
    mode: RoundingMode,
    discount_ppm: int,
    max_cost: int | None = None,
) -> int:
    """``charges.charge_expr`` for one charged record."""
    denominator = rate_unit * _PRICE_TO_AMOUNT
    numerator = connect_fee * denominator + usage
    if minimum is not None:
        numerator = max(numerator, minimum * denominator)
    if max_cost is not None:
        numerator = min(numerator, max_cost * denominator)
    numerator *= _MILLION - discount_ppm
    denominator *= _MILLION
    step = int(10 ** (AMOUNT_SCALE - places))
    return round_div(numerator, denominator * step, mode) * step


def rate(
    state: RatingState, record: dict[str, Any], customer_id: int, zone: str
) -> dict[str, Any] | Refusal:
    """The rating columns (``rate.RATING_COLUMNS``) of a matched record, at its first tier's
    price, or its ``NO_RATE`` refusal."""
    is_charged = charged(record)
    roles = state.assignments.get(customer_id, {})
    choice = _choose(state, roles.get("base", []), record)
    base = _assigned(roles.get("base", []), record["start_time"])
    discount = (base.discount_ppm if base is not None else None) or 0
    if roles.get("override"):
        mine = _choose(state, roles["override"], record)
        if mine.row is not None:
            choice = mine
    row = choice.row
    if is_charged and row is None:
        day = _local_day(record, zone)
        if choice.rate_table_id is None:
            reason = f"customer {record['customer_account']} has no rate table on {day}"
        elif choice.version is None:
            reason = f"the customer's rate table has no version in force on {day}"
        else:
            destination = record["destination"] or "(none)"
            reason = f"no {record['service']} rate for destination {destination} on {day}"
        return Refusal(Code.NO_RATE.value, "destination", reason)
    version = choice.version
    # a record shorter than its row's grace is free: nothing billed, nothing charged
    is_charged = is_charged and not (row is not None and row.graced(record["quantity"]))
    billed = billed_quantity(record["quantity"], row, is_charged)
    usage = billed * row.price if row is not None else 0
    if is_charged and row is not None and row.steps:
        parts = stepped(
            record["quantity"] - (row.included or 0),
            price=row.price,
            initial=row.increment_initial,
            subsequent=row.increment_subsequent,
            steps=row.steps,
        )
        billed = sum(b for _, b, _ in parts)
        usage = sum(b * p for _, b, p in parts)
    rate_unit = row.rate_unit if row is not None else 0
    if is_charged and row is not None and version is not None and version.split_bands:
        usage, rate_unit = _split(version, record, row, billed) or (usage, rate_unit)
    places = version.rounding_places if version is not None else 0
    mode = version.rounding_mode if version is not None else RoundingMode.HALF_UP
    if row is not None and row.rounding_mode is not None and row.rounding_places is not None:
        places, mode = row.rounding_places, row.rounding_mode  # the row's own rounding
    charge = 0
    if is_charged and row is not None:
        charge = charge_of(
            usage,
            rate_unit=rate_unit,
            connect_fee=row.connect_fee,
            minimum=row.minimum_charge,
            places=places,
            mode=mode,
            discount_ppm=discount,
            max_cost=row.max_cost,
        )
    return {
        "rate_table_id": choice.rate_table_id,
        "version_id": version.version_id if version is not None else None,
        "rate_row_id": row.rate_row_id if row is not None else None,
        "prefix": choice.prefix,
        "band": choice.band if row is not None else None,
        "destination_name": row.destination_name if row is not None else None,
        "billed_quantity": billed,
        "unit_price": row.price if row is not None else 0,
        "rate_unit": row.rate_unit if row is not None else 60 * 10**QUANTITY_SCALE,
        "connect_fee": row.connect_fee if row is not None else 0,
        "discount_ppm": discount,
        "charge": charge,
        "rounding_mode": mode.value,
        "rounding_places": places,
        "usage_before": None,
        "tier": None,
        "tier_split": None,
        "_row": row,
    }


def _split(
    version: Version, record: dict[str, Any], row: Row, billed: int
) -> tuple[int, int] | None:
    """The usage of a call of a ``split_bands`` version, part by part, and its rate unit;
    None for a call within one band (priced as any call)."""
    parts = band_parts(version.bands, version.holidays, record["start_time"], record["quantity"])
    if len(parts) == 1:
        return None

    def row_of(band: str) -> Row | None:
        found = row_for(version, record, band)
        return None if found is None else found[0]

    _, usage, unit = split_usage(parts, billed, record["quantity"], row, row_of)
    return usage, unit


def split_parts(state: RatingState, rated: dict[str, Any]) -> list[tuple[Part, int]] | None:
    """A billed call's parts by band (and step), each with the quantity of the call it
    covers (the last one's billed quantity adds the increments' excess), where its version
    splits calls by band and the call crosses one; else None. ``rated`` is the call's record and
    rating columns (``version_id``, ``band``, ``billed_quantity``)."""
    version = state.by_id.get(rated["version_id"])
    if version is None or not version.split_bands or not rated["billed_quantity"]:
        return None
    version = state.rows_of(version)
    parts = band_parts(version.bands, version.holidays, rated["start_time"], rated["quantity"])
    found = row_for(version, rated, rated["band"])
    if len(parts) == 1 or found is None:
        return None

    def row_of(band: str) -> Row | None:
        match = row_for(version, rated, band)
        return None if match is None else match[0]

    priced, _, _ = split_usage(parts, rated["billed_quantity"], rated["quantity"], found[0], row_of)
    covered = [p.billed for p in priced]
    covered[-1] -= rated["billed_quantity"] - rated["quantity"]
    return list(zip(priced, covered, strict=True))


def split_charge(state: RatingState, rated: dict[str, Any]) -> int:
    """The charge of a billed call of a ``split_bands`` version (its rating columns as the
    vectorized path set them), priced part by part as :func:`rate` prices it."""
    version = state.rows_of(state.by_id[rated["version_id"]])
    found = row_for(version, rated, rated["band"])
    assert found is not None  # the row the call was rated at
    row = found[0]
    split = _split(version, rated, row, rated["billed_quantity"])
    if split is None:
        return int(rated["charge"])  # within one band: priced as any call
    usage, unit = split
    return charge_of(
        usage,
        rate_unit=unit,
        connect_fee=row.connect_fee,
        minimum=row.minimum_charge,
        places=rated["rounding_places"],
        mode=RoundingMode(rated["rounding_mode"]),
        discount_ppm=rated["discount_ppm"],
        max_cost=row.max_cost,
    )


def breach(state: RatingState, record: dict[str, Any], rated: dict[str, Any]) -> Refusal | None:
    """The first policy limit of its version a rated record is beyond (quantity, charge,
    price), as an ``OUT_OF_POLICY`` refusal; None within them."""
    if rated["version_id"] is None:
        return None
    policy = state.by_id[rated["version_id"]].policy
    unit = record["unit"]
    most = policy.max_quantity.get(record["service"])
    if most is not None and record["quantity"] > most:
        return Refusal(
            Code.OUT_OF_POLICY.value,
            "quantity",
            f"quantity {format_fixed(record['quantity'], QUANTITY_SCALE)} {unit} is over the"
            f" rate table's max_quantity of {format_fixed(most, QUANTITY_SCALE)} {unit}",
        )
    if policy.max_charge is not None and rated["charge"] > policy.max_charge:
        return Refusal(
            Code.OUT_OF_POLICY.value,
            "charge",
            f"charge {format_fixed(rated['charge'], AMOUNT_SCALE)} is over the rate table's"
            f" max_charge of {format_fixed(policy.max_charge, AMOUNT_SCALE)}",
        )
    if policy.max_price is not None and rated["unit_price"] > policy.max_price:
        return Refusal(
            Code.OUT_OF_POLICY.value,
            "price",
            f"price {format_fixed(rated['unit_price'], PRICE_SCALE)} is over the rate table's"
            f" max_price of {format_fixed(policy.max_price, PRICE_SCALE)}",
        )
    return None


def tiered(rated: dict[str, Any]) -> bool:
    """Whether a rated record's row has tiers."""
    row: Row | None = rated["_row"]
    return row is not None and row.ladder is not None


def apply_ladder(rated: dict[str, Any], usage_before: int) -> None:
    """Price a record on a tiered row at its place (``tiers.apply_tiers`` for one record):
    sets ``usage_before``, ``tier``, ``tier_split``, ``unit_price`` and ``charge``."""
    row: Row = rated["_row"]
    ladder = row.tiers()
    assert ladder is not None
    price_on_ladder(rated, usage_before, ladder)


def ladder_parts(ladder: Ladder, usage_before: int, billed: int) -> list[tuple[int, int, int]]:
    """The tiers of ``ladder`` that price ``billed`` units after ``usage_before`` units of
    the group, as ``(tier, units, price)``: graduated, the units inside each tier; volume, all
    of them in the tier reached. A charge's price is a function of these (and its row's
    terms), so two places that give the same parts price it alike."""
    steps = ladder.steps
    start, end = usage_before, usage_before + billed
    parts: list[tuple[int, int, int]] = []
    for k, (low, price) in enumerate(steps):
        upto = steps[k + 1][0] if k + 1 < len(steps) else None
        if ladder.tier_kind == "graduated":
            part = max(min(end, end if upto is None else upto) - max(start, low), 0)
        else:
            part = billed if low < end and (upto is None or end <= upto) else 0
        if part > 0:
            parts.append((k, part, price))
    return parts


def same_parts(ladder: Ladder, before: int, after: int, billed: int) -> bool:
    """Whether ``billed`` units priced after ``before`` and after ``after`` units of the group
    fall in the same tiers (``ladder_parts`` equal): at once where both places lie inside one
    tier, the usual case, else by comparing their parts."""
    steps = ladder.steps
    if before == after:
        return True
    if billed > 0 and steps:
        # the tier holding the last unit (volume: the only one priced; graduated: the same
        # as the first unit's when the units lie in one tier)
        last = bisect_right(steps, before + billed - 1, key=itemgetter(0)) - 1
        if last >= 0 and last == bisect_right(steps, after + billed - 1, key=itemgetter(0)) - 1:
            if ladder.tier_kind != "graduated":
                return True
            low = steps[last][0]
            if before >= low and after >= low:
                return True
    return ladder_parts(ladder, before, billed) == ladder_parts(ladder, after, billed)


def price_on_ladder(rated: dict[str, Any], usage_before: int, ladder: Ladder) -> None:
    """Price a rated record (or a stored charge) on ``ladder`` with ``usage_before`` of its
    group ahead of it: sets ``usage_before``, ``tier``, ``tier_split``, ``unit_price`` and
    ``charge``."""
    billed = rated["billed_quantity"]
    parts = ladder_parts(ladder, usage_before, billed)
    usage = sum(part * price for _, part, price in parts)
    rated["usage_before"] = usage_before
    rated["tier"] = parts[0][0] if parts else 0
    rated["tier_split"] = (
        "[" + ",".join(f'{{"quantity":{q},"price":{p},"tier":{k}}}' for k, q, p in parts) + "]"
        if parts
        else None
    )
    if parts:
        rated["unit_price"] = parts[0][2]
    rated["charge"] = (
        charge_of(
            usage,
            rate_unit=rated["rate_unit"],
            connect_fee=rated["connect_fee"],
            minimum=ladder.minimum_charge,
            places=rated["rounding_places"],
            mode=RoundingMode(rated["rounding_mode"]),
            discount_ppm=rated["discount_ppm"],
            max_cost=ladder.max_cost,
        )
        if billed > 0
        else 0
    )
