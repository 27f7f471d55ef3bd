"""File a regulatory report, list the filings, and verify that a filed report still matches
the ledger.

A filing is an append-only row holding the report's CSV and manifest, with an audit entry
carrying its digests. Filing a period's report again once its figures changed (late usage, a
credit) makes an amendment: the next revision, naming the filing it amends, with the figures
that differ."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from ratebook.billing.regulatory import Difference, differences
from ratebook.errors import ConflictError, NotFoundError
from ratebook.model.actor import current_actor
from ratebook.model.parties import Entity
from ratebook.model.regulatory import Profile
from ratebook.store import audit, reports
from ratebook.store.engine import mapped_reads, snapshot
from ratebook.store.entities import get_entity
from ratebook.workflows.report_regulatory import Built, build_report, compute_report, manifest_text


@dataclass(frozen=True, slots=True, kw_only=True)
class Filing:
    """A filed report, as listings show it."""

    id: int
    period: str
    profile: str
    profile_version: str
    basis: str
    revision: int
    amends_id: int | None
    inputs_sha256: str
    csv_sha256: str
    filed_by: str
    filed_at: datetime

    @property
    def name(self) -> str:
        """How messages name it."""
        kind = "original" if self.revision == 0 else f"amendment {self.revision}"
        return (
            f"report {self.id} ({self.period}, {self.profile}@{self.profile_version},"
            f" {self.basis} basis, {kind})"
        )


def _filing(row: dict[str, Any]) -> Filing:
    return Filing(
        id=int(row["id"]),
        period=str(row["period"]),
        profile=str(row["profile"]),
        profile_version=str(row["profile_version"]),
        basis=str(row["basis"]),
        revision=int(row["revision"]),
        amends_id=row["amends_id"],
        inputs_sha256=str(row["inputs_sha256"]),
        csv_sha256=str(row["csv_sha256"]),
        filed_by=str(row["filed_by"]),
        filed_at=row["filed_at"],
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Filed:
    """A new filing, the report it filed, and (for an amendment) the filing it amends and
    the figures that differ from it."""

    filing: Filing
    built: Built
    amends: Filing | None = None
    keys: list[str] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)


def file_report(
    engine: Engine,
    *,
    period: str,
    profile: str = "generic",
    basis: str | None = None,
    entity_code: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Filed:
    """Build the report and record its filing (an amendment when the same report was filed
    before with other figures).

    Raises:
        ConflictError: ``REPORT_UNRECONCILED`` when the report does not reconcile with the
            ledger; ``REPORT_ALREADY_FILED`` when the last filing has the same figures.
    """
    built = build_report(
        engine,
        period=period,
        profile=profile,
        basis=basis,
        entity_code=entity_code,
        progress=progress,
    )
    if not built.computed.reconciliation.holds:
        r = built.computed.reconciliation
        raise ConflictError(
            "REPORT_UNRECONCILED",
            f"the report's revenue differs from the ledger's by {built.money(r.usage_difference)}"
            f" (usage) and {built.money(r.credit_difference)} (credits); nothing was filed",
        )
    now = datetime.now(UTC)
    actor = current_actor()
    try:
        with engine.begin() as conn:
            entity = get_entity(conn, entity_code)
            earlier = [
                _filing(row)
                for row in reports.filings(
                    conn, entity.id, period=period, profile=built.profile.profile
                )
                if row["basis"] == built.basis
            ]
            latest = earlier[-1] if earlier else None
            keys: list[str] = []
            changed: list[Difference] = []
            if latest is not None:
                if latest.csv_sha256 == built.csv_sha256:
                    raise ConflictError(
                        "REPORT_ALREADY_FILED",
                        f"{latest.name} has the same figures; nothing to amend",
                    )
                before = reports.filing(conn, entity.id, latest.id)
                assert before is not None
                keys, changed = differences(before["csv"], built.csv.decode("utf-8"))
            manifest = manifest_text(built)
            values = {
                "entity_id": entity.id,
                "period": period,
                "profile": built.profile.profile,
                "profile_version": built.profile.version,
                "basis": built.basis,
                "revision": 0 if latest is None else latest.revision + 1,
                "amends_id": None if latest is None else latest.id,
                "inputs_sha256": built.inputs_sha256,
                "csv_sha256": built.csv_sha256,
                "csv": built.csv.decode("utf-8"),
                "manifest": manifest,
                "filed_by": actor,
                "filed_at": now,
            }
            filing_id = reports.add_filing(conn, values)
            audit.record(
                conn,
                entity_id=entity.id,
                action="report.file",
                object_type="report",
                object_id=filing_id,
                after={
                    "period": period,
                    "profile": built.profile.profile,
                    "profile_version": built.profile.version,
                    "basis": built.basis,
                    "revision": values["revision"],
                    "amends": values["amends_id"],
                    "inputs_sha256": built.inputs_sha256,
                    "csv_sha256": built.csv_sha256,
                    "manifest_sha256": hashlib.sha256(manifest.encode()).hexdigest(),
                },
                at=now,
            )
    except IntegrityError:
        raise ConflictError(
            "REPORT_FILED_MEANWHILE",
            f"another filing of the {period} report was made at the same time; run it again",
        ) from None
    filed = _filing({**values, "id": filing_id})
    return Filed(filing=filed, built=built, amends=latest, keys=keys, differences=changed)


def list_filings(
    engine: Engine, *, period: str | None = None, entity_code: str | None = None
) -> tuple[Entity, list[Filing]]:
    """The entity and its filings, oldest first."""
    with snapshot(engine) as conn:
        entity = get_entity(conn, entity_code)
        return entity, [_filing(row) for row in reports.filings(conn, entity.id, period=period)]


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """A filed report checked again.

    Attributes:
        problems: what no longer matches, in words; empty when it all matches.
        keys, differences: the figures that differ between the filed CSV and the one the
            ledger gives now.
        purged: records of the period whose raw content a retention purge removed: the
            report can no longer be recomputed from them.
    """

    filing: Filing
    problems: list[str]
    keys: list[str]
    differences: list[Difference]
    purged: int

    @property
    def matches(self) -> bool:
        return not self.problems


def verify_filing(engine: Engine, filing_id: int, *, entity_code: str | None = None) -> Verdict:
    """Recompute a filed report from the ledger as it is now, with the profile it was filed
    with, and compare: its inputs' digest, its CSV, and the filing's own row against the
    digests its audit entry committed.

    Raises:
        NotFoundError: ``UNKNOWN_REPORT``.
    """
    with snapshot(engine) as conn, mapped_reads(conn):
        entity = get_entity(conn, entity_code)
        # filings are numbered by a 32-bit key: a larger number names none
        row = reports.filing(conn, entity.id, filing_id) if 0 < filing_id < 2**31 else None
        if row is None:
            raise NotFoundError("UNKNOWN_REPORT", f"no filed report {filing_id}")
        filed = _filing(row)
        manifest = json.loads(row["manifest"])
        profile = Profile.model_validate(manifest["profile_definition"])
        built = compute_report(conn, entity, profile, filed.period, filed.basis)
        entries = audit.entries(
            conn,
            entity_id=entity.id,
            action="report.file",
            object_type="report",
            object_id=str(filing_id),
        )
        purged = reports.purged_records(conn, entity.id, filed.period)
    problems = []
    committed = json.loads(entries[0]["after"]) if entries else None
    own_sha = hashlib.sha256(str(row["csv"]).encode("utf-8")).hexdigest()
    if committed is None:
        problems.append("its audit entry is missing")
    elif (committed["csv_sha256"], committed["inputs_sha256"]) != (
        filed.csv_sha256,
        filed.inputs_sha256,
    ) or own_sha != filed.csv_sha256:
        problems.append("the filing itself was changed after it was filed")
    if built.inputs_sha256 != filed.inputs_sha256:
        problems.append(
            f"the ledger rows it was built from changed (inputs {built.inputs_sha256[:12]}…,"
            f" filed {filed.inputs_sha256[:12]}…)"
        )
    keys, changed = differences(str(row["csv"]), built.csv.decode("utf-8"))
    if changed:
        problems.append(f"{len(changed)} figures differ from the filed report")
    return Verdict(filing=filed, problems=problems, keys=keys, differences=changed, purged=purged)
