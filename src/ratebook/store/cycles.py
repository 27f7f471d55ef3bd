"""Current rated charges by customer-cycle: the usage a cycle holds (its running totals), the
charges from an instant on (to re-place them after a late record), and replacing charges
(re-rating).

"Current" means not superseded: a re-rating inserts a new charge and marks the old one's
``superseded_by``, so every earlier rating stays readable.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import polars as pl
from sqlalchemy import (
    Column,
    Connection,
    MetaData,
    Table,
    bindparam,
    case,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from ratebook.errors import ConflictError
from ratebook.pipeline.place_each import Place
from ratebook.store import driver
from ratebook.store.bulk import insert_frame
from ratebook.store.frames import query_frame
from ratebook.store.seals import Seal
from ratebook.store.tables import (
    billing_cycles,
    customers,
    rated_charges,
    usage_records,
    usage_totals,
)

#: What a cycle holds, per customer, period, service and unit.
USAGE_SCHEMA: dict[str, pl.DataType] = {
    "customer_id": pl.Int64(),
    "period": pl.String(),
    "service": pl.String(),
    "unit": pl.String(),
    "used": pl.Int64(),  # billed quantity of its current charges
    "last_start": pl.Datetime("us", "UTC"),  # the latest start among them
    "last_tiered": pl.Datetime("us", "UTC"),  # the latest start of one on a tiered row
}

#: A current charge, with what re-pricing it needs.
CHARGE_SCHEMA: dict[str, pl.DataType] = {
    "charge_id": pl.Int64(),
    "record_pk": pl.Int64(),
    "customer_id": pl.Int64(),
    "period": pl.String(),
    "posted_period": pl.String(),
    "service": pl.String(),
    "unit": pl.String(),
    "start_time": pl.Datetime("us", "UTC"),
    "origin": pl.String(),
    "record_id": pl.String(),
    "rate_table_id": pl.Int64(),
    "version_id": pl.Int64(),
    "rate_row_id": pl.Int64(),
    "prefix": pl.String(),
    "band": pl.String(),
    "billed_quantity": pl.Int64(),
    "unit_price": pl.Int64(),
    "rate_unit": pl.Int64(),
    "connect_fee": pl.Int64(),
    "discount_ppm": pl.Int64(),
    "charge": pl.Int64(),
    "rounding_mode": pl.String(),
    "rounding_places": pl.Int64(),
    "usage_before": pl.Int64(),
    "tier": pl.Int64(),
    "tier_split": pl.String(),
}

#: A current charge with its record, as the rate stage takes it (``CHARGE_SCHEMA`` too).
RECORD_SCHEMA: dict[str, pl.DataType] = {
    **CHARGE_SCHEMA,
    "customer_account": pl.String(),
    "quantity": pl.Int64(),
    "destination": pl.String(),
    "disposition": pl.String(),
}

_BATCH = 500  # customers per query


def _chunks(values: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(values), _BATCH):
        yield values[start : start + _BATCH]


def _charge_columns() -> list[Any]:
    """The columns of ``CHARGE_SCHEMA``, in its order (a charge carries its record's place)."""
    c = rated_charges.c
    return [c.id.label("charge_id") if name == "charge_id" else c[name] for name in CHARGE_SCHEMA]


def cycle_usage(conn: Connection, entity_id: int, keys: pl.DataFrame) -> pl.DataFrame:
    """``USAGE_SCHEMA`` for the cycles of ``keys`` (``customer_id``, ``period``) with charges,
    from their running totals (``add_usage``)."""
    periods = sorted(keys["period"].unique().to_list())
    found = [
        query_frame(
            conn,
            _TOTALS,
            USAGE_SCHEMA,
            {"entity": entity_id, "customers": some, "periods": periods},
        )
        for some in _chunks(sorted(keys["customer_id"].unique().to_list()))
    ]
    return pl.concat(found) if found else pl.DataFrame(schema=USAGE_SCHEMA)


#: Some customers' running totals (``USAGE_SCHEMA``) in some periods: parameters
#: ``entity``, ``customers`` and ``periods``.
_TOTALS = select(
    usage_totals.c.customer_id,
    usage_totals.c.period,
    usage_totals.c.service,
    usage_totals.c.unit,
    usage_totals.c.used,
    usage_totals.c.last_start,
    usage_totals.c.last_tiered,
).where(
    usage_totals.c.entity_id == bindparam("entity"),
    usage_totals.c.customer_id.in_(bindparam("customers", expanding=True)),
    usage_totals.c.period.in_(bindparam("periods", expanding=True)),
)


def usage_of(
    conn: Connection, entity_id: int, groups: set[tuple[Any, ...]]
) -> dict[tuple[Any, ...], tuple[int, datetime | None, datetime | None]]:
    """``cycle_usage`` for a few groups (``customer_id``, ``period``, ``service``, ``unit``),
    as ``(used, last_start, last_tiered)`` by group: ``(0, None, None)`` for a group without
    charges."""
    found: dict[tuple[Any, ...], tuple[int, datetime | None, datetime | None]] = dict.fromkeys(
        groups, (0, None, None)
    )
    periods = sorted({group[1] for group in groups})
    for some in _chunks(sorted({group[0] for group in groups})):
        for customer_id, period, service, unit, used, last_start, last_tiered in conn.execute(
            _TOTALS, {"entity": entity_id, "customers": some, "periods": periods}
        ):
            group = (customer_id, period, service, unit)
            if group in found:
                found[group] = (int(used), last_start, last_tiered)
    return found


#: The billed quantity of a group's current charges ahead of a key (``usage_ahead``), read
#: from ``ix_rated_charges_place`` alone; its parameters are ``_ahead_parameters``'.
_AHEAD = (
    "SELECT coalesce(sum(billed_quantity), 0) FROM rated_charges"
    " WHERE entity_id = ? AND customer_id = ? AND period = ? AND service = ? AND unit = ?"
    " AND superseded_by IS NULL AND (start_time < ? OR (start_time = ?"
    " AND (origin < ? OR (origin = ? AND record_id < ?))))"
)


def _ahead_parameters(
    conn: Connection,
    entity_id: int,
    group: tuple[int, str, str, str],
    key: tuple[datetime, str, str],
) -> tuple[Any, ...]:
    start, origin, record_id = key
    at = driver.stored_instant(conn, start)
    return (entity_id, *group, at, at, origin, origin, record_id)


def usage_ahead(
    conn: Connection,
    entity_id: int,
    group: tuple[int, str, str, str],
    key: tuple[datetime, str, str],
) -> int:
    """The billed quantity of a group's (``customer_id``, ``period``, ``service``, ``unit``)
    current charges ahead of ``key`` (``start_time``, ``origin``, ``record_id``:
    ``pipeline.tiers.ORDER``), where a record of that key stands in its customer-cycle: read
    from ``ix_rated_charges_place`` alone."""
    found = driver.rows(conn, _AHEAD, _ahead_parameters(conn, entity_id, group, key))
    return int(found[0][0])


def usage_before(
    conn: Connection,
    entity_id: int,
    group: tuple[int, str, str, str],
    key: tuple[datetime, str, str],
) -> int:
    """``usage_ahead`` in one statement that reads the group's running total alone when
    ``key`` starts after every charge of the group (the usual case), and the charges ahead of
    it only otherwise."""
    found = driver.rows(conn, USAGE_BEFORE, usage_before_parameters(conn, entity_id, group, key))
    return 0 if not found else int(found[0][0])


#: ``usage_before``'s statement (no row for a group without charges), for a caller that
#: reads it as a scalar subquery of its own; its parameters are ``usage_before_parameters``'.
USAGE_BEFORE = (
    "SELECT CASE WHEN last_start IS NULL OR last_start < ? THEN used"
    f" ELSE ({_AHEAD}) END FROM usage_totals"
    " WHERE entity_id = ? AND customer_id = ? AND period = ? AND service = ? AND unit = ?"
)


def usage_before_parameters(
    conn: Connection,
    entity_id: int,
    group: tuple[int, str, str, str],
    key: tuple[datetime, str, str],
) -> tuple[Any, ...]:
    """``USAGE_BEFORE``'s parameters for ``group`` and ``key`` (as ``usage_before``)."""
    parameters = _ahead_parameters(conn, entity_id, group, key)
    return (parameters[5], *parameters, entity_id, *group)


def _later(current: Any, offered: Any) -> Any:
    """The later of two nullable instants, in SQL (either may be NULL)."""
    return case(
        (current.is_(None), offered),
        (offered.is_(None), current),
        (offered > current, offered),
        else_=current,
    )


#: Changed groups from which the totals are updated by one statement from a staged copy
#: (an import's thousands of customers) rather than a statement a group (a push's few).
_STAGE_FROM_GROUPS = 1_000

#: The staging table of a large change: a session's temporary copy of the totals' columns.
_STAGE = Table(
    "usage_totals_stage",
    MetaData(),
    *(Column(c.name, c.type) for c in usage_totals.columns),
)


def add_usage(
    conn: Connection, entity_id: int, change: pl.DataFrame | list[tuple[Any, ...]]
) -> None:
    """Add ``change`` (``USAGE_SCHEMA``, as a frame or as rows: per group, the billed
    quantity the transaction's charges add or take away and their latest starts) to the
    running totals.

    Call it once, late in the transaction: on PostgreSQL the totals' rows stay locked until
    commit, so a long import that took them early would hold up every push to the same
    customers. The rows go in key order, so two transactions cannot deadlock over them. On
    PostgreSQL a large change is copied into a session's staging table and applied by one
    ``INSERT ... SELECT ... ON CONFLICT``; a small one, and SQLite's (which binds in
    process, without a round trip a row), by one prepared statement over the groups."""
    rows = sorted(
        change.select(list(USAGE_SCHEMA)).rows() if isinstance(change, pl.DataFrame) else change
    )
    if not rows:
        return
    postgres = conn.dialect.name == "postgresql"
    if postgres and len(rows) >= _STAGE_FROM_GROUPS:
        conn.exec_driver_sql(
            "CREATE TEMPORARY TABLE IF NOT EXISTS usage_totals_stage AS"
            " SELECT * FROM usage_totals WHERE 1 = 0"
        )
        conn.exec_driver_sql("DELETE FROM usage_totals_stage")
        staged = pl.DataFrame(rows, schema=USAGE_SCHEMA, orient="row")
        insert_frame(conn, _STAGE, staged.with_columns(pl.lit(entity_id).alias("entity_id")))
        conn.execute(_add_usage_statement(postgres, staged=True))
        return
    names = list(USAGE_SCHEMA)
    conn.execute(
        _add_usage_statement(postgres, staged=False),
        [{"entity_id": entity_id, **dict(zip(names, row, strict=True))} for row in rows],
    )


@functools.cache
def _add_usage_statement(postgres: bool, *, staged: bool) -> Any:
    """``add_usage``'s upsert, of the rows bound to it or (``staged``) of the staging table's,
    built once."""
    dialect = postgresql if postgres else sqlite
    t = usage_totals.c
    statement = dialect.insert(usage_totals)
    if staged:
        copied = _STAGE.c
        statement = statement.from_select(
            [c.name for c in usage_totals.columns],
            select(*(copied[c.name] for c in usage_totals.columns)).order_by(
                copied.customer_id, copied.period, copied.service, copied.unit
            ),
        )
    return statement.on_conflict_do_update(
        index_elements=["entity_id", "customer_id", "period", "service", "unit"],
        set_={
            "used": t.used + statement.excluded.used,
            "last_start": _later(t.last_start, statement.excluded.last_start),
            "last_tiered": _later(t.last_tiered, statement.excluded.last_tiered),
        },
    )


#: Customer-cycles are placed under PostgreSQL advisory locks of this many buckets an entity
#: (a customer's bucket: its id modulo this): bounded, so that an import touching every
#: customer holds no more locks than the server's lock table spares.
PLACING_BUCKETS = 1024

#: The first key of the placing locks (schema-qualified, as the close lock's); the second is
#: the entity's bucket.
_PLACING_LOCK_CLASS_SQL = "hashtext(current_schema() || '/ratebook-placing')"


def placing_locks(conn: Connection, entity_id: int, customer_ids: set[int]) -> None:
    """Wait for, then hold until the transaction ends, the placing locks of these customers'
    cycles (PostgreSQL; SQLite has one writer at a time). A writer takes them before it first
    reads a customer-cycle's usage and places records in it, so two writers placing records
    in one cycle take turns: the second reads the cycle as the first committed it. Without
    them, each would place its records among the charges it read, neither seeing the
    other's, and a charge the two records together move to another tier would keep its old
    price. Buckets go in ascending order; a later call of the same transaction may take
    lower ones, and a deadlock that makes is ended by the database and the intake's
    transaction tried again (``usage.storing``)."""
    if conn.dialect.name != "postgresql" or not customer_ids:
        return
    buckets = sorted({entity_id * PLACING_BUCKETS + c % PLACING_BUCKETS for c in customer_ids})
    driver.rows(
        conn,
        f"SELECT pg_advisory_xact_lock({_PLACING_LOCK_CLASS_SQL}, CAST(b AS integer))"
        " FROM unnest(CAST(? AS bigint[])) AS b",
        (buckets,),
    )


#: Groups asked about by one statement of ``places_since``.
_GROUPS_A_STATEMENT = 500

#: A ``UtcDateTime`` column as whole microseconds since 1970 (``pipeline.place_each.Place``):
#: SQLite holds it as text ``YYYY-MM-DD HH:MM:SS.ffffff``; PostgreSQL's parts are exact.
_MICROSECONDS = {
    # the whole seconds alone to strftime, which would round .9995 up to the next second
    "sqlite": (
        "CAST(strftime('%s', substr({0}, 1, 19)) AS INTEGER) * 1000000"
        " + CAST(substr({0}, 21) AS INTEGER)"
    ),
    "postgresql": (
        "CAST(EXTRACT(EPOCH FROM date_trunc('second', {0})) AS bigint) * 1000000"
        " + mod(CAST(EXTRACT(MICROSECONDS FROM {0}) AS bigint), 1000000)"
    ),
}


def places_since(
    conn: Connection, entity_id: int, since: dict[tuple[Any, ...], datetime]
) -> dict[tuple[Any, ...], list[Place]]:
    """The places of the current charges of each group (``customer_id``, ``period``,
    ``service``, ``unit``) in ``since`` whose record starts at its instant or later, by group,
    in no particular order.

    Each group is one range of ``ix_rated_charges_place``, read without visiting a charge's
    row or its record: the groups are joined in as a list of values."""
    found: dict[tuple[Any, ...], list[Place]] = {}
    groups = sorted(since.items())
    postgres = conn.dialect.name == "postgresql"
    start = _MICROSECONDS["postgresql" if postgres else "sqlite"].format("c.start_time")
    for at in range(0, len(groups), _GROUPS_A_STATEMENT):
        some = groups[at : at + _GROUPS_A_STATEMENT]
        cast = "CAST(? AS timestamptz)" if postgres else "?"
        values = ", ".join([f"(?, ?, ?, ?, ?, {cast})"] * len(some))
        params: list[Any] = []
        for n, (group, instant) in enumerate(some):
            params += [n, *group, driver.stored_instant(conn, instant)]
        rows = driver.rows(
            conn,
            f"WITH late (n, customer_id, period, service, unit, since) AS (VALUES {values})"
            f" SELECT late.n, c.id, {start}, c.origin, c.record_id, c.billed_quantity,"
            " c.rate_row_id FROM late JOIN rated_charges c ON c.entity_id = ?"
            " AND c.customer_id = late.customer_id AND c.period = late.period"
            " AND c.service = late.service AND c.unit = late.unit"
            " AND c.start_time >= late.since AND c.superseded_by IS NULL",
            (*params, entity_id),
        )
        for n, *place in rows:
            found.setdefault(some[n][0], []).append(Place(*place))
    return found


@functools.cache
def _charges_by_id_statement() -> Any:
    """``charges_by_id``'s statement (parameter ``ids``), built once."""
    return select(*_charge_columns()).where(
        rated_charges.c.id.in_(bindparam("ids", expanding=True))
    )


def charges_by_id(conn: Connection, charge_ids: list[int]) -> pl.DataFrame:
    """These charges (``CHARGE_SCHEMA``), in ``charge_ids``' order: looked up by id alone (a
    condition on the entity would lead SQLite to scan the entity's index instead)."""
    return pl.DataFrame(charge_rows(conn, charge_ids), schema=CHARGE_SCHEMA, orient="row")


def charge_rows(conn: Connection, charge_ids: list[int]) -> list[tuple[Any, ...]]:
    """``charges_by_id`` as rows of ``CHARGE_SCHEMA``'s columns, in ``charge_ids``' order
    (an id not found left out)."""
    found: dict[int, tuple[Any, ...]] = {}
    for some in _chunks(charge_ids):
        for row in conn.execute(_charges_by_id_statement(), {"ids": some}):
            found[row[0]] = tuple(row)
    return [found[charge_id] for charge_id in charge_ids if charge_id in found]


#: ``replace_charges``' statements, built once.
_REPLACEMENT = insert(rated_charges).returning(rated_charges.c.id, sort_by_parameter_order=True)
#: A charge is superseded once: one already superseded is not matched (``replace_charges``
#: counts what it matched). The period keeps PostgreSQL to the charge's own partition.
_SUPERSEDE = (
    update(rated_charges)
    .where(
        rated_charges.c.id == bindparam("old"),
        rated_charges.c.period == bindparam("in_period"),
        rated_charges.c.superseded_by.is_(None),
    )
    .values(superseded_by=bindparam("new"))
)


def replace_charges(
    conn: Connection,
    replacements: pl.DataFrame,
    *,
    entity_id: int,
    batch_id: int,
    rated_at: datetime,
    seal: Seal | None = None,
) -> None:
    """Insert the new ratings of ``replacements`` (``CHARGE_SCHEMA``; ``charge_id`` is the
    charge each replaces, ``period`` its period) and mark the old ones superseded by them;
    ``seal`` seals both.

    Raises:
        ConflictError: ``CHARGE_NOT_CURRENT`` when a charge it replaces is no longer current
            (superseded by another transaction), so that a charge is never reversed twice.
    """
    if replacements.is_empty():
        return
    columns = [name for name in CHARGE_SCHEMA if name in rated_charges.c]
    rows = [
        {
            **{name: row[name] for name in columns if name != "charge_id"},
            "entity_id": entity_id,
            "batch_id": batch_id,
            "rated_at": rated_at,
        }
        for row in replacements.iter_rows(named=True)
    ]
    if seal is not None:
        seal.add_rows("charges", rows)
    new_ids = conn.execute(_REPLACEMENT, rows).scalars()
    pairs = [
        {"old": old, "in_period": period, "new": new}
        for old, period, new in zip(
            replacements["charge_id"].to_list(),
            replacements["period"].to_list(),
            new_ids,
            strict=True,
        )
    ]
    if seal is not None:
        seal.add_rows(
            "supersedes", [{"charge_id": p["old"], "superseded_by": p["new"]} for p in pairs]
        )
    matched = conn.execute(_SUPERSEDE, pairs).rowcount
    if matched != len(pairs):
        raise ConflictError(
            "CHARGE_NOT_CURRENT",
            f"{len(pairs) - matched} of the {len(pairs)} charge(s) this re-rating replaces"
            " were already replaced; nothing was stored",
        )


def period_customers(conn: Connection, entity_id: int, period: str) -> list[int]:
    """The customers with a current charge in ``period``, by id."""
    c = rated_charges.c
    found = conn.execute(
        select(c.customer_id)
        .where(c.entity_id == entity_id, c.period == period, c.superseded_by.is_(None))
        .distinct()
        .order_by(c.customer_id)
    )
    return [int(i) for i in found.scalars()]


def period_charges(
    conn: Connection, entity_id: int, period: str, customer_ids: list[int] | None = None
) -> pl.DataFrame:
    """Every current charge of ``period`` (of these customers, or all), with its record
    (``RECORD_SCHEMA``), in record order."""
    c, r = rated_charges.c, usage_records.c
    statement = (
        select(
            *_charge_columns(),
            customers.c.account,
            r.quantity,
            r.destination,
            r.disposition,
        )
        .select_from(
            rated_charges.join(usage_records, r.id == c.record_pk).join(
                customers, customers.c.id == c.customer_id
            )
        )
        .where(c.entity_id == entity_id, c.period == period, c.superseded_by.is_(None))
        .order_by(c.customer_id, r.start_time, r.origin, r.record_id)
    )
    if customer_ids is not None:
        statement = statement.where(c.customer_id.in_(customer_ids))
    return query_frame(conn, statement, RECORD_SCHEMA)


def cycle_status(conn: Connection, entity_id: int, period: str) -> str | None:
    """The billing cycle's status (open | closing | closed), or None if it has no row yet."""
    c = billing_cycles.c
    status = conn.execute(
        select(c.status).where(c.entity_id == entity_id, c.period == period)
    ).scalar_one_or_none()
    return None if status is None else str(status)
