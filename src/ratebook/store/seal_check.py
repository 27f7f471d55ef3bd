"""Recomputing the seals of the billing rows (``store.seals``) from what the store holds, for
``audit verify --deep``: each batch's and close's rows, each invoice's row and lines, a page
at a time, compared with the seals the audit entries committed; and, row by row, each
record's content digest and each invoice's document digest."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import polars as pl
from sqlalchemy import Connection

from ratebook.pipeline.normalise import content_digests
from ratebook.store import sealed_rows
from ratebook.store.retention import purged_digest
from ratebook.store.seals import joined_digests

#: (tables done, tables) after each table of the deep check.
Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One thing the audit check found wrong.

    Attributes:
        code: ``AUDIT_CHAIN_BROKEN``, ``ANCHOR_MISMATCH``, ``SEAL_MISMATCH``, ``UNSEALED``,
            ``RECORD_ALTERED`` or ``INVOICE_ALTERED``.
        where: what it is about (an entry, a batch, a record, an invoice).
        detail: what differs.
    """

    code: str
    where: str
    detail: str


@dataclass(slots=True, kw_only=True)
class AuditReport:
    """What ``verify_audit`` checked and found.

    Attributes:
        entries: audit entries walked.
        head: the newest entry's id and hash.
        sealed: seals recomputed (deep only).
        rows: billing rows read (deep only).
        unsealed: batches written before seals existed, which cannot be checked.
        findings: every problem, in the order found.
    """

    entries: int = 0
    head: tuple[int, str] | None = None
    sealed: int = 0
    rows: int = 0
    unsealed: int = 0
    findings: list[Finding] = field(default_factory=list)


@dataclass(slots=True)
class Expected:
    """The seals the audit entries committed, gathered while the chain is walked."""

    batches: dict[int, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    unsealed_batches: set[int] = field(default_factory=set)
    invoices: dict[tuple[int, int], tuple[int, dict[str, Any]]] = field(default_factory=dict)
    closes: dict[tuple[int, str], int] = field(default_factory=dict)
    corrected: dict[int, str] = field(default_factory=dict)
    #: (entity, instant of a retention purge) -> the digest of the record ids it purged
    purges: dict[tuple[int, datetime], str] = field(default_factory=dict)

    def take(self, entry: dict[str, Any]) -> None:
        after = json.loads(entry["after"]) if entry["after"] else None
        if not isinstance(after, dict):
            return
        entry_id = int(entry["id"])
        batch = after.get("batch")
        if isinstance(batch, int):
            if isinstance(after.get("sealed"), dict):
                self.batches[batch] = (entry_id, after["sealed"])
            if entry["action"] == "cycle.close":
                self.closes[(int(entry["entity_id"]), str(entry["object_id"]))] = batch
        elif entry["object_type"] == "batch" and entry["action"] in ("import", "rerate"):
            self.unsealed_batches.add(int(entry["object_id"]))
        if entry["action"] == "invoice.issue" and isinstance(after.get("sealed"), dict):
            key = (int(entry["entity_id"]), int(entry["object_id"]))
            self.invoices[key] = (entry_id, after["sealed"])
        if entry["action"] == "retention.purge" and after.get("records_sha256"):
            at = datetime.fromisoformat(str(after["purged_at"]))
            self.purges[(int(entry["entity_id"]), at)] = str(after["records_sha256"])
        if entry["action"] == "exception.correct" and after.get("content_sha256"):
            self.corrected[int(after["record_pk"])] = str(after["content_sha256"])


class _Found:
    """Seals recomputed from the stored rows: per key, per kind, a running hash and a count."""

    def __init__(self) -> None:
        self.hashes: defaultdict[Any, dict[str, Any]] = defaultdict(dict)
        self.rows: defaultdict[Any, dict[str, int]] = defaultdict(dict)

    def feed(self, frame: pl.DataFrame, key: str | list[str], kind: str) -> None:
        """Add ``frame``'s rows (in written order) to the seal of each ``key`` value."""
        if frame.is_empty():
            return
        for group_key, part in frame.partition_by(key, as_dict=True, maintain_order=True).items():
            owner = group_key if len(group_key) > 1 else group_key[0]
            if owner not in self.hashes or kind not in self.hashes[owner]:
                self.hashes[owner][kind] = hashlib.sha256()
                self.rows[owner][kind] = 0
            self.hashes[owner][kind].update(joined_digests(part, kind))
            self.rows[owner][kind] += part.height

    def summary(self, owner: Any) -> dict[str, dict[str, object]]:
        return {
            kind: {"rows": self.rows[owner][kind], "sha256": self.hashes[owner][kind].hexdigest()}
            for kind in sorted(self.hashes.get(owner, {}))
        }


_TABLES = 6
#: The owner of rows no sealed batch or close can own.
_UNKNOWN = 0


def recompute(
    conn: Connection, expected: Expected, report: AuditReport, progress: Progress | None
) -> None:
    """Recompute every seal ``expected`` holds from the stored rows, a page at a time, and
    add to ``report`` each that differs, each record and invoice altered row by row, and
    the rows no seal covers."""
    found = _Found()
    done = 0

    def step(rows: int) -> None:
        nonlocal done
        done += 1
        report.rows += rows
        if progress is not None:
            progress(done, _TABLES)

    step(_records(conn, expected, found, report))
    for kind, pages in (
        ("charges", sealed_rows.charges(conn)),
        ("postings", sealed_rows.postings(conn)),
        ("supersedes", sealed_rows.supersedes(conn)),
    ):
        rows = 0
        for page in pages:
            rows += page.height
            # a posting with no batch was written before seals existed (or forged)
            found.feed(page.with_columns(pl.col("batch_id").fill_null(_UNKNOWN)), "batch_id", kind)
        step(rows)
    step(_close_rows(conn, expected, found))
    by_invoice = _Found()
    step(_invoices(conn, by_invoice, report))
    _compare(expected, found, by_invoice, report)


def _records(conn: Connection, expected: Expected, found: _Found, report: AuditReport) -> int:
    corrected = sealed_rows.first_corrections(conn)
    originals = pl.DataFrame(
        [(pk, sha) for pk, sha in corrected.items() if sha is not None],
        schema={"id": pl.Int64(), "_original": pl.String()},
        orient="row",
    )
    made = [pk for pk, sha in corrected.items() if sha is None]
    rows = 0
    purged: defaultdict[tuple[int, datetime], list[int]] = defaultdict(list)
    for page in sealed_rows.records(conn):
        rows += page.height
        # a purged record's content is gone: its digest cannot be recomputed, and the purge
        # that removed it must be on record (below)
        for entity_id, at, record_id in (
            page.filter(pl.col("purged_at").is_not_null())
            .select("entity_id", "purged_at", "id")
            .iter_rows()
        ):
            purged[(int(entity_id), at)].append(int(record_id))
        digests = content_digests(page)
        altered = page.with_columns(digests.alias("_content")).filter(
            pl.col("purged_at").is_null() & (pl.col("_content") != pl.col("content_sha256"))
        )
        for record in altered.head(10).iter_rows(named=True):
            report.findings.append(
                Finding(
                    code="RECORD_ALTERED",
                    where=f"record {record['origin']}/{record['record_id']} (id {record['id']})",
                    detail="its fields no longer match its content digest",
                )
            )
        for record in page.filter(pl.col("id").is_in(list(expected.corrected))).iter_rows(
            named=True
        ):
            if expected.corrected[int(record["id"])] != record["content_sha256"]:
                report.findings.append(
                    Finding(
                        code="RECORD_ALTERED",
                        where=f"record {record['origin']}/{record['record_id']}",
                        detail="its content differs from the correction the audit log records",
                    )
                )
        # a batch seals its records as imported: a corrected one by its first content, and a
        # record a correction made is sealed by the correction's entry instead
        as_imported = (
            page.filter(~pl.col("id").is_in(made))
            .join(originals, on="id", how="left")
            .with_columns(pl.coalesce("_original", "content_sha256").alias("content_sha256"))
        )
        found.feed(as_imported.drop("purged_at"), "batch_id", "records")
    for (entity_id, at), ids in purged.items():
        if expected.purges.get((entity_id, at)) != purged_digest(ids):
            report.findings.append(
                Finding(
                    code="RECORD_ALTERED",
                    where=f"{len(ids)} records marked purged at {at.isoformat()}",
                    detail="no retention purge on record removed exactly these records",
                )
            )
    return rows


def _close_rows(conn: Connection, expected: Expected, found: _Found) -> int:
    """Feed each close's billed intervals and invoice links into its batch's seal."""
    closes = pl.DataFrame(
        [(e, p, b) for (e, p), b in expected.closes.items()],
        schema={"entity_id": pl.Int64(), "period": pl.String(), "batch_id": pl.Int64()},
        orient="row",
    )
    rows = 0
    for pages, kind in (
        (sealed_rows.subscription_intervals(conn), "subscription_charges"),
        (sealed_rows.links(conn), "links"),
    ):
        for page in pages:
            rows += page.height
            owned = page.join(closes, on=["entity_id", "period"], how="left", maintain_order="left")
            # rows of a period no sealed close billed are kept apart, to be reported
            found.feed(owned.with_columns(pl.col("batch_id").fill_null(_UNKNOWN)), "batch_id", kind)
    return rows


def _invoices(conn: Connection, found: _Found, report: AuditReport) -> int:
    rows = 0
    number_of: dict[int, tuple[int, int]] = {}
    for page in sealed_rows.invoice_rows(conn):
        rows += page.height
        for invoice_id, entity_id, number in page.select("id", "entity_id", "number").iter_rows():
            number_of[int(invoice_id)] = (int(entity_id), int(number))
        found.feed(page, ["entity_id", "number"], "invoice")
        for number, document, digest in page.select(
            "number", "document", "document_sha256"
        ).iter_rows():
            if hashlib.sha256(document.encode()).hexdigest() != digest:
                report.findings.append(
                    Finding(
                        code="INVOICE_ALTERED",
                        where=f"invoice {number}",
                        detail="its document no longer has the SHA-256 frozen at issue",
                    )
                )
    keys = pl.DataFrame(
        [(i, e, n) for i, (e, n) in number_of.items()],
        schema={"invoice_id": pl.Int64(), "entity_id": pl.Int64(), "number": pl.Int64()},
        orient="row",
    )
    for page in sealed_rows.invoice_line_rows(conn):
        rows += page.height
        owned = page.join(keys, on="invoice_id", how="left", maintain_order="left")
        found.feed(
            owned.with_columns(pl.col("number").fill_null(-1)),
            ["entity_id", "number"],
            "invoice_lines",
        )
    return rows


def _compare(expected: Expected, found: _Found, invoices: _Found, report: AuditReport) -> None:
    for batch, (entry_id, sealed) in sorted(expected.batches.items()):
        report.sealed += 1
        recomputed = found.summary(batch)
        for kind in sorted(set(sealed) | set(recomputed)):
            if sealed.get(kind) != recomputed.get(kind):
                report.findings.append(
                    Finding(
                        code="SEAL_MISMATCH",
                        where=f"batch {batch} (audit entry {entry_id})",
                        detail=f"its {kind.replace('_', ' ')} differ from their seal: "
                        f"{_rows(sealed.get(kind))} sealed, {_rows(recomputed.get(kind))} found",
                    )
                )
    # batches older than the first sealed one were written before seals existed: they, and
    # rows no batch owns, can only be counted, unless the store has no such batches
    floor = min(expected.batches, default=None)
    owners = [o for o in found.hashes if isinstance(o, int) and o not in expected.batches]
    legacy = {o for o in owners if o != _UNKNOWN and (floor is None or o < floor)}
    legacy |= expected.unsealed_batches & set(owners)
    for owner in sorted(owners):
        if owner in legacy or (owner == _UNKNOWN and legacy):
            report.unsealed += 1
            continue
        kinds = ", ".join(k.replace("_", " ") for k in sorted(found.hashes[owner]))
        report.findings.append(
            Finding(
                code="UNSEALED",
                where="rows of no batch" if owner == _UNKNOWN else f"batch {owner}",
                detail=f"{kinds} that no audit entry seals",
            )
        )
    for key, (entry_id, sealed) in sorted(expected.invoices.items()):
        report.sealed += 1
        recomputed = invoices.summary(key)
        for kind in sorted(set(sealed) | set(recomputed)):
            if sealed.get(kind) != recomputed.get(kind):
                report.findings.append(
                    Finding(
                        code="SEAL_MISMATCH",
                        where=f"invoice {key[1]} (audit entry {entry_id})",
                        detail=f"its {kind.replace('_', ' ')} differ from their seal",
                    )
                )
    for key in sorted(set(invoices.hashes) - set(expected.invoices), key=str):
        report.findings.append(
            Finding(
                code="UNSEALED",
                where=f"invoice {key[1]}" if key[1] != -1 else "invoice lines of no invoice",
                detail="no audit entry seals it",
            )
        )


def _rows(seal: Any) -> str:
    return "no rows" if not seal else f"{seal['rows']} rows"
