"""Units, increments, time bands and holidays, with instants pinned at the edges."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ratebook.model.tariffs import (
    Band,
    Calendar,
    Measure,
    TimeBands,
    parse_increment,
    parse_measure,
)


@pytest.mark.parametrize(
    ("text", "unit", "amount"),
    [
        ("60s", "s", 60_000),
        ("1min", "s", 60_000),
        ("2h", "s", 7_200_000),
        ("30", "s", 30_000),
        ("1 GB", "B", 10**12),
        ("1MB", "B", 10**9),
        ("1MiB", "B", 1_048_576_000),
        ("1kWh", "kWh", 1_000),
        ("1Wh", "kWh", 1),
        ("1L", "m3", 1),
        ("msg", "msg", 1_000),
    ],
)
def test_measures_convert_exactly(text: str, unit: str, amount: int) -> None:
    assert parse_measure(text, "s") == Measure(unit=unit, amount=amount)


@pytest.mark.parametrize("text", ["0s", "1 furlong", "0.0001s", "GB/s"])
def test_bad_measures(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message is checked elsewhere
        parse_measure(text)


def test_increments_in_their_units() -> None:
    assert parse_increment("30/6", "s") == (
        Measure(unit="s", amount=30_000),
        Measure(unit="s", amount=6_000),
    )
    assert parse_increment("1MB/100KB", "B")[1] == Measure(unit="B", amount=100_000_000)
    with pytest.raises(ValueError, match="mixes"):
        parse_increment("1MB/1s", "B")


KL = "Asia/Kuala_Lumpur"
PEAK = Band(name="peak", days=frozenset({1, 2, 3, 4, 5}), start=8 * 3600, end=18 * 3600)
WEEKEND = Band(name="weekend", days=frozenset({6, 7}))
NIGHT = Band.parse("night", {"days": ["fri"], "from": "22:00", "to": "06:00"})


def _classify(bands: TimeBands, *local: str, zone: str = KL) -> list[str]:
    starts = (
        pl.Series([datetime.fromisoformat(t) for t in local])
        .dt.replace_time_zone(zone)
        .dt.convert_time_zone("UTC")
    )
    frame = pl.DataFrame({"t": starts})
    return frame.select(bands.classify(pl.col("t"), range(2025, 2028)))["literal"].to_list()


def test_band_edges_in_local_time() -> None:
    # bands are tried in order: the night band must come before the all-day weekend band
    bands = TimeBands(timezone=KL, bands=(PEAK, NIGHT, WEEKEND), default="offpeak")
    got = _classify(
        bands,
        "2026-10-05 07:59:59",  # Monday, a second before peak
        "2026-10-05 08:00:00",  # peak starts (inclusive)
        "2026-10-05 17:59:59",
        "2026-10-05 18:00:00",  # peak ends (exclusive)
        "2026-10-09 23:30:00",  # Friday night
        "2026-10-10 05:59:59",  # Saturday before 06:00: still Friday's night band
        "2026-10-10 06:00:00",  # Saturday: weekend
        "2026-10-31 23:59:59",  # month end, a Saturday
        "2026-11-02 00:00:00",  # Monday midnight
    )
    assert got == [
        "offpeak",
        "peak",
        "peak",
        "offpeak",
        "night",
        "night",
        "weekend",
        "weekend",
        "offpeak",
    ]


def test_holidays_from_the_national_calendar_and_explicit_dates() -> None:
    calendar = Calendar(band="weekend", country="MY", dates=frozenset({date(2026, 10, 13)}))
    bands = TimeBands(timezone=KL, bands=(PEAK, WEEKEND), default="offpeak", calendar=calendar)
    # 31 August is Hari Merdeka (a Monday in 2026); 13 October is an explicit date (Tuesday)
    got = _classify(bands, "2026-08-31 10:00:00", "2026-09-01 10:00:00", "2026-10-13 10:00:00")
    assert got == ["weekend", "peak", "weekend"]


def test_bands_follow_the_table_zone_across_daylight_saving() -> None:
    # London: clocks go forward on 29 March 2026. 07:30 UTC is 07:30 before, 08:30 after.
    bands = TimeBands(timezone="Europe/London", bands=(PEAK,), default="offpeak")
    starts = pl.DataFrame(
        {"t": [datetime(2026, 3, 27, 7, 30, tzinfo=UTC), datetime(2026, 3, 30, 7, 30, tzinfo=UTC)]}
    )
    got = starts.select(bands.classify(pl.col("t"), range(2026, 2027)))["literal"].to_list()
    assert got == ["offpeak", "peak"]


def _band_by_hand(bands: TimeBands, instant: datetime, holidays: set[date]) -> str:
    """The band of one instant, worked out with the standard library's zone rules."""
    local = instant.astimezone(ZoneInfo(bands.timezone))
    if bands.calendar is not None and local.date() in holidays:
        return bands.calendar.band
    weekday, seconds = local.isoweekday(), local.hour * 3600 + local.minute * 60 + local.second
    for band in bands.bands:
        if band.start < band.end:
            hit = weekday in band.days and band.start <= seconds < band.end
        else:  # over midnight: the start day's evening and the next day's morning
            hit = (weekday in band.days and seconds >= band.start) or (
                (weekday - 2) % 7 + 1 in band.days and seconds < band.end
            )
        if hit:
            return band.name
    return bands.default


_ZONES = ["Asia/Kuala_Lumpur", "Europe/London", "America/New_York", "Australia/Lord_Howe"]


@settings(max_examples=60, deadline=None)
@given(
    zone=st.sampled_from(_ZONES),
    order=st.permutations([PEAK, NIGHT, WEEKEND]),
    starts=st.lists(
        st.integers(
            min_value=int(datetime(1950, 1, 1, tzinfo=UTC).timestamp()),
            max_value=int(datetime(2060, 1, 1, tzinfo=UTC).timestamp()),
        ),
        min_size=1,
        max_size=40,
    ),
    explicit=st.sets(st.dates(min_value=date(1950, 1, 1), max_value=date(2059, 12, 31))),
)
def test_bands_agree_with_the_zone_rules_instant_by_instant(
    zone: str, order: list[Band], starts: list[int], explicit: set[date]
) -> None:
    """Before 1970 too, in zones with half-hour and full-hour daylight saving."""
    instants = [datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=s) for s in starts]
    # every drawn instant's local day is a holiday in one case in three
    local_days = {i.astimezone(ZoneInfo(zone)).date() for i in instants}
    holidays = set(explicit) | {d for d in local_days if d.toordinal() % 3 == 0}
    bands = TimeBands(
        timezone=zone,
        bands=tuple(order),
        default="offpeak",
        calendar=Calendar(band="holiday", dates=frozenset(holidays)),
    )
    years = range(min(i.year for i in instants) - 1, max(i.year for i in instants) + 2)
    frame = pl.DataFrame({"t": instants}, schema={"t": pl.Datetime("us", "UTC")})
    got = frame.select(bands.classify(pl.col("t"), years))["literal"].to_list()
    assert got == [_band_by_hand(bands, i, holidays) for i in instants]
