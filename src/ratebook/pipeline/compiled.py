"""Reference data compiled for pricing one record at a time (``pipeline.scalar``): customer
identifiers by value, assignments by customer, versions by table with their time bands and
policy, and each version's rate rows by service, unit, prefix and band.

Compiled once per ``Reference`` (kept beside it while it lives) and only read afterwards, so
threads share it. A version's rows are indexed on first use: a deck of tens of thousands of
rows costs its index once, and versions never priced cost nothing.
"""

from __future__ import annotations

import json
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import polars as pl

from ratebook.model.tariffs import TimeBands, time_bands
from ratebook.money import RoundingMode
from ratebook.pipeline.steps import decode as decode_steps

if TYPE_CHECKING:
    from ratebook.pipeline.price import Reference


class NotWarmError(Exception):
    """Work inside ``warm_only`` needs more than what is already loaded and compiled."""


_WARM_ONLY: ContextVar[bool] = ContextVar("ratebook_warm_only", default=False)


@contextmanager
def warm_only() -> Iterator[None]:
    """Within the block, pricing reads only the reference data already loaded and compiled:
    where it would load reference data, compile it or index a version's rows (or take a
    slower road that says so) it raises ``NotWarmError`` instead, and a caller that must not
    wait, the API's event loop, hands the work to a thread."""
    token = _WARM_ONLY.set(True)
    try:
        yield
    finally:
        _WARM_ONLY.reset(token)


def require_loading_allowed() -> None:
    """Raise ``NotWarmError`` inside ``warm_only``."""
    if _WARM_ONLY.get():
        raise NotWarmError


@dataclass(frozen=True, slots=True)
class Identifier:
    """A customer identifier in force from ``valid_from`` (inclusive) to ``valid_to``."""

    customer_id: int
    account: str
    valid_from: datetime | None
    valid_to: datetime | None

    def in_force(self, at: datetime) -> bool:
        """Whether the identifier is in force at ``at``."""
        return (self.valid_from is None or self.valid_from <= at) and (
            self.valid_to is None or at < self.valid_to
        )


@dataclass(frozen=True, slots=True)
class Assignment:
    """A customer's rate table from ``valid_from`` to ``valid_to``."""

    rate_table_id: int
    discount_ppm: int | None
    valid_from: datetime | None
    valid_to: datetime | None

    def in_force(self, at: datetime) -> bool:
        """Whether the assignment is in force at ``at``."""
        return (self.valid_from is None or self.valid_from <= at) and (
            self.valid_to is None or at < self.valid_to
        )


@dataclass(frozen=True, slots=True)
class Ladder:
    """A tiered row's tiers: its kind (``graduated`` or ``volume``), its ``(from, price)``
    steps, and its minimum charge and maximum cost of a record."""

    tier_kind: str
    steps: tuple[tuple[int, int], ...]
    minimum_charge: int | None
    max_cost: int | None = None


def ladder_of(
    tier_kind: str | None, tiers: str | None, minimum: int | None, max_cost: int | None
) -> Ladder | None:
    """A rate row's ladder from its stored columns (None for a flat row)."""
    if tier_kind is None:
        return None
    return Ladder(tier_kind, _ladder(tiers) or (), minimum, max_cost)


@dataclass(frozen=True, slots=True)
class Row:
    """A rate row, money in fixed minor units; ``ladder`` the ``(from, price)`` steps of a
    tiered row (None for a flat one)."""

    rate_row_id: int
    destination_name: str | None
    price: int
    rate_unit: int
    connect_fee: int
    increment_initial: int
    increment_subsequent: int
    minimum_charge: int | None
    tier_kind: str | None
    ladder: tuple[tuple[int, int], ...] | None
    max_cost: int | None = None
    grace: int | None = None
    included: int | None = None
    rounding_mode: RoundingMode | None = None
    rounding_places: int | None = None
    steps: tuple[tuple[int, int, int], ...] | None = None

    def tiers(self) -> Ladder | None:
        """The row's ladder (None for a flat row)."""
        if self.tier_kind is None or self.ladder is None:
            return None
        return Ladder(self.tier_kind, self.ladder, self.minimum_charge, self.max_cost)

    def graced(self, quantity: int) -> bool:
        """Whether a record of ``quantity`` is shorter than the row's grace, so free."""
        return self.grace is not None and quantity < self.grace


@dataclass(frozen=True, slots=True)
class Policy:
    """A version's limits (``model.tariffs.Policy``), as the rater checks them."""

    max_charge: int | None
    max_price: int | None
    max_quantity: dict[str, int]


@dataclass(slots=True)
class Version:
    """A rate-table version: its rounding, bands, policy and (once indexed) rows."""

    version_id: int
    effective_from: datetime
    rounding_mode: RoundingMode
    rounding_places: int
    bands: TimeBands
    policy: Policy
    #: a call crossing bands is priced part by part (``pipeline.band_split``)
    split_bands: bool = False
    #: (service, unit) -> prefix ("*" or digits) -> band ("*" or a name) -> row
    rows: dict[tuple[str, str], dict[str, dict[str, Row]]] | None = None
    #: (service, unit) -> the prefix lengths present, longest first ("*" as 0)
    lengths: dict[tuple[str, str], tuple[int, ...]] | None = None
    #: local day numbers (days since 1970-01-01) of the holidays of each year, as used
    holidays: dict[int, frozenset[int]] = field(default_factory=dict)


@dataclass(slots=True)
class RatingState:
    """Everything pricing one record reads, as dictionaries."""

    accounts: dict[str, list[Identifier]]
    numbers: dict[str, list[Identifier]]
    #: prefix identifiers: their length -> value -> identifiers
    number_prefixes: dict[int, dict[str, list[Identifier]]]
    #: customer -> role (base | override) -> assignments
    assignments: dict[int, dict[str, list[Assignment]]]
    #: rate table -> versions, earliest first
    versions: dict[int, list[Version]]
    by_id: dict[int, Version]
    frames: pl.DataFrame  # the rate rows, indexed by version on first use
    lock: threading.Lock = field(default_factory=threading.Lock)

    def warm(self, at: datetime) -> None:
        """Index the rows of each rate table's version in force at ``at``, and work out its
        holidays of that year, as pricing a record of that moment would: so that the first
        records priced after a load do not wait for it."""
        from ratebook.pipeline.band_split import band_at  # band_split prices by this state

        for versions in self.versions.values():
            in_force = [v for v in versions if v.effective_from <= at]
            if in_force:
                version = self.rows_of(in_force[-1])
                band_at(version.bands, version.holidays, at)

    def rows_of(self, version: Version) -> Version:
        """``version`` with its rows indexed."""
        if version.rows is None:
            require_loading_allowed()
            with self.lock:
                if version.rows is None:
                    _index_rows(version, self.frames)
        return version


def _identifiers(
    frame: pl.DataFrame,
) -> tuple[
    dict[str, list[Identifier]],
    dict[str, list[Identifier]],
    dict[int, dict[str, list[Identifier]]],
]:
    accounts: dict[str, list[Identifier]] = {}
    numbers: dict[str, list[Identifier]] = {}
    prefixes: dict[int, dict[str, list[Identifier]]] = {}
    columns = ("customer_id", "account", "kind", "value", "valid_from", "valid_to")
    for customer_id, account, kind, value, valid_from, valid_to in frame.select(
        columns
    ).iter_rows():
        found = Identifier(customer_id, account, valid_from, valid_to)
        if kind == "account":
            accounts.setdefault(value, []).append(found)
        elif kind == "number":
            numbers.setdefault(value, []).append(found)
        elif kind == "prefix":
            prefixes.setdefault(len(value), {}).setdefault(value, []).append(found)
    return accounts, numbers, prefixes


def _assignments(frame: pl.DataFrame) -> dict[int, dict[str, list[Assignment]]]:
    out: dict[int, dict[str, list[Assignment]]] = {}
    columns = ("customer_id", "role", "rate_table_id", "discount_ppm", "valid_from", "valid_to")
    for customer_id, role, table, discount, valid_from, valid_to in frame.select(
        columns
    ).iter_rows():
        out.setdefault(customer_id, {}).setdefault(role, []).append(
            Assignment(table, discount, valid_from, valid_to)
        )
    return out


def _policy(spec: dict[str, Any]) -> Policy:
    policy = spec.get("policy") or {}
    return Policy(
        max_charge=policy.get("max_charge"),
        max_price=policy.get("max_price"),
        max_quantity=dict(policy.get("max_quantity") or {}),
    )


def _versions(frame: pl.DataFrame) -> tuple[dict[int, list[Version]], dict[int, Version]]:
    by_table: dict[int, list[Version]] = {}
    by_id: dict[int, Version] = {}
    columns = (
        "version_id",
        "rate_table_id",
        "effective_from",
        "rounding_mode",
        "rounding_places",
        "timezone",
        "spec",
    )
    for version_id, table, since, mode, places, zone, spec_text in frame.select(
        columns
    ).iter_rows():
        spec = json.loads(spec_text or "{}")
        version = Version(
            version_id=version_id,
            effective_from=since,
            rounding_mode=RoundingMode(mode),
            rounding_places=places,
            bands=time_bands(spec, zone),
            policy=_policy(spec),
            split_bands=bool(spec.get("split_bands")),
        )
        by_table.setdefault(table, []).append(version)
        by_id[version_id] = version
    for versions in by_table.values():
        versions.sort(key=lambda v: v.effective_from)
    return by_table, by_id


def _ladder(text: str | None) -> tuple[tuple[int, int], ...] | None:
    if text is None:
        return None
    return tuple((int(step["from"]), int(step["price"])) for step in json.loads(text))


def _index_rows(version: Version, frames: pl.DataFrame) -> None:
    rows: dict[tuple[str, str], dict[str, dict[str, Row]]] = {}
    ladders: dict[str, tuple[tuple[int, int], ...] | None] = {}
    columns = (
        "service",
        "unit",
        "prefix",
        "band",
        "rate_row_id",
        "destination_name",
        "price",
        "rate_unit",
        "connect_fee",
        "increment_initial",
        "increment_subsequent",
        "minimum_charge",
        "tier_kind",
        "tiers",
        "max_cost",
        "grace",
        "included",
        "row_rounding_mode",
        "row_rounding_places",
        "steps",
    )
    mine = frames.filter(pl.col("version_id") == version.version_id).select(columns)
    for (
        service,
        unit,
        prefix,
        band,
        row_id,
        name,
        price,
        rate_unit,
        connect_fee,
        initial,
        subsequent,
        minimum,
        tier_kind,
        tiers,
        max_cost,
        grace,
        included,
        row_mode,
        row_places,
        steps,
    ) in mine.iter_rows():
        ladder = None
        if tier_kind is not None:
            if tiers not in ladders:
                ladders[tiers] = _ladder(tiers)
            ladder = ladders[tiers]
        rows.setdefault((service, unit), {}).setdefault(prefix, {})[band] = Row(
            row_id,
            name,
            price,
            rate_unit,
            connect_fee,
            initial,
            subsequent,
            minimum,
            tier_kind,
            ladder,
            max_cost,
            grace,
            included,
            None if row_mode is None else RoundingMode(row_mode),
            row_places,
            decode_steps(steps),
        )
    version.lengths = {
        key: tuple(sorted({0 if p == "*" else len(p) for p in by_prefix}, reverse=True))
        for key, by_prefix in rows.items()
    }
    version.rows = rows


def compile_reference(reference: Reference) -> RatingState:
    """``reference`` as dictionaries (rows are indexed per version on first use)."""
    accounts, numbers, prefixes = _identifiers(reference.identifiers)
    versions, by_id = _versions(reference.versions)
    return RatingState(
        accounts=accounts,
        numbers=numbers,
        number_prefixes=prefixes,
        assignments=_assignments(reference.assignments),
        versions=versions,
        by_id=by_id,
        frames=reference.rows,
    )


_compiled: weakref.WeakKeyDictionary[Reference, RatingState] = weakref.WeakKeyDictionary()
_compiling = threading.Lock()


def is_compiled(reference: Reference) -> bool:
    """Whether ``reference`` has been compiled already."""
    return reference in _compiled


def rating_state(reference: Reference) -> RatingState:
    """The compiled form of ``reference``, compiled on first use and kept while it lives."""
    state = _compiled.get(reference)
    if state is None:
        require_loading_allowed()
        with _compiling:
            state = _compiled.get(reference)
            if state is None:
                state = compile_reference(reference)
                _compiled[reference] = state
    return state
