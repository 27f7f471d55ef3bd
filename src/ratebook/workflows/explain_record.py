"""Explain a record in words: where it came from, who it was billed to, which rate priced it,
and the arithmetic from quantity to charge (or why it was not billed)."""

from __future__ import annotations

import json
from fractions import Fraction
from typing import Any

from sqlalchemy import Engine

from ratebook.errors import NotFoundError
from ratebook.model.parties import Entity
from ratebook.model.tariffs import prefix_text
from ratebook.money import AMOUNT_SCALE, PRICE_SCALE, QUANTITY_SCALE, format_fixed
from ratebook.pipeline.band_split import Part
from ratebook.pipeline.compiled import rating_state
from ratebook.pipeline.scalar import split_parts
from ratebook.pipeline.steps import decode as decode_steps
from ratebook.pipeline.steps import stepped
from ratebook.pipeline.tiers import split_text
from ratebook.store import cycles
from ratebook.store import explain as explained
from ratebook.store.entities import get_entity
from ratebook.store.reference import reference_for


def _place(source_kind: str) -> str:
    """What a source's positions are called: a stream's offsets, a file's lines."""
    return "offset" if source_kind == "kafka" else "line"


def _qty(value: int, unit: str) -> str:
    return f"{format_fixed(value, QUANTITY_SCALE)} {unit}"


def _exact(value: Fraction, places: int = 9) -> str:
    """A fraction of AMOUNT_SCALE units as decimal text, marked when it does not terminate."""
    scaled = value * 10**places / 10**AMOUNT_SCALE
    whole = scaled.numerator // scaled.denominator
    text = format_fixed(whole, places)
    return text if scaled.denominator == 1 else text + "..."


def explain(
    engine: Engine, record_id: str, *, origin: str | None = None, entity_code: str | None = None
) -> list[str]:
    """Sentences explaining each record with this id (one per origin when several).

    Raises:
        NotFoundError: ``RECORD_NOT_FOUND``.
    """
    out: list[str] = []
    with engine.connect() as conn:
        entity = get_entity(conn, entity_code)
        records = explained.records_named(conn, entity.id, record_id, origin)
        if not records:
            raise NotFoundError(
                "RECORD_NOT_FOUND",
                f"no record {record_id!r}" + (f" from origin {origin!r}" if origin else ""),
            )
        for record in records:
            out.extend(_explain_one(conn, entity, record))
            out.append("")
    return out[:-1]


def _explain_one(conn: Any, entity: Entity, record: Any) -> list[str]:
    """One record's explanation, as lines of text: its source, customer, rate and arithmetic.

    One function: it prints one record's explanation top to bottom."""
    local = record["start_time"].astimezone(entity.zone)
    lines = [
        f"record {record['record_id']} (origin {record['origin']})",
        f"  from {record['source_name']} {_place(record['source_kind'])}"
        f" {record['source_line']} (sha256 {record['source_sha256'][:16]}...,"
        f" batch {record['batch_id']})",
        f"  {record['service']} at {local:%Y-%m-%d %H:%M:%S} {entity.timezone}"
        f" from {record['caller'] or '-'} to {record['destination'] or '-'},"
        f" {_qty(record['quantity'], record['unit'])}"
        + (f", {record['disposition']}" if record["disposition"] else ""),
    ]
    if record["customer_id"] is not None:
        account, name = explained.customer_names(conn, record["customer_id"])
        lines.append(f"  customer {account} ({name})")
    charges = explained.ratings(conn, record["id"])
    state = None
    for charge in charges:
        if charge["tier"] is not None and charge["superseded_by"] is None:
            # where it stands now: a back-dated record can move a charge along its tier
            # without re-rating it (``intake.place``), leaving its stored place behind
            group = (charge["customer_id"], charge["period"], record["service"], record["unit"])
            key = (record["start_time"], record["origin"], record["record_id"])
            ahead = cycles.usage_ahead(conn, entity.id, group, key)
            charge = {**charge, "usage_before": ahead}
        parts = None
        if charge["rate_row_id"] is not None and json.loads(charge["version_spec"] or "{}").get(
            "split_bands"
        ):
            state = state or rating_state(reference_for(conn, entity.id, None))
            parts = split_parts(state, {**dict(record), **dict(charge)})
        lines.extend(_explain_charge(entity, record, charge, parts))
    problems = explained.problems(
        conn, entity.id, record["id"], record["record_id"], record["origin"]
    )
    for problem in problems:
        code = problem["code"] + (f"/{problem['sub_code']}" if problem["sub_code"] else "")
        lines.append(
            f"  exception {problem['id']} {code} ({problem['status']}): {problem['reason']}"
        )
    if not charges and not problems:
        lines.append("  not rated")
    return lines


def _explain_charge(
    entity: Entity, record: Any, charge: Any, split: list[tuple[Part, int]] | None = None
) -> list[str]:
    unit = record["unit"]
    state = "superseded" if charge["superseded_by"] is not None else "current"
    lines = [
        f"  rated {charge['rated_at'].astimezone(entity.zone):%Y-%m-%d %H:%M:%S %Z} ({state}),"
        f" period {charge['period']}"
    ]
    if charge["rate_row_id"] is None:
        lines.append("  not charged (zero quantity or not answered): charge 0")
        return lines
    start = charge["effective_from"].astimezone(entity.zone)
    lines.append(
        f"  rate table {charge['table_name']}, version from {start:%Y-%m-%d %H:%M}"
        f" (id {charge['version_id']}), band {charge['band']}"
    )
    price = format_fixed(charge["unit_price"], PRICE_SCALE, min_places=entity.charge_places)
    per = _qty(charge["rate_unit"], unit)
    lines.append(
        f"  row {charge['rate_row_id']}: prefix {prefix_text(charge['prefix'])}"
        f" ({charge['destination_name'] or 'unnamed'}), {price} per {per},"
        f" increments {_qty(charge['increment_initial'], unit)}/"
        f"{_qty(charge['increment_subsequent'], unit)}"
    )
    grace = charge["grace"]
    if grace is not None and record["quantity"] < grace:
        lines.append(
            f"  {_qty(record['quantity'], unit)} is shorter than the row's grace of"
            f" {_qty(grace, unit)}: free, charge 0"
        )
        return lines
    included = charge["included"]
    lines.append(
        f"  billed {_qty(charge['billed_quantity'], unit)} for {_qty(record['quantity'], unit)}"
        + (f", the first {_qty(included, unit)} of it included" if included else "")
    )
    to_amount = charge["rate_unit"] * 10 ** (PRICE_SCALE - AMOUNT_SCALE)
    pieces = split_text(charge["tier_split"]) or [
        (charge["tier"] or 0, charge["billed_quantity"], charge["unit_price"])
    ]
    kind = "tier"
    steps = decode_steps(charge["steps"])
    if steps and charge["billed_quantity"]:
        kind = "step"
        step_parts = stepped(
            record["quantity"] - (included or 0),
            price=charge["unit_price"],
            initial=charge["increment_initial"],
            subsequent=charge["increment_subsequent"],
            steps=steps,
        )
        pieces = [(k, billed, price) for k, (_, billed, price) in enumerate(step_parts)]
        lines.append(
            "  steps within the call: "
            + "; ".join(
                f"step {k}: {_qty(part, unit)} billed as {_qty(billed, unit)}"
                for k, (part, billed, _) in enumerate(step_parts)
            )
        )
    if charge["tier"] is not None:
        lines.append(
            f"  {charge['tier_kind']} tiers: the cycle's {record['service']} usage before this"
            f" record was {_qty(charge['usage_before'] or 0, unit)}; tier {charge['tier']}"
            + (" (provisional until the cycle closes)" if charge["tier_kind"] == "volume" else "")
        )
    parts = [f"connect fee {format_fixed(charge['connect_fee'], AMOUNT_SCALE)}"]
    usage = Fraction(0)
    if split:
        pieces = []  # the parts by band instead
        for place, (band_part, covered) in enumerate(split):
            row = band_part.row
            amount = Fraction(
                band_part.billed * band_part.price,
                row.rate_unit * 10 ** (PRICE_SCALE - AMOUNT_SCALE),
            )
            usage += amount
            extra = band_part.billed - covered
            shown = format_fixed(band_part.price, PRICE_SCALE, min_places=entity.charge_places)
            lines.append(
                f"  part {band_part.band}: {_qty(band_part.billed, unit)} at {shown} per"
                f" {_qty(row.rate_unit, unit)}"
                + (
                    f" ({_qty(covered, unit)} of the call and the {_qty(extra, unit)}"
                    " its increments add)"
                    if extra and place == len(split) - 1
                    else ""
                )
                + f" = {_exact(amount)}"
            )
        parts.append(f"the parts {_exact(usage)}")
    for tier, quantity, tier_price in pieces:
        part = Fraction(quantity * tier_price, to_amount)
        usage += part
        shown = format_fixed(tier_price, PRICE_SCALE, min_places=entity.charge_places)
        label = f"{kind} {tier}: " if len(pieces) > 1 else ""
        parts.append(f"{label}{_qty(quantity, unit)} x {shown} / {per} = {_exact(part)}")
    exact = Fraction(charge["connect_fee"]) + usage
    minimum = charge["minimum_charge"] or 0
    if exact < minimum:
        parts.append(f"raised to the minimum {format_fixed(minimum, AMOUNT_SCALE)}")
        exact = Fraction(minimum)
    cap = charge["max_cost"]
    if cap is not None and exact > cap:
        parts.append(f"lowered to the maximum cost {format_fixed(cap, AMOUNT_SCALE)}")
        exact = Fraction(cap)
    if charge["discount_ppm"]:
        percent = format_fixed(charge["discount_ppm"], 4)
        exact = exact * (1_000_000 - charge["discount_ppm"]) / 1_000_000
        parts.append(f"less {percent}% discount")
    lines.append("  charge: " + "; ".join(parts))
    lines.append(
        f"  = {_exact(exact)}, rounded {charge['rounding_mode']} to"
        f" {charge['rounding_places']} places: "
        f"{format_fixed(charge['charge'], AMOUNT_SCALE, entity.charge_places)} {entity.currency}"
    )
    return lines
