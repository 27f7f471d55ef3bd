"""Import customers, their numbers and rate-table assignments from a CSV file.

Columns: ``account,name,rate_table,numbers`` and optionally ``valid_from,valid_to``,
``override_table`` (a per-customer table whose rows win where they match), ``discount`` (a
percentage off every charge) and ``segment`` (``retail``, the default, or ``wholesale``: how
regulatory reports split revenue). ``numbers`` is a ``;``-separated list of numbers, or prefixes
ending in ``*``. The file is imported whole or
not at all; importing it again changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

from ratebook.errors import InputError
from ratebook.model.holdings import Assignment, Identifier
from ratebook.money import AmountError, parse_fixed
from ratebook.pipeline.numbers import NumberPlan, e164_one, e164_prefix, entity_plan
from ratebook.sources.csvread import reference_rows
from ratebook.sources.dates import parse_local_start
from ratebook.store import audit, parties, tariffs
from ratebook.store.entities import get_entity
from ratebook.store.reference_lock import lock_reference

REQUIRED = ("account", "name", "rate_table", "numbers")
#: A customer's segment: retail (end users) or wholesale (other carriers).
SEGMENTS = ("retail", "wholesale")


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomersResult:
    """Counts of what an import added."""

    rows: int
    customers_created: int
    identifiers_added: int
    assignments_added: int


@dataclass(frozen=True, slots=True, kw_only=True)
class _Row:
    line: int
    account: str
    name: str
    rate_table: str | None
    override_table: str | None
    discount_ppm: int
    segment: str | None
    numbers: list[Identifier]
    valid_from: datetime | None
    valid_to: datetime | None


def _read(path: Path, zone: str, plan: NumberPlan) -> list[_Row]:
    """The file's rows, each checked and its numbers normalised (``file:line: field``
    errors).

    One function: it checks each column of a row in the order the file gives them."""
    out: list[_Row] = []
    for line, row in reference_rows(path, REQUIRED):
        account = row["account"].strip()
        if not account:
            raise InputError(
                "MISSING_VALUE", "account is empty", path=path, line=line, field="account"
            )
        bounds: dict[str, datetime | None] = {}
        for key in ("valid_from", "valid_to"):
            text = (row.get(key) or "").strip()
            try:
                bounds[key] = parse_local_start(text, zone) if text else None
            except ValueError:
                raise InputError(
                    "BAD_DATE",
                    f"{text!r} is not a date (YYYY-MM-DD)",
                    path=path,
                    line=line,
                    field=key,
                ) from None
        start, end = bounds["valid_from"], bounds["valid_to"]
        if start and end and end <= start:
            raise InputError(
                "BAD_RANGE",
                "valid_to must be after valid_from",
                path=path,
                line=line,
                field="valid_to",
            )
        identifiers: list[Identifier] = []
        for item in (x.strip() for x in row["numbers"].split(";")):
            if not item:
                continue
            try:
                if item.endswith("*"):
                    identifiers.append(
                        Identifier(
                            kind="prefix",
                            value=e164_prefix(item[:-1], plan),
                            valid_from=start,
                            valid_to=end,
                        )
                    )
                else:
                    identifiers.append(
                        Identifier(
                            kind="number",
                            value=e164_one(item, plan),
                            valid_from=start,
                            valid_to=end,
                        )
                    )
            except ValueError as exc:
                raise InputError(
                    "BAD_NUMBER", str(exc), path=path, line=line, field="numbers"
                ) from None
        discount_text = (row.get("discount") or "").strip().rstrip("%") or "0"
        try:
            discount_ppm = parse_fixed(discount_text, 4)  # percent to parts per million
        except AmountError as exc:
            raise InputError(exc.code, str(exc), path=path, line=line, field="discount") from None
        if discount_ppm > 1_000_000:
            raise InputError(
                "BAD_DISCOUNT",
                "a discount is at most 100%",
                path=path,
                line=line,
                field="discount",
            )
        segment = (row.get("segment") or "").strip().lower() or None
        if segment not in (None, *SEGMENTS):
            raise InputError(
                "UNKNOWN_CHOICE",
                f"segment is {' or '.join(SEGMENTS)}, not {row['segment']!r}",
                path=path,
                line=line,
                field="segment",
            )
        out.append(
            _Row(
                line=line,
                account=account,
                name=row["name"].strip() or account,
                rate_table=row["rate_table"].strip() or None,
                override_table=(row.get("override_table") or "").strip() or None,
                discount_ppm=discount_ppm,
                segment=segment,
                numbers=identifiers,
                valid_from=start,
                valid_to=end,
            )
        )
    return out


def import_customers(
    engine: Engine, path: Path, *, entity_code: str | None = None
) -> CustomersResult:
    """Import a customers file in one transaction.

    Raises:
        InputError: located problems; nothing is imported then.

    One function: the checks against the store and the bulk writes are one transaction's steps.
    """
    now = datetime.now(UTC)
    with engine.begin() as conn:
        entity = get_entity(conn, entity_code)
        rows = _read(path, entity.timezone, entity_plan(entity))
        # what the store holds, read once; the file's rows are checked against it and
        # against the rows before them, in file order, then written together. The reference
        # lock, held to the commit (PostgreSQL), keeps another writer's numbers from slipping
        # in between the checks and the writes.
        lock_reference(conn, entity.id)
        known = parties.customer_accounts(conn, entity.id)
        held = parties.holdings(conn, entity.id)
        names = {row.account: row.name for row in rows}  # an account's last row names it
        fresh = [(account, name) for account, name in names.items() if account not in known]
        ids = {account: customer_id for account, (customer_id, _) in known.items()}
        ids.update(parties.add_customers(conn, entity.id, fresh, now=now))
        parties.rename_customers(
            conn,
            [
                (ids[account], name)
                for account, name in names.items()
                if account in known and known[account][1] != name
            ],
        )
        # an account's last row that names a segment sets it
        segments = {row.account: row.segment for row in rows if row.segment is not None}
        resegmented = parties.set_segments(
            conn, [(ids[account], segment) for account, segment in segments.items()]
        )
        tables: dict[str, int | None] = {}
        new_identifiers: list[tuple[int, Identifier]] = []
        new_assignments: list[Assignment] = []
        for row in rows:
            customer_id = ids[row.account]
            for identifier in row.numbers:
                owner = held.other_holder(customer_id, identifier)
                if owner is not None:
                    raise InputError(
                        "NUMBER_TAKEN",
                        f"{identifier.value} already belongs to customer {owner} over an"
                        " overlapping period",
                        path=path,
                        line=row.line,
                        field="numbers",
                    )
                if held.hold(customer_id, row.account, identifier):
                    new_identifiers.append((customer_id, identifier))
            for role, name, column in (
                ("base", row.rate_table, "rate_table"),
                ("override", row.override_table, "override_table"),
            ):
                if name is None:
                    continue
                if name not in tables:
                    tables[name] = tariffs.rate_table_id(conn, entity.id, name)
                table_id = tables[name]
                if table_id is None:
                    raise InputError(
                        "UNKNOWN_RATE_TABLE",
                        f"no rate table {name!r}: import it first with 'ratebook rates import'",
                        path=path,
                        line=row.line,
                        field=column,
                    )
                assignment = Assignment(
                    customer_id=customer_id,
                    rate_table_id=table_id,
                    role=role,
                    discount_ppm=row.discount_ppm if role == "base" else 0,
                    valid_from=row.valid_from,
                    valid_to=row.valid_to,
                )
                if held.assign(assignment):
                    new_assignments.append(assignment)
        parties.add_identifiers(conn, entity.id, new_identifiers, now=now)
        parties.add_assignments(conn, entity.id, new_assignments, now=now)
        created, identifiers, assignments = len(fresh), len(new_identifiers), len(new_assignments)
        if created or identifiers or assignments or resegmented:
            audit.record(
                conn,
                entity_id=entity.id,
                action="customers.import",
                object_type="file",
                object_id=str(path),
                after={
                    "rows": len(rows),
                    "customers_created": created,
                    "identifiers_added": identifiers,
                    "assignments_added": assignments,
                    "segments_changed": resegmented,
                },
                at=now,
            )
    return CustomersResult(
        rows=len(rows),
        customers_created=created,
        identifiers_added=identifiers,
        assignments_added=assignments,
    )
