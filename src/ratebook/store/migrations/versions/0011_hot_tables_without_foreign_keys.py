"""hot tables without foreign keys

usage_records and rated_charges are append-only and written only by the import paths, in
one transaction, with ids read from the reference data in that transaction; checking their
ten foreign keys per row took about half of a PostgreSQL import.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24 13:08:39.180248
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("rated_charges", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_rated_charges_rate_row_id_rate_rows"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_rated_charges_customer_id_customers"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_rated_charges_rate_table_id_rate_tables"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_rated_charges_record_pk_usage_records"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_rated_charges_version_id_rate_table_versions"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_rated_charges_batch_id_import_batches"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_rated_charges_entity_id_entities"), type_="foreignkey"
        )

    with op.batch_alter_table("usage_records", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_usage_records_entity_id_entities"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_usage_records_customer_id_customers"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_usage_records_batch_id_import_batches"), type_="foreignkey"
        )


def downgrade() -> None:
    with op.batch_alter_table("usage_records", schema=None) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f("fk_usage_records_batch_id_import_batches"),
            "import_batches",
            ["batch_id"],
            ["id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_usage_records_customer_id_customers"),
            "customers",
            ["customer_id"],
            ["id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_usage_records_entity_id_entities"), "entities", ["entity_id"], ["id"]
        )

    with op.batch_alter_table("rated_charges", schema=None) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f("fk_rated_charges_entity_id_entities"), "entities", ["entity_id"], ["id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_rated_charges_batch_id_import_batches"),
            "import_batches",
            ["batch_id"],
            ["id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_rated_charges_version_id_rate_table_versions"),
            "rate_table_versions",
            ["version_id"],
            ["id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_rated_charges_record_pk_usage_records"),
            "usage_records",
            ["record_pk"],
            ["id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_rated_charges_rate_table_id_rate_tables"),
            "rate_tables",
            ["rate_table_id"],
            ["id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_rated_charges_customer_id_customers"),
            "customers",
            ["customer_id"],
            ["id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_rated_charges_rate_row_id_rate_rows"),
            "rate_rows",
            ["rate_row_id"],
            ["id"],
        )
