"""charge places

Each charge carries its record's place in its customer-cycle: the group's service and unit
and the order (start_time, origin, record_id), copied from the record. The index
ix_rated_charges_place (entity, customer, period, service, unit, order, then whether the
charge is current, the cycle it was posted to, its billed quantity, charge, rate row and id)
replaces ix_rated_charges_customer_period, whose columns it begins with: placing a late
record, a quote's place in its cycle and the ledger check of a customer's cycles read it
alone instead of every charge's row and record.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-06 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The copied columns, as their records have them.
_COPIED = (
    ("service", sa.String(length=32)),
    ("unit", sa.String(length=16)),
    ("start_time", sa.DateTime()),
    ("origin", sa.String(length=64)),
    ("record_id", sa.String(length=255)),
)

_PLACE = (
    "entity_id, customer_id, period, service, unit, start_time, origin, record_id,"
    " superseded_by, posted_period, billed_quantity, charge, rate_row_id, id"
)


def upgrade() -> None:
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    for name, kind in _COPIED:
        if postgres and name == "start_time":
            kind = sa.DateTime(timezone=True)
        op.add_column("rated_charges", sa.Column(name, kind, nullable=True))
    names = ", ".join(name for name, _ in _COPIED)
    if postgres:
        op.execute(
            f"UPDATE rated_charges c SET ({names}) = (r.service, r.unit, r.start_time, r.origin,"
            " r.record_id) FROM usage_records r WHERE r.id = c.record_pk"
        )
        for name, _ in _COPIED:
            op.alter_column("rated_charges", name, nullable=False)
    else:
        op.execute(
            f"UPDATE rated_charges SET ({names}) = (SELECT {names} FROM usage_records r"
            " WHERE r.id = rated_charges.record_pk)"
        )
        with op.batch_alter_table("rated_charges") as batch:
            for name, kind in _COPIED:
                batch.alter_column(name, existing_type=kind, nullable=False)
    op.drop_index("ix_rated_charges_customer_period", table_name="rated_charges")
    op.execute(f"CREATE INDEX ix_rated_charges_place ON rated_charges ({_PLACE})")
    if postgres:
        op.execute("ANALYZE rated_charges")


def downgrade() -> None:
    op.drop_index("ix_rated_charges_place", table_name="rated_charges")
    op.execute(
        "CREATE INDEX ix_rated_charges_customer_period ON rated_charges"
        " (entity_id, customer_id, period)"
    )
    with op.batch_alter_table("rated_charges") as batch:
        for name, _ in reversed(_COPIED):
            batch.drop_column(name)
