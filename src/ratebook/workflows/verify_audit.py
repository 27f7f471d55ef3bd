"""``ratebook audit verify [--deep] [--anchor FILE]`` and ``ratebook audit anchor``.

The plain check walks the hash chain. ``--deep`` also recomputes, from the rows the store
holds, every seal the audit entries committed (``store.seals``): each batch's records,
charges, superseded charges and postings, each close's billed intervals and invoice links,
each invoice's row and lines; and, row by row, each record's content digest and each
invoice's document digest. ``--anchor`` checks that the chain still holds an anchored head
(``model.anchor``), which catches a cut-off tail and a chain rehashed after a forgery.

What each finds is listed in ``docs/review.md``. Everything is read a page at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine

from ratebook.model.anchor import Anchor, AnchorKey, check_signature, sign
from ratebook.model.audit import first_break
from ratebook.store import audit
from ratebook.store.checks import check_store
from ratebook.store.engine import reading, snapshot
from ratebook.store.entities import list_entities
from ratebook.store.seal_check import AuditReport, Expected, Finding, Progress, recompute


def verify_audit(
    engine: Engine,
    *,
    deep: bool = False,
    anchor: Anchor | None = None,
    key: AnchorKey | None = None,
    progress: Progress | None = None,
) -> AuditReport:
    """Walk the chain, and with ``deep`` recompute every seal; check ``anchor`` (and its
    signature with ``key``) against the chain. Reads one snapshot, beside any writer."""
    with snapshot(engine) as conn:
        return audit_findings(conn, deep=deep, anchor=anchor, key=key, progress=progress)


def audit_findings(
    conn: Connection,
    *,
    deep: bool = False,
    anchor: Anchor | None = None,
    key: AnchorKey | None = None,
    progress: Progress | None = None,
) -> AuditReport:
    """``verify_audit`` on what ``conn`` sees."""
    report = AuditReport()
    expected = Expected()
    anchored: str | None = None

    def walked() -> Iterator[dict[str, Any]]:
        nonlocal anchored
        for entry in audit.walk(conn):
            report.entries += 1
            report.head = (int(entry["id"]), str(entry["hash"]))
            if anchor is not None and int(entry["id"]) == anchor.sequence:
                anchored = str(entry["hash"])
            if deep:
                expected.take(entry)
            yield entry

    broken = first_break(walked())
    if broken is not None:
        report.findings.append(
            Finding(
                code="AUDIT_CHAIN_BROKEN",
                where=f"at entry {broken.entry_id}",
                detail=broken.problem,
            )
        )
    if anchor is not None:
        report.findings += _anchor_findings(anchor, anchored, key)
    if deep:
        recompute(conn, expected, report, progress)
        # the ledger's invariants name the customer-cycle or invoice a changed amount shows in
        for entity in list_entities(conn):
            for violation in check_store(conn, entity.id).violations:
                report.findings.append(
                    Finding(
                        code=violation.code,
                        where=f"{entity.code} {violation.subject}",
                        detail=violation.detail,
                    )
                )
    return report


def _anchor_findings(anchor: Anchor, found: str | None, key: AnchorKey | None) -> list[Finding]:
    where = f"anchor of entry {anchor.sequence} ({anchor.at})"
    findings = []
    if key is not None:
        try:
            check_signature(anchor, key)
        except ValueError as exc:
            findings.append(Finding(code="ANCHOR_MISMATCH", where=where, detail=str(exc)))
    if found is None:
        findings.append(
            Finding(
                code="ANCHOR_MISMATCH",
                where=where,
                detail="the chain no longer holds the anchored entry: entries were removed",
            )
        )
    elif found != anchor.hash:
        findings.append(
            Finding(
                code="ANCHOR_MISMATCH",
                where=where,
                detail="the anchored entry's hash differs: the chain was rewritten",
            )
        )
    return findings


def make_anchor(engine: Engine, *, now: datetime, key: AnchorKey | None = None) -> Anchor | None:
    """The chain's head now, signed with ``key`` if given; None for an empty chain."""
    with reading(engine).connect() as conn:
        head = audit.head(conn)
    if head is None:
        return None
    anchor = Anchor(
        sequence=head[0], hash=head[1], at=now.strftime("%Y-%m-%dT%H:%M:%SZ"), signature=None
    )
    return anchor if key is None else sign(anchor, key)
