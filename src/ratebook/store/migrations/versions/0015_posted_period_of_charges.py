"""the cycle each charge was posted to

A cycle close used to tell late usage (a record of a closed cycle, posted to the first open
one) from usage carried under the floor by comparing the charge's rating time with the
cycle's close time. A close that waited for an import's lock stamped a close time earlier
than the charges it had just billed, and the next close then billed them again as late usage.
``posted_period`` states where each charge's usage posting went; it is filled here from the
ledger: a charge whose batch posted ``late_usage`` for its customer and period went to that
posting's cycle, every other charge to its own period.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("rated_charges", sa.Column("posted_period", sa.String(length=7)))
    op.execute("UPDATE rated_charges SET posted_period = period")
    op.execute(
        "UPDATE rated_charges SET posted_period = ("
        " SELECT MIN(p.period) FROM ledger_postings p"
        " WHERE p.entity_id = rated_charges.entity_id"
        " AND p.customer_id = rated_charges.customer_id"
        " AND p.batch_id = rated_charges.batch_id"
        " AND p.kind = 'late_usage' AND p.source_period = rated_charges.period)"
        " WHERE EXISTS ("
        " SELECT 1 FROM ledger_postings p"
        " WHERE p.entity_id = rated_charges.entity_id"
        " AND p.customer_id = rated_charges.customer_id"
        " AND p.batch_id = rated_charges.batch_id"
        " AND p.kind = 'late_usage' AND p.source_period = rated_charges.period)"
    )
    # SQLite cannot make a column NOT NULL in place: batch mode rebuilds the table, and its
    # partial index is made again afterwards, as reflection may not keep its condition
    with op.batch_alter_table("rated_charges") as batch:
        batch.alter_column("posted_period", existing_type=sa.String(length=7), nullable=False)
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP INDEX IF EXISTS ix_rated_charges_invoice_line")
        op.create_index(
            "ix_rated_charges_invoice_line",
            "rated_charges",
            ["invoice_line_id"],
            sqlite_where=sa.text("invoice_line_id IS NOT NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("rated_charges") as batch:
        batch.drop_column("posted_period")
