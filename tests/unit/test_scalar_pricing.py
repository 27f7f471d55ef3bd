"""The scalar pricer (``pipeline.scalar``, one record at a time) against the vectorized stages:
random reference data (identifiers of every kind, effective-dated and overriding assignments,
versions in zones with daylight saving, bands crossing midnight, holiday calendars, policy
limits, prefixes and bands, increments, minimums, maximum costs, graces, included
quantities, steps within a record, connect fees, discounts, every rounding mode of versions
and rows, graduated and volume ladders) and random records must give the same four frames,
to the column, the type and the minor unit."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from ratebook.model.parties import ASSIGNMENT_SCHEMA, IDENTIFIER_SCHEMA
from ratebook.model.tariffs import ROW_SCHEMA, VERSION_SCHEMA
from ratebook.model.usage import RECORD_COLUMNS
from ratebook.money import RoundingMode
from ratebook.pipeline.price import Reference, price

ZONES = ("Asia/Kuala_Lumpur", "Europe/London", "America/New_York", "Australia/Lord_Howe")
ENTITY_ZONE = "Europe/London"
#: A year with both daylight-saving changes in each northern zone, and its neighbours
T0 = datetime(2025, 12, 20, tzinfo=UTC)
SPAN = timedelta(days=400)
CUSTOMERS = (1, 2, 3, 4)
NUMBERS = (
    "+60312345678",
    "+60123456789",
    "+6591234567",
    "+442071234567",
    "1001",
    "10012",
    "999",
    "*97",
    None,
)
#: Stored prefixes (``model.tariffs.parse_prefix``): E.164 digits, any, and short codes
#: exact (``short:1001`` stored ``short:1001$``) and by prefix (``short:10*``: ``short:10``).
PREFIXES = (
    "*",
    "6",
    "60",
    "603",
    "6012",
    "65",
    "44",
    "4420",
    "short:1001$",
    "short:10",
    "short:999$",
    "short:*",
)
SERVICES = {"voice": "s", "sms": "msg", "data": "B"}

#: The sampled strategies, made once: a strategy made inside a draw is built and checked
#: again at every draw, which cost about a quarter of this property's time.
IDENTIFIER_KINDS = st.sampled_from(["number", "prefix"])
E164_NUMBERS = st.sampled_from([n for n in NUMBERS if n and n.startswith("+")])
DISCOUNTS = st.sampled_from([0, 0, 75_000, 333_333])
TABLE_IDS = st.sampled_from([1, 2])
HOLIDAY_COUNTRIES = st.sampled_from([None, "MY", "GB"])
SERVICE_NAMES = st.sampled_from(list(SERVICES))
ROUNDING_MODES = st.sampled_from([m.value for m in RoundingMode])
TABLE_ZONES = st.sampled_from(ZONES)
TIER_STEPS = st.sampled_from([1_000, 2_000, 60_000, 120_000, 180_000])
ROW_PREFIXES = st.sampled_from(PREFIXES)
BANDS = st.sampled_from(["*", "peak", "offpeak", "night"])
INITIAL_INCREMENTS = st.sampled_from([0, 1_000, 30_000, 60_000])
TIER_KINDS = st.sampled_from([None, None, "graduated", "volume"])
RATE_UNITS = st.sampled_from([1_000, 60_000, 1_000_000])
CONNECT_FEES = st.sampled_from([0, 0, 10_000, 333])
SUBSEQUENT_INCREMENTS = st.sampled_from([1, 1_000, 6_000, 60_000])
MINIMUM_CHARGES = st.sampled_from([None, 0, 5_000, 1_000_000])
#: A cap below, at and above the minimums; a grace around the quantities.
MAX_COSTS = st.sampled_from([None, None, 5_000, 1_000_000, 2_500_000])
GRACES = st.sampled_from([None, None, 1_000, 60_000, 61_000])
INCLUDED = st.sampled_from([None, None, 0, 999, 30_000, 60_000])
#: Steps within a record (``pipeline.steps``): none, one, or two.
STEP_LISTS = st.sampled_from(
    [
        None,
        None,
        '[{"from":60000,"price":1000000,"increment":1000}]',
        '[{"from":1000,"price":0,"increment":6000},{"from":61000,"price":333,"increment":60000}]',
    ]
)
#: A row's own rounding, or its version's (None, None).
ROW_ROUNDINGS = st.sampled_from(
    [(None, None), (None, None), (0, "up"), (2, "down"), (4, "half-even"), (6, "half-up")]
)
QUANTITIES = st.sampled_from([0, 1, 999, 60_000, 61_000, 2_500_000])
ACCOUNTS = st.sampled_from(["A1", "A2", "A3", "A4", "A1", "A2", "A9"])
ANY_NUMBERS = st.sampled_from(NUMBERS)
DISPOSITIONS = st.sampled_from([None, None, "ANSWERED", "NO ANSWER"])
ORIGINS = st.sampled_from(["", "sw1", "sw2"])


def _instant(draw: st.DrawFn) -> datetime:
    return T0 + timedelta(seconds=draw(st.integers(0, int(SPAN.total_seconds()))))


def _window(draw: st.DrawFn) -> tuple[datetime | None, datetime | None]:
    start = draw(st.none() | st.builds(lambda s: T0 + timedelta(days=s), st.integers(0, 300)))
    end = draw(
        st.none() | st.builds(lambda d: (start or T0) + timedelta(days=d), st.integers(1, 300))
    )
    return start, end


@st.composite
def identifiers(draw: st.DrawFn) -> pl.DataFrame:
    rows = []
    for customer in CUSTOMERS:
        account = f"A{customer}"
        for _ in range(draw(st.integers(1, 2))):
            start, end = _window(draw) if draw(st.integers(0, 3)) == 0 else (None, None)
            rows.append((customer, account, "account", account, start, end))
        for _ in range(draw(st.integers(0, 2))):
            kind = draw(IDENTIFIER_KINDS)
            number = draw(E164_NUMBERS)
            value = number if kind == "number" else number[: draw(st.integers(3, 7))]
            start, end = _window(draw) if draw(st.booleans()) else (None, None)
            rows.append((customer, account, kind, value, start, end))
    return pl.DataFrame(rows, schema=IDENTIFIER_SCHEMA, orient="row")


@st.composite
def assignments(draw: st.DrawFn) -> pl.DataFrame:
    rows = []
    for customer in CUSTOMERS:
        if draw(st.integers(0, 9)) == 0:
            continue  # no rate table
        count = draw(st.integers(1, 2))
        changes = sorted(
            draw(st.lists(st.integers(1, 380), min_size=count, max_size=count, unique=True))
        )
        for n, day in enumerate(changes):
            start = None if n == 0 and draw(st.integers(0, 3)) > 0 else T0 + timedelta(days=day)
            end = T0 + timedelta(days=changes[n + 1]) if n + 1 < count else None
            discount = draw(DISCOUNTS)
            rows.append((customer, draw(TABLE_IDS), "base", discount, start, end))
        if draw(st.integers(0, 3)) == 0:
            rows.append((customer, 3, "override", 0, *_window(draw)))
    return pl.DataFrame(rows, schema=ASSIGNMENT_SCHEMA, orient="row")


def _band(draw: st.DrawFn, name: str) -> dict[str, object]:
    days = sorted(draw(st.sets(st.integers(1, 7), min_size=1, max_size=7)))
    start = draw(st.integers(0, 47)) * 1800
    end = draw(st.integers(1, 48).filter(lambda e: e * 1800 != start)) * 1800
    return {"name": name, "days": days, "start": start, "end": end}


def _spec(draw: st.DrawFn) -> str:
    spec: dict[str, object] = {}
    if draw(st.booleans()):
        spec["bands"] = [_band(draw, "peak")] + (
            [_band(draw, "night")] if draw(st.booleans()) else []
        )
        spec["default_band"] = "offpeak"
        if draw(st.booleans()):
            spec["split_bands"] = True  # a call crossing bands priced part by part
    if draw(st.booleans()):
        dates = draw(st.lists(st.dates(T0.date(), (T0 + SPAN).date()), max_size=4))
        spec["holidays"] = {
            "band": "offpeak",
            "country": draw(HOLIDAY_COUNTRIES),
            "dates": [d.isoformat() for d in dates],
        }
    if draw(st.booleans()):
        spec["policy"] = {
            "max_charge": draw(st.none() | st.integers(0, 3_000_000)),
            "max_price": draw(st.none() | st.integers(0, 200_000_000)),
            "max_quantity": draw(
                st.dictionaries(SERVICE_NAMES, st.integers(0, 3_000_000), max_size=2)
            ),
        }
    return json.dumps(spec)


@st.composite
def versions(draw: st.DrawFn) -> pl.DataFrame:
    rows = []
    version_id = 0
    for table in (1, 2, 3):
        first = draw(st.integers(-30, 0))
        later = draw(st.lists(st.integers(1, 380), max_size=2, unique=True))
        starts = sorted([first, *later])
        for day in starts:
            version_id += 1
            rows.append(
                (
                    version_id,
                    table,
                    T0 + timedelta(days=day, seconds=draw(st.integers(0, 86_399))),
                    draw(ROUNDING_MODES),
                    draw(st.integers(0, 6)),
                    draw(TABLE_ZONES),
                    _spec(draw),
                )
            )
    return pl.DataFrame(rows, schema=VERSION_SCHEMA, orient="row")


def _ladder(draw: st.DrawFn) -> str:
    # steps on whole minutes and messages too, where a cycle's usage lands exactly on them
    step = TIER_STEPS | st.integers(1, 2_000_000)
    steps = sorted(draw(st.lists(step, min_size=1, max_size=3, unique=True)))
    prices = draw(
        st.lists(st.integers(0, 90_000_000), min_size=len(steps) + 1, max_size=len(steps) + 1)
    )
    return json.dumps([{"from": f, "price": p} for f, p in zip([0, *steps], prices, strict=True)])


@st.composite
def rate_rows(draw: st.DrawFn, version_ids: list[int]) -> pl.DataFrame:
    rows: list[dict[str, object]] = []
    for version_id in version_ids:
        keys = draw(
            st.sets(
                st.tuples(
                    SERVICE_NAMES,
                    ROW_PREFIXES,
                    BANDS,
                ),
                max_size=10,
            )
        )
        # most versions price every destination of a service somehow
        keys |= {(service, "*", "*") for service in SERVICES if draw(st.integers(0, 3)) > 0}
        for service, prefix, band in sorted(keys):
            unit = SERVICES[service]
            initial = draw(INITIAL_INCREMENTS)
            tier_kind = draw(TIER_KINDS)
            rows.append(
                {
                    "rate_row_id": len(rows) + 1,
                    "version_id": version_id,
                    "service": service,
                    "prefix": prefix,
                    "destination_name": f"to {prefix}",
                    "band": band,
                    "price": draw(st.integers(0, 90_000_000)),
                    "unit": unit,
                    "rate_unit": draw(RATE_UNITS),
                    "connect_fee": draw(CONNECT_FEES),
                    "increment_initial": initial,
                    "increment_subsequent": draw(SUBSEQUENT_INCREMENTS),
                    "minimum_charge": draw(MINIMUM_CHARGES),
                    "tier_kind": tier_kind,
                    "tiers": _ladder(draw) if tier_kind else None,
                    # a row has steps within a record or tiers over the cycle, not both
                    "steps": None if tier_kind else draw(STEP_LISTS),
                    "max_cost": draw(MAX_COSTS),
                    "grace": draw(GRACES),
                    # nor an included quantity and tiers
                    "included": None if tier_kind else draw(INCLUDED),
                    **dict(
                        zip(
                            ("row_rounding_places", "row_rounding_mode"),
                            draw(ROW_ROUNDINGS),
                            strict=True,
                        )
                    ),
                }
            )
    return pl.DataFrame(rows, schema=ROW_SCHEMA)


@st.composite
def references(draw: st.DrawFn) -> Reference:
    found = draw(versions())
    return Reference(
        identifiers=draw(identifiers()),
        assignments=draw(assignments()),
        versions=found,
        rows=draw(rate_rows(found["version_id"].to_list())),
    )


@st.composite
def records(draw: st.DrawFn) -> pl.DataFrame:
    rows = []
    for n in range(draw(st.integers(1, 25))):
        service = draw(SERVICE_NAMES)
        at = _instant(draw)
        has_account = draw(st.integers(0, 3)) > 0
        rows.append(
            {
                "row_idx": n,
                "line": n + 2,
                "record_id": f"r{draw(st.integers(0, 10**6))}-{n}",
                "start_time": at,
                "quantity": draw(QUANTITIES | st.integers(0, 5_000_000)),
                "unit": SERVICES[service],
                "service": service,
                "account": (draw(ACCOUNTS) if has_account else None),
                "caller": None if has_account else draw(ANY_NUMBERS),
                "destination": draw(ANY_NUMBERS),
                "disposition": draw(DISPOSITIONS),
                "direction": None,
                "attributes": None,
                "content_sha256": "0" * 64,
                "period": f"{at.astimezone(ZoneInfo(ENTITY_ZONE)):%Y-%m}",
            }
        )
    frame = pl.DataFrame(rows, schema=RECORD_COLUMNS)
    if draw(st.booleans()):
        frame = frame.with_columns(pl.Series("origin", [draw(ORIGINS) for _ in rows]))
    return frame


@pytest.mark.slow
@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(reference=references(), batch=records(), enforce=st.booleans(), place=st.booleans())
def test_the_scalar_path_prices_as_the_vectorized_path(
    reference: Reference, batch: pl.DataFrame, enforce: bool, place: bool
) -> None:
    options = {"zone": ENTITY_ZONE, "enforce_policy": enforce, "place_tiers": place}
    vectorized = price(batch, reference, scalar=False, **options)  # type: ignore[arg-type]
    one_by_one = price(batch, reference, scalar=True, **options)  # type: ignore[arg-type]
    for name in ("matched", "rated", "unmatched", "unrated"):
        try:
            assert_frame_equal(getattr(one_by_one, name), getattr(vectorized, name))
        except AssertionError as differs:
            raise AssertionError(f"the {name} frames differ: {differs}") from None
