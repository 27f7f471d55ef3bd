"""Dates and instants as users write them (``valid_from``, ``--effective-from``)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def parse_local_start(text: str, zone: str) -> datetime:
    """A ``YYYY-MM-DD`` date (midnight in ``zone``) or an ISO 8601 instant, as aware UTC.

    A date-time without an offset is read in ``zone``.

    Raises:
        ValueError: text that is neither.
    """
    value = text.strip()
    try:
        day = date.fromisoformat(value)
    except ValueError:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=ZoneInfo(zone))
        return moment.astimezone(UTC)
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(zone)).astimezone(UTC)


def is_zone(name: str) -> bool:
    """Whether ``name`` is an IANA time zone this machine knows."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True
