"""The relational schema, as SQLAlchemy Core tables; Alembic migrations create exactly this.

Conventions: every table has ``entity_id``; money and quantities are BIGINT at the scales of
``ratebook.money``; instants are UTC (``UtcDateTime``); rows that record what happened (usage
records, rated charges, ledger postings, import batches) are only ever inserted, except for the
few status columns named in their comments. ``usage_totals`` is the one running total: it is
derived from the current charges, kept up to date in the transactions that change them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC instant: TIMESTAMPTZ on PostgreSQL, naive-UTC text on SQLite.

    Binding a naive datetime is a bug and raises; results are always aware UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime bound to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # raw SQLite text from a bulk path
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
        return value.astimezone(UTC)  # type: ignore[no-any-return]


def _id() -> Column[int]:
    return Column("id", Integer, primary_key=True, autoincrement=True)


def _big_id() -> Column[int]:
    # BIGINT on PostgreSQL; plain INTEGER on SQLite so it is the rowid alias.
    return Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )


def _entity(*, checked: bool = True) -> Column[int]:
    if not checked:
        return Column("entity_id", Integer, nullable=False)
    return Column("entity_id", Integer, ForeignKey("entities.id"), nullable=False)


# Records, charges and postings are partitioned by period on PostgreSQL, one partition a
# month (migration 0027, ``store.partitions``); their primary key there is (id, period), and
# no foreign key can refer to them: exceptions, corrections and disputes name a record by its
# id alone.
#
# The hot tables of an import, usage_records and rated_charges, carry no foreign keys: they
# are append-only and written only by the import paths, in one transaction, with ids read
# from the reference data in that same transaction (and reference rows are never deleted).
# Checking seven keys per charge row would cost a large share of a PostgreSQL import (COPY),
# for no protection the code does not already give.


def _created() -> Column[datetime]:
    return Column("created_at", UtcDateTime, nullable=False)


entities = Table(
    "entities",
    metadata,
    _id(),
    Column("code", String(32), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("region", String(2), nullable=False),
    # invoicing floor at AMOUNT_SCALE: a payable total under it is carried forward
    Column("invoicing_floor", BigInteger, nullable=False),
    # places shown for charges and balances; no rate table may round finer than this
    Column("charge_places", Integer, nullable=False),
    Column("rounding_mode", String(16), nullable=False),
    # trailing digits of a destination number hidden on statements
    Column("mask_digits", Integer, nullable=False),
    _created(),
    # a balance may be carried at most this many cycles in a row (null: no limit)
    Column("max_carry_cycles", Integer, nullable=True),
    # the month (1-12) whose close ends the fiscal year: every balance is invoiced then
    Column("fiscal_year_end_month", Integer, nullable=True),
    # usage of a closed cycle: 'bill' it as late usage in the first open cycle, or 'reject' it
    # as a LATE_FOR_CLOSED_CYCLE exception
    Column("late_usage", String(8), nullable=False, server_default="bill"),
    # months the raw content of call records is kept (null: for ever); see retention purge
    Column("retention_months", Integer, nullable=True),
    # JSON {"national_prefix": ..., "international_prefixes": [...]}: the switches' own dial
    # plan where it is not the region's
    Column("dial_plan", Text, nullable=True),
)

tax_rates = Table(
    "tax_rates",
    metadata,
    _id(),
    _entity(),
    # an invoice line category (a service such as voice, or a plan's category); '*' for any
    Column("category", String(32), nullable=False),
    Column("treatment", String(16), nullable=False),  # standard | zero | exempt
    Column("rate_ppm", Integer, nullable=False),  # 8% is 80_000
    Column("label", String(64), nullable=False),  # printed on invoices, e.g. SST
    _created(),
    UniqueConstraint("entity_id", "category"),
)

customers = Table(
    "customers",
    metadata,
    _id(),
    _entity(),
    Column("account", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("status", String(16), nullable=False),  # active | closed (status may change)
    Column("invoicing_floor", BigInteger, nullable=True),  # overrides the entity's
    _created(),
    Column("closed_at", UtcDateTime, nullable=True),
    # retail | wholesale: how regulatory reports split revenue (status may change)
    Column("segment", String(16), nullable=False, server_default="retail"),
    UniqueConstraint("entity_id", "account"),
)

customer_identifiers = Table(
    "customer_identifiers",
    metadata,
    _id(),
    _entity(),
    Column("customer_id", Integer, ForeignKey("customers.id"), nullable=False),
    # account | number | prefix | meter | subject
    Column("kind", String(16), nullable=False),
    Column("value", String(64), nullable=False),
    Column("valid_from", UtcDateTime, nullable=True),  # null: since always
    Column("valid_to", UtcDateTime, nullable=True),  # null: open-ended; half-open [from, to)
    _created(),
    Index("ix_customer_identifiers_lookup", "entity_id", "kind", "value"),
)

rate_tables = Table(
    "rate_tables",
    metadata,
    _id(),
    _entity(),
    Column("name", String(100), nullable=False),
    Column("description", Text, nullable=True),
    _created(),
    UniqueConstraint("entity_id", "name"),
)

rate_table_versions = Table(
    "rate_table_versions",
    metadata,
    _id(),
    _entity(),
    Column("rate_table_id", Integer, ForeignKey("rate_tables.id"), nullable=False),
    # in force from this instant until the next version's; given as a local date in `timezone`
    Column("effective_from", UtcDateTime, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("rounding_mode", String(16), nullable=False),
    Column("rounding_places", Integer, nullable=False),
    Column("rounding_point", String(16), nullable=False),  # record | line
    # bands, holidays and policy limits as JSON text (the rating issue gives them behaviour)
    Column("spec", Text, nullable=False),
    Column("source_name", String(500), nullable=True),
    Column("source_sha256", String(64), nullable=True),
    # a correction of the version at the same effective_from is a new revision; the newest
    # revision prices, and every charge keeps the version (revision) that priced it
    Column("revision", Integer, nullable=False, server_default="1"),
    _created(),
    UniqueConstraint("rate_table_id", "effective_from", "revision"),
)

rate_rows = Table(
    "rate_rows",
    metadata,
    _id(),
    _entity(),
    Column("version_id", Integer, ForeignKey("rate_table_versions.id"), nullable=False),
    Column("service", String(32), nullable=False),
    Column("prefix", String(32), nullable=False),  # digits; '*' matches any destination
    Column("destination_name", String(200), nullable=False),
    Column("band", String(32), nullable=False),  # '*' in every band
    Column("price", BigInteger, nullable=False),  # per rate unit, PRICE_SCALE
    # the base unit quantities are measured in (s, msg, B, kWh, m3, call, req)
    Column("unit", String(16), nullable=False, server_default="s"),
    Column("rate_unit", BigInteger, nullable=False),  # QUANTITY_SCALE, e.g. 60 s = 60000
    Column("connect_fee", BigInteger, nullable=False),  # AMOUNT_SCALE
    Column("increment_initial", BigInteger, nullable=False),  # QUANTITY_SCALE
    Column("increment_subsequent", BigInteger, nullable=False),  # QUANTITY_SCALE
    Column("minimum_charge", BigInteger, nullable=False),  # AMOUNT_SCALE
    Column("tier_kind", String(16), nullable=True),  # graduated | volume
    Column("tiers", Text, nullable=True),  # JSON: [{"from": qty, "price": price}, ...]
    # a record's most cost before its discount (AMOUNT_SCALE), the quantity a record must
    # reach to be charged at all, and the quantity of each record not billed (both
    # QUANTITY_SCALE, in ``unit``): each None when unset
    Column("max_cost", BigInteger, nullable=True),
    Column("grace", BigInteger, nullable=True),
    Column("included", BigInteger, nullable=True),
    # the row's own rounding of a charge, both or neither (None: its version's)
    Column("rounding_mode", String(16), nullable=True),
    Column("rounding_places", Integer, nullable=True),
    # JSON: the steps after the row's own price within one record (``pipeline.steps``)
    Column("steps", Text, nullable=True),
    UniqueConstraint("version_id", "service", "prefix", "band"),
)

rate_assignments = Table(
    "rate_assignments",
    metadata,
    _id(),
    _entity(),
    Column("customer_id", Integer, ForeignKey("customers.id"), nullable=False),
    Column("rate_table_id", Integer, ForeignKey("rate_tables.id"), nullable=False),
    Column("role", String(16), nullable=False),  # base | override
    Column("discount_ppm", Integer, nullable=False),  # percentage discount, parts per million
    Column("valid_from", UtcDateTime, nullable=True),
    Column("valid_to", UtcDateTime, nullable=True),
    _created(),
    Index("ix_rate_assignments_customer", "entity_id", "customer_id"),
)

import_batches = Table(
    "import_batches",
    metadata,
    _id(),
    _entity(),
    Column("origin", String(64), nullable=False),
    Column("format", String(32), nullable=False),
    Column("source_kind", String(16), nullable=False),  # file | api | kafka | feed | rerate
    Column("source_name", String(500), nullable=False),
    Column("source_sha256", String(64), nullable=True),  # the file manifest key
    Column("size_bytes", BigInteger, nullable=True),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=False),
    Column("rows_read", BigInteger, nullable=False),
    Column("rated", BigInteger, nullable=False),
    Column("duplicates", BigInteger, nullable=False),
    Column("exceptions", BigInteger, nullable=False),
    # how the rows were read, so a clerk's corrected copy of a row is read the same way
    Column("columns", Text, nullable=True),  # JSON list of the rows' column names
    Column("feed_zone", String(64), nullable=True),  # zone of times without an offset
    Column("layout", Text, nullable=True),  # JSON: the mapping profile the rows were read by
    UniqueConstraint("entity_id", "source_sha256"),
)

usage_records = Table(
    "usage_records",
    metadata,
    _big_id(),
    _entity(checked=False),
    Column("origin", String(64), nullable=False),
    Column("record_id", String(255), nullable=False),
    Column("content_sha256", String(64), nullable=False),
    Column("service", String(32), nullable=False),
    Column("start_time", UtcDateTime, nullable=False),
    Column("quantity", BigInteger, nullable=False),  # QUANTITY_SCALE
    Column("unit", String(16), nullable=False),
    Column("account", String(64), nullable=True),
    Column("caller", String(64), nullable=True),
    Column("destination", String(64), nullable=True),
    Column("disposition", String(32), nullable=True),
    Column("direction", String(16), nullable=True),
    Column("attributes", Text, nullable=True),  # JSON object of the feed's other fields
    Column("customer_id", Integer, nullable=True),
    Column("status", String(16), nullable=False),  # rated | exception (status may change)
    # lineage
    Column("batch_id", Integer, nullable=False),
    Column("source_sha256", String(64), nullable=True),
    Column("source_line", BigInteger, nullable=True),
    Column("raw", Text, nullable=True),  # the source row as one CSV line (the corrected one)
    # when a retention purge removed the raw content (raw, numbers, attributes)
    Column("purged_at", UtcDateTime, nullable=True),
    # the destination's region and libphonenumber type, worked out when the record was stored
    # (null for a record stored before they were, or without a destination): what regulatory
    # reports group by, without reading every number back
    Column("destination_region", String(3), nullable=True),
    Column("destination_type", String(24), nullable=True),
    # billing cycle, YYYY-MM of the start in the entity's zone: its partition on PostgreSQL
    Column("period", String(7), nullable=False),
    Index("ix_usage_records_batch", "batch_id", "source_line"),
    postgresql_partition_by="RANGE (period)",
)

# The items of a parallel run (``ratebook ingest|rerate --workers N``) no worker has done
# yet: a worker claims some and deletes them in the transaction that does them, so an item
# is done once, and one whose worker died is claimed again. Empty between runs.
work_items = Table(
    "work_items",
    metadata,
    _entity(checked=False),
    Column("run_id", String(32), nullable=False),
    Column("item", BigInteger, nullable=False),  # a customer id, or a shard's number
    PrimaryKeyConstraint("run_id", "item"),
)

#: Number of hash partitions of ``record_keys`` on PostgreSQL.
RECORD_KEY_PARTITIONS = 16

# Every record's key, for ever: the exact and permanent check of an incoming id against all
# ids stored (a duplicate or an ID_CONFLICT), and the way from an id to its record. Narrow on
# purpose, so that the check reads a small index and a record's own table carries no string
# key. On PostgreSQL it is hash-partitioned on record_id (created by migration 0026): the
# same key a distributed deployment shards it by (docs/scaling.md).
record_keys = Table(
    "record_keys",
    metadata,
    _entity(checked=False),
    Column("origin", String(64), nullable=False),
    Column("record_id", String(255), nullable=False),
    # content_sha256 of the record's content as it stands (a correction changes it)
    Column("digest", String(64), nullable=False),
    Column("record_pk", BigInteger, nullable=False),
    PrimaryKeyConstraint("entity_id", "origin", "record_id"),
    postgresql_partition_by="HASH (record_id)",
)

rated_charges = Table(
    "rated_charges",
    metadata,
    _big_id(),
    _entity(checked=False),
    Column("record_pk", BigInteger, nullable=False),
    Column("customer_id", Integer, nullable=False),
    Column("period", String(7), nullable=False),  # billing cycle, YYYY-MM in the entity's zone
    # the cycle whose ledger its usage was posted to: ``period`` itself, or, for a record of a
    # closed cycle (late usage), the first open cycle when it was booked; decided under the
    # entity's lock by the transaction that books it, so a close knows what it bills without
    # comparing clocks
    Column("posted_period", String(7), nullable=False),
    # the record's place in its customer-cycle, copied from it: its group's service and unit
    # and its order (start, origin, id), so that placing a record reads the charges around
    # it from one index (``ix_rated_charges_place``) without visiting their records
    Column("service", String(32), nullable=False),
    Column("unit", String(16), nullable=False),
    Column("start_time", UtcDateTime, nullable=False),
    Column("origin", String(64), nullable=False),
    Column("record_id", String(255), nullable=False),
    Column("rate_table_id", Integer, nullable=True),
    Column("version_id", Integer, nullable=True),
    Column("rate_row_id", Integer, nullable=True),
    Column("prefix", String(32), nullable=True),
    Column("band", String(32), nullable=True),
    # tiered rows only: the tier, the cycle's usage of the service before this record, and
    # (graduated) the parts of the record in each tier as JSON [{tier, quantity, price}]
    Column("tier", Integer, nullable=True),
    Column("usage_before", BigInteger, nullable=True),
    Column("tier_split", Text, nullable=True),
    Column("billed_quantity", BigInteger, nullable=False),  # after increments, QUANTITY_SCALE
    Column("unit_price", BigInteger, nullable=False),  # PRICE_SCALE per rate unit
    Column("rate_unit", BigInteger, nullable=False),
    Column("connect_fee", BigInteger, nullable=False),
    Column("discount_ppm", Integer, nullable=False, server_default="0"),  # customer discount
    Column("charge", BigInteger, nullable=False),  # AMOUNT_SCALE, after rounding
    Column("rounding_mode", String(16), nullable=False),
    Column("rounding_places", Integer, nullable=False),
    Column("batch_id", Integer, nullable=False),
    Column("rated_at", UtcDateTime, nullable=False),
    # set once, when a re-rating replaces this charge; earlier ratings stay visible
    Column("superseded_by", BigInteger, nullable=True),
    # set once, when an invoice bills this charge: the line it is part of
    Column("invoice_line_id", BigInteger, nullable=True),
    # a cycle's charges in their order, with what placing and the ledger check read of each
    # (whether current, the cycle posted to, billed quantity, charge, rate row, id): they
    # read this index alone, never the table
    Index(
        "ix_rated_charges_place",
        "entity_id",
        "customer_id",
        "period",
        "service",
        "unit",
        "start_time",
        "origin",
        "record_id",
        "superseded_by",
        "posted_period",
        "billed_quantity",
        "charge",
        "rate_row_id",
        "id",
    ),
    Index("ix_rated_charges_record", "record_pk"),
    # the invoiced charges only: an import adds none, so it adds nothing to this index
    Index(
        "ix_rated_charges_invoice_line",
        "invoice_line_id",
        sqlite_where=text("invoice_line_id IS NOT NULL"),
        postgresql_where=text("invoice_line_id IS NOT NULL"),
    ),
    postgresql_partition_by="RANGE (period)",
)

# What each customer-cycle holds, per service and unit, so that placing new records on tiered
# rows reads one row per group instead of summing every charge the cycle holds, a cost that
# would grow with the cycle. Kept up to date by the
# transaction that books or re-rates charges (``store.cycles.add_usage``); the migration that
# made it filled it from the charges.
usage_totals = Table(
    "usage_totals",
    metadata,
    _entity(checked=False),
    Column("customer_id", Integer, nullable=False),
    Column("period", String(7), nullable=False),
    Column("service", String(32), nullable=False),
    Column("unit", String(16), nullable=False),
    Column("used", BigInteger, nullable=False),  # billed quantity of the current charges
    # the latest start among them, and among those on a tiered row; never earlier than the
    # truth (a re-rating onto a flat row leaves them), which only makes a later record's
    # placing look again at charges that then keep their price
    Column("last_start", UtcDateTime, nullable=True),
    Column("last_tiered", UtcDateTime, nullable=True),
    PrimaryKeyConstraint("entity_id", "customer_id", "period", "service", "unit"),
)

billing_cycles = Table(
    "billing_cycles",
    metadata,
    _id(),
    _entity(),
    Column("period", String(7), nullable=False),
    Column("starts_at", UtcDateTime, nullable=False),
    Column("ends_at", UtcDateTime, nullable=False),  # half-open [starts_at, ends_at)
    Column("status", String(16), nullable=False),  # open | closing | closed
    Column("closed_at", UtcDateTime, nullable=True),
    UniqueConstraint("entity_id", "period"),
)

ledger_postings = Table(
    "ledger_postings",
    metadata,
    _big_id(),
    _entity(),
    Column("customer_id", Integer, ForeignKey("customers.id"), nullable=False),
    Column("period", String(7), nullable=False),
    # usage | reversal | recurring | brought_forward | carried | credit | tax | adjustment
    Column("kind", String(24), nullable=False),
    Column("amount", BigInteger, nullable=False),  # AMOUNT_SCALE, signed
    Column("quantity", BigInteger, nullable=True),
    Column("records", BigInteger, nullable=False),
    Column("batch_id", Integer, ForeignKey("import_batches.id"), nullable=True),
    Column("reverses_id", BigInteger, nullable=True),
    Column("memo", String(500), nullable=True),
    # the invoice line category (service, plan category, 'rounding'); the period an amount
    # brought forward or billed late came from
    Column("category", String(32), nullable=True),
    Column("source_period", String(7), nullable=True),
    Column("posted_at", UtcDateTime, nullable=False),
    Index("ix_ledger_postings_customer_period", "entity_id", "customer_id", "period"),
    postgresql_partition_by="RANGE (period)",
)

exceptions = Table(
    "exceptions",
    metadata,
    _big_id(),
    _entity(),
    Column("batch_id", Integer, ForeignKey("import_batches.id"), nullable=False),
    Column("code", String(32), nullable=False),
    Column("sub_code", String(32), nullable=True),
    Column("field", String(64), nullable=True),
    Column("reason", Text, nullable=False),
    Column("status", String(16), nullable=False),  # open | in_review | resolved | rejected
    Column("assignee", String(100), nullable=True),
    Column("origin", String(64), nullable=False),
    Column("record_id", String(255), nullable=True),
    Column("record_pk", BigInteger, nullable=True),
    Column("content_sha256", String(64), nullable=True),
    Column("period", String(7), nullable=True),
    Column("source_sha256", String(64), nullable=True),
    Column("source_line", BigInteger, nullable=True),
    Column("raw", Text, nullable=True),  # the row's fields, re-serialised as one CSV line
    Column("payload", Text, nullable=True),  # JSON: the normalised values that were understood
    _created(),
    # review: how it was resolved (reprocessed | corrected | accepted | written_off), why, by
    # whom and when
    Column("resolution", String(16), nullable=True),
    Column("note", Text, nullable=True),
    Column("resolved_by", String(100), nullable=True),
    Column("resolved_at", UtcDateTime, nullable=True),
    # the queue's pages, newest first, by code or by status (``store.review.find``), and
    # the pending exceptions counted by code
    Index("ix_exceptions_entity_code", "entity_id", "code", "status", "id"),
    Index("ix_exceptions_entity_status", "entity_id", "status", "id"),
    Index("ix_exceptions_batch", "batch_id"),
    Index("ix_exceptions_record", "entity_id", "origin", "record_id"),
)

feed_files = Table(
    "feed_files",
    metadata,
    _big_id(),
    _entity(),
    Column("feed", String(100), nullable=False),
    Column("name", String(1000), nullable=False),  # relative to the feed's location
    # the last observation of the remote file; a change means a new delivery or a file in writing
    Column("size", BigInteger, nullable=False),
    Column("mtime", UtcDateTime, nullable=True),
    Column("etag", String(200), nullable=True),
    # seen | imported | done | refused | failed (state changes as the file moves along)
    Column("state", String(16), nullable=False),
    Column("sha256", String(64), nullable=True),
    Column("batch_id", Integer, ForeignKey("import_batches.id"), nullable=True),
    Column("detail", Text, nullable=True),
    Column("first_seen_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("entity_id", "feed", "name"),
)

feed_runs = Table(
    "feed_runs",
    metadata,
    _big_id(),
    _entity(),
    Column("feed", String(100), nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=False),
    Column("status", String(16), nullable=False),  # ok | failed
    Column("files_seen", Integer, nullable=False),
    Column("files_imported", Integer, nullable=False),
    Column("error", Text, nullable=True),
    Index("ix_feed_runs_feed", "entity_id", "feed", "started_at"),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    _id(),
    _entity(),
    Column("customer_id", Integer, ForeignKey("customers.id"), nullable=False),
    Column("reference", String(100), nullable=False),  # the operator's id for it
    Column("plan", String(200), nullable=False),
    Column("fee", BigInteger, nullable=False),  # AMOUNT_SCALE, per interval
    Column("interval", String(8), nullable=False),  # monthly | annual
    Column("billing", String(8), nullable=False),  # advance | arrears
    Column("starts_on", Date, nullable=False),  # first day of service
    Column("ends_on", Date, nullable=True),  # last day of service (status may change)
    Column("category", String(32), nullable=False),  # the invoice line category, for tax
    _created(),
    UniqueConstraint("entity_id", "reference"),
)

subscription_charges = Table(
    "subscription_charges",
    metadata,
    _big_id(),
    _entity(),
    Column("subscription_id", Integer, ForeignKey("subscriptions.id"), nullable=False),
    Column("service_from", Date, nullable=False),  # the service interval billed, inclusive
    Column("service_to", Date, nullable=False),
    Column("days", Integer, nullable=False),  # days of service in it
    Column("interval_days", Integer, nullable=False),  # days of the whole month or year
    Column("amount", BigInteger, nullable=False),  # AMOUNT_SCALE, prorated and rounded
    Column("period", String(7), nullable=False),  # the cycle that billed it
    Column("invoice_line_id", BigInteger, nullable=True),  # set once, when invoiced
    Column("posted_at", UtcDateTime, nullable=False),
    UniqueConstraint("subscription_id", "service_from"),
)

cycle_results = Table(
    "cycle_results",
    metadata,
    _big_id(),
    _entity(),
    Column("customer_id", Integer, ForeignKey("customers.id"), nullable=False),
    Column("period", String(7), nullable=False),
    Column("outcome", String(16), nullable=False),  # invoiced | carried
    Column("net", BigInteger, nullable=False),  # AMOUNT_SCALE, exact, before tax
    Column("tax", BigInteger, nullable=False),  # what tax would be / is
    Column("payable", BigInteger, nullable=False),  # net + tax, exact
    Column("carried", BigInteger, nullable=False),  # into the next cycle
    Column("streak", Integer, nullable=False),  # consecutive cycles carried, this one included
    Column("reason", String(32), nullable=True),  # why an invoice was forced, if it was
    Column("invoice_id", Integer, nullable=True),
    UniqueConstraint("entity_id", "customer_id", "period"),
)

invoices = Table(
    "invoices",
    metadata,
    _id(),
    _entity(),
    Column("number", Integer, nullable=False),  # gapless per entity
    Column("customer_id", Integer, ForeignKey("customers.id"), nullable=False),
    Column("period", String(7), nullable=False),
    Column("issued_at", UtcDateTime, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("net", BigInteger, nullable=False),  # AMOUNT_SCALE, exact sum of lines
    Column("tax", BigInteger, nullable=False),  # rounded to the minor unit
    Column("total", BigInteger, nullable=False),  # net + tax rounded to the minor unit
    Column("rounding", BigInteger, nullable=False),  # net + tax - total, carried forward
    Column("reason", String(32), nullable=False),  # floor | closure | max_cycles | fiscal_year_end
    # the hand-off document (canonical JSON), frozen at issue: every export is these bytes
    Column("document", Text, nullable=False),
    Column("document_sha256", String(64), nullable=False),
    UniqueConstraint("entity_id", "number"),
    UniqueConstraint("entity_id", "customer_id", "period"),
)

invoice_lines = Table(
    "invoice_lines",
    metadata,
    _big_id(),
    _entity(),
    Column("invoice_id", Integer, ForeignKey("invoices.id"), nullable=False),
    Column("line_no", Integer, nullable=False),
    # recurring | usage | volume_settlement | late_usage | brought_forward | credit | adjustment
    Column("kind", String(24), nullable=False),
    Column("category", String(32), nullable=False),
    Column("description", String(500), nullable=False),
    Column("service", String(32), nullable=True),
    Column("destination", String(200), nullable=True),
    Column("band", String(32), nullable=True),
    Column("unit", String(16), nullable=True),
    Column("quantity", BigInteger, nullable=True),  # QUANTITY_SCALE
    Column("unit_price", BigInteger, nullable=True),  # PRICE_SCALE per rate unit
    Column("rate_unit", BigInteger, nullable=True),  # QUANTITY_SCALE
    Column("records", BigInteger, nullable=False),
    Column("source_period", String(7), nullable=True),
    Column("amount", BigInteger, nullable=False),  # AMOUNT_SCALE, exact
    Column("tax_treatment", String(16), nullable=False),  # standard | zero | exempt | none
    Column("tax_rate_ppm", Integer, nullable=False),
    UniqueConstraint("invoice_id", "line_no"),
)

invoice_deliveries = Table(
    "invoice_deliveries",
    metadata,
    _big_id(),
    _entity(),
    Column("invoice_id", Integer, ForeignKey("invoices.id"), nullable=False),
    Column("url", String(1000), nullable=False),
    Column("idempotency_key", String(100), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("outcome", String(16), nullable=False),  # delivered | failed
    Column("error", Text, nullable=True),
    Column("attempted_at", UtcDateTime, nullable=False),
    Index("ix_invoice_deliveries_invoice", "invoice_id"),
)

corrections = Table(
    "corrections",
    metadata,
    _big_id(),
    _entity(),
    Column("exception_id", BigInteger, ForeignKey("exceptions.id"), nullable=False),
    # the record the corrected copy became (a new one, or the exception's own record)
    Column("record_pk", BigInteger, nullable=False),
    Column("changes", Text, nullable=False),  # JSON {field: [before, after]} of the raw row
    Column("raw", Text, nullable=False),  # the corrected row, as one CSV line
    Column("original", Text, nullable=True),  # JSON: the stored record before the correction
    Column("original_sha256", String(64), nullable=True),  # its content digest (a known version)
    Column("author", String(100), nullable=False),
    Column("reason", Text, nullable=False),
    _created(),
    Index("ix_corrections_exception", "exception_id"),
    Index("ix_corrections_record", "record_pk"),
)

disputes = Table(
    "disputes",
    metadata,
    _id(),
    _entity(),
    Column("number", Integer, nullable=False),  # per entity, as a clerk quotes it
    Column("customer_id", Integer, ForeignKey("customers.id"), nullable=False),
    Column("subject", String(16), nullable=False),  # record | invoice_line | invoice
    Column("record_pk", BigInteger, nullable=True),
    Column("invoice_line_id", BigInteger, ForeignKey("invoice_lines.id"), nullable=True),
    Column("invoice_id", Integer, ForeignKey("invoices.id"), nullable=True),
    Column("category", String(32), nullable=False),  # of a credit, so tax follows the charge
    Column("disputed", BigInteger, nullable=False),  # AMOUNT_SCALE: the most a credit can be
    Column("reason", Text, nullable=False),
    Column("status", String(16), nullable=False),  # open | investigating | resolved
    Column("outcome", String(16), nullable=True),  # upheld | rejected
    Column("credit", BigInteger, nullable=True),  # AMOUNT_SCALE, positive
    Column("credit_period", String(7), nullable=True),  # the cycle the credit was posted to
    Column("opened_by", String(100), nullable=False),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("resolved_at", UtcDateTime, nullable=True),
    UniqueConstraint("entity_id", "number"),
)

dispute_events = Table(
    "dispute_events",
    metadata,
    _big_id(),
    _entity(),
    Column("dispute_id", Integer, ForeignKey("disputes.id"), nullable=False),
    Column("kind", String(16), nullable=False),  # opened | comment | status | resolved
    Column("author", String(100), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("body", Text, nullable=False),
    Column("from_status", String(16), nullable=True),
    Column("to_status", String(16), nullable=True),
    Index("ix_dispute_events_dispute", "dispute_id"),
)

audit_log = Table(
    "audit_log",
    metadata,
    _big_id(),
    Column("at", String(32), nullable=False),  # UTC, ISO 8601 with microseconds and Z
    Column("actor", String(100), nullable=False),
    # null for a deployment-wide change; no foreign key, so the log never blocks a change
    Column("entity_id", Integer, nullable=True),
    Column("action", String(48), nullable=False),  # e.g. import, exception.reject
    Column("object_type", String(32), nullable=False),
    Column("object_id", String(100), nullable=False),
    Column("before", Text, nullable=True),  # canonical JSON
    Column("after", Text, nullable=True),  # canonical JSON
    Column("prev_hash", String(64), nullable=False),  # the previous entry's hash; zeros first
    Column("hash", String(64), nullable=False),  # SHA-256 of the canonical encoding
    UniqueConstraint("prev_hash"),  # one successor per entry: the chain cannot fork
    Index("ix_audit_log_entity_action", "entity_id", "action"),
)

api_keys = Table(
    "api_keys",
    metadata,
    _id(),
    _entity(),
    Column("name", String(100), nullable=False),  # who holds it; the audit log's actor
    Column("prefix", String(16), nullable=False),  # shown in listings to tell keys apart
    Column("secret_sha256", String(64), nullable=False),  # the key itself is never stored
    Column("scopes", String(100), nullable=False),  # comma-separated: ingest,read,review,admin
    Column("created_by", String(100), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime, nullable=True),  # the one column that changes
    UniqueConstraint("secret_sha256"),
    UniqueConstraint("entity_id", "name"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    _big_id(),
    _entity(),
    Column("key", String(255), nullable=False),  # the client's Idempotency-Key header
    Column("request_sha256", String(64), nullable=False),  # method, path and body
    Column("status", String(16), nullable=False),  # in_flight | done
    Column("response_status", Integer, nullable=True),
    Column("response_type", String(100), nullable=True),
    Column("response_body", Text, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("completed_at", UtcDateTime, nullable=True),
    UniqueConstraint("entity_id", "key"),
    Index("ix_idempotency_keys_created", "created_at"),  # the purge of expired keys
)

# A stream's consumed position: per consumer group, topic and partition, the next offset to
# apply. It is advanced in the transaction that stores the events before it, so the store,
# not the broker, is the truth of what was applied. ``epoch`` counts the assignments of the
# partition: a member commits only under the epoch it claimed, so one that lost the
# partition in a rebalance cannot.
stream_offsets = Table(
    "stream_offsets",
    metadata,
    Column("group_id", String(255), primary_key=True),
    Column("topic", String(255), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("next_offset", BigInteger, nullable=False),
    Column("epoch", BigInteger, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    # as last seen by the member: messages behind the partition's end, the last batch's
    # messages of the partition and its time in the store, and the error that stopped a batch
    # (cleared by the next one applied)
    Column("lag", BigInteger, nullable=True),
    Column("batch_messages", Integer, nullable=True),
    Column("batch_ms", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
)

# Filed regulatory reports, append-only: one row per filing of a report (an entity, period,
# profile version and basis). A filing made after an earlier one of the same report is an
# amendment naming it. The CSV is kept as filed, and the digests of its inputs (the ledger rows
# it read) and of its outputs are committed in the filing's audit entry.
regulatory_filings = Table(
    "regulatory_filings",
    metadata,
    _id(),
    _entity(),
    Column("period", String(7), nullable=False),
    Column("profile", String(64), nullable=False),
    Column("profile_version", String(32), nullable=False),
    Column("basis", String(16), nullable=False),  # usage | invoice
    Column("revision", Integer, nullable=False),  # 0 the original, then each amendment
    Column("amends_id", Integer, nullable=True),  # the filing this one amends
    Column("inputs_sha256", String(64), nullable=False),
    Column("csv_sha256", String(64), nullable=False),
    Column("csv", Text, nullable=False),  # the report's CSV as filed
    Column("manifest", Text, nullable=False),  # canonical JSON
    Column("filed_by", String(100), nullable=False),
    Column("filed_at", UtcDateTime, nullable=False),
    UniqueConstraint("entity_id", "period", "profile", "basis", "revision"),
)

# The web console's people. A user signs in with a password (only its argon2 hash is kept)
# and holds one role per entity; a user with no role in an entity does not see it.
users = Table(
    "users",
    metadata,
    _id(),
    Column("username", String(64), nullable=False),
    Column("password_hash", String(200), nullable=False),  # argon2id, with its parameters
    Column("created_by", String(100), nullable=False),
    _created(),
    Column("password_changed_at", UtcDateTime, nullable=False),
    Column("disabled_at", UtcDateTime, nullable=True),  # a disabled user cannot sign in
    UniqueConstraint("username"),
)

user_roles = Table(
    "user_roles",
    metadata,
    _id(),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    _entity(),
    Column("role", String(16), nullable=False),  # viewer | reviewer | admin
    UniqueConstraint("user_id", "entity_id"),
)

# A signed-in console session: the cookie holds a random token, the store only its SHA-256,
# and the form token (CSRF) every change the session makes must carry.
console_sessions = Table(
    "console_sessions",
    metadata,
    _id(),
    Column("token_sha256", String(64), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    _created(),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("ended_at", UtcDateTime, nullable=True),  # signed out
    UniqueConstraint("token_sha256"),
)
