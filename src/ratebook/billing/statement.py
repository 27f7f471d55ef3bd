"""Statement text rules: how numbers are masked and quantities shown."""

from __future__ import annotations

import json

from ratebook.money import PRICE_SCALE, QUANTITY_SCALE, format_fixed

#: Larger units a base unit's amount is shown in when it is a whole number of them.
_SHOWN_AS: dict[str, tuple[tuple[str, int], ...]] = {
    "B": (("GB", 10**9), ("MB", 10**6), ("KB", 10**3)),
    "kWh": (("MWh", 1000),),
}


def mask_number(number: str | None, digits: int) -> str:
    """Hide the last ``digits`` digits of a number (the entity's masking policy):
    ``+60312345678`` with 3 is ``+60312345xxx``. Short numbers keep at least one digit."""
    if not number:
        return ""
    hide = min(digits, max(len(number) - 1, 0))
    return number[: len(number) - hide] + "x" * hide if hide > 0 else number


def quantity_text(value: int, unit: str) -> str:
    """A quantity for people, exactly: seconds as ``h:mm:ss`` (with any fraction of a second
    after it), others as ``<number> <unit>``."""
    if unit != "s":
        return f"{format_fixed(value, QUANTITY_SCALE)} {unit}"
    whole, rest = divmod(value, 10**QUANTITY_SCALE)
    hours, remainder = divmod(whole, 3600)
    minutes, seconds = divmod(remainder, 60)
    text = f"{hours}:{minutes:02d}:{seconds:02d}"
    if rest:
        text += "." + format_fixed(rest, QUANTITY_SCALE).split(".")[1]
    return text


def measure_text(value: int, unit: str) -> str:
    """A rate unit as a tariff writes it: ``60s``, ``1msg``, ``1GB``, ``1m3``, ``1000req``;
    bytes and kWh in the largest unit that holds the amount a whole number of times."""
    whole, rest = divmod(value, 10**QUANTITY_SCALE)
    if not rest:
        for name, factor in _SHOWN_AS.get(unit, ()):
            if whole and whole % factor == 0:
                return f"{whole // factor}{name}"
    return f"{format_fixed(value, QUANTITY_SCALE)}{unit}"


def tier_parts_text(tier_split: str | None, unit: str, price_places: int) -> str:
    """A graduated record's parts in each tier (the charge's ``tier_split`` JSON) as
    ``60 s at 0.1000; 30 s at 0.0500``, each price per the record's rate unit; empty for a
    record priced in one tier."""
    if not tier_split:
        return ""
    parts = json.loads(tier_split)
    if len(parts) < 2:
        return ""
    return "; ".join(
        f"{format_fixed(int(part['quantity']), QUANTITY_SCALE)} {unit} at"
        f" {format_fixed(int(part['price']), PRICE_SCALE, min_places=price_places)}"
        for part in parts
    )
