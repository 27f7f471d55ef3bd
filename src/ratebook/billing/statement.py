"""Statement text rules: how numbers are masked and quantities shown."""

from __future__ import annotations

from ratebook.money import QUANTITY_SCALE, format_fixed


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
