"""How the console writes values for people: money and quantities exactly, with thousands
separators; instants in the entity's zone; numbers masked as on statements."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from ratebook.billing.statement import mask_number, quantity_text
from ratebook.money import AMOUNT_SCALE, PRICE_SCALE, QUANTITY_SCALE, format_fixed


def grouped(text: str) -> str:
    """``1234567.50`` as ``1,234,567.50`` (a leading minus kept)."""
    sign, digits = ("-", text[1:]) if text.startswith("-") else ("", text)
    whole, point, fraction = digits.partition(".")
    groups: list[str] = []
    while len(whole) > 3:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    groups.insert(0, whole)
    return sign + ",".join(groups) + point + fraction


def money(value: int | None, places: int = 2) -> str:
    """An amount at AMOUNT_SCALE, with at least ``places`` decimals and never rounded."""
    if value is None:
        return ""
    return grouped(format_fixed(int(value), AMOUNT_SCALE, min_places=places))


def price(value: int | None) -> str:
    """A unit price at PRICE_SCALE, exactly."""
    return "" if value is None else format_fixed(int(value), PRICE_SCALE, min_places=2)


def quantity(value: int | None, unit: str = "") -> str:
    """A quantity at QUANTITY_SCALE: seconds as h:mm:ss, others with their unit."""
    if value is None:
        return ""
    if unit:
        return quantity_text(int(value), unit)
    return grouped(format_fixed(int(value), QUANTITY_SCALE))


def when(value: datetime | str | None, zone: str) -> str:
    """An instant as local date and time in ``zone`` (``2026-10-03 14:05``)."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


def masked(number: str | None, digits: int) -> str:
    """A destination number with its last ``digits`` hidden (the entity's policy)."""
    return mask_number(number, digits)


def count(value: int | None) -> str:
    """A whole number with thousands separators."""
    return "" if value is None else f"{int(value):,}"


def percent(ppm: int | None) -> str:
    """Parts per million as a percentage, exactly (``125000`` is ``12.5%``)."""
    return "" if ppm is None else f"{format_fixed(int(ppm), 4)}%"
