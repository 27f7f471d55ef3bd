"""What ``ratebook explain`` reads of a record: the record with its source, its customer, every
rating of it with its rate table, version and row, and its exceptions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from ratebook.store.tables import (
    customers,
    exceptions,
    import_batches,
    rate_rows,
    rate_table_versions,
    rate_tables,
    rated_charges,
    record_keys,
    usage_records,
)


def records_named(
    conn: Connection, entity_id: int, record_id: str, origin: str | None
) -> list[dict[str, Any]]:
    """The records with this id (of one origin, or every), with their source's name."""
    r, k = usage_records.c, record_keys.c
    query = (
        select(usage_records, import_batches.c.source_name, import_batches.c.source_kind)
        .select_from(
            record_keys.join(usage_records, r.id == k.record_pk).join(
                import_batches, import_batches.c.id == r.batch_id
            )
        )
        .where(k.entity_id == entity_id, k.record_id == record_id)
        .order_by(k.origin)
    )
    if origin is not None:
        query = query.where(k.origin == origin)
    return [dict(row) for row in conn.execute(query).mappings()]


def customer_names(conn: Connection, customer_id: int) -> tuple[str, str]:
    """A customer's account and name."""
    account, name = conn.execute(
        select(customers.c.account, customers.c.name).where(customers.c.id == customer_id)
    ).one()
    return str(account), str(name)


def ratings(conn: Connection, record_pk: int) -> list[dict[str, Any]]:
    """Every rating of a record, oldest first, with its table, version and row."""
    c = rated_charges.c
    query = (
        select(
            rated_charges,
            rate_tables.c.name.label("table_name"),
            rate_table_versions.c.effective_from,
            rate_table_versions.c.spec.label("version_spec"),
            rate_rows.c.destination_name,
            rate_rows.c.increment_initial,
            rate_rows.c.increment_subsequent,
            rate_rows.c.minimum_charge,
            rate_rows.c.max_cost,
            rate_rows.c.grace,
            rate_rows.c.included,
            rate_rows.c.steps,
            rate_rows.c.tier_kind,
        )
        .select_from(
            rated_charges.outerjoin(rate_tables, rate_tables.c.id == c.rate_table_id)
            .outerjoin(rate_table_versions, rate_table_versions.c.id == c.version_id)
            .outerjoin(rate_rows, rate_rows.c.id == c.rate_row_id)
        )
        .where(c.record_pk == record_pk)
        .order_by(c.id)
    )
    return [dict(row) for row in conn.execute(query).mappings()]


def problems(
    conn: Connection, entity_id: int, record_pk: int, record_id: str, origin: str
) -> list[dict[str, Any]]:
    """The exceptions of a record (by its key, or its id where it never became one)."""
    x = exceptions.c
    query = (
        select(x.id, x.code, x.sub_code, x.reason, x.status)
        .where(
            x.entity_id == entity_id,
            (x.record_pk == record_pk) | ((x.record_id == record_id) & (x.origin == origin)),
        )
        .order_by(x.id)
    )
    return [dict(row) for row in conn.execute(query).mappings()]
