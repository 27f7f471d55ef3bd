"""``audit verify --deep --anchor`` finds every tampering of the billing rows, the invoices and
the audit chain, and raises no false alarm on a store nobody touched, on both stores.

Each tampering is made inside a transaction, checked from inside it, and rolled back.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

from ratebook.model.anchor import load_key
from ratebook.workflows.verify_audit import audit_findings, make_anchor, verify_audit
from tests.faults import story
from tests.faults.tamper import TAMPERINGS

TRIALS = 100


def test_every_tampering_is_found_and_nothing_else(engine: Engine, tmp_path: Path) -> None:
    story.build(engine, tmp_path)
    key = load_key(b"a secret kept outside the database")
    anchor = make_anchor(engine, now=datetime.now(UTC), key=key)
    assert anchor is not None
    clean = verify_audit(engine, deep=True, anchor=anchor, key=key)
    assert clean.findings == []
    assert clean.sealed > 0
    assert clean.rows > 0

    rng = random.Random(20261205)
    missed: list[str] = []
    for trial in range(TRIALS):
        tampering = TAMPERINGS[trial % len(TAMPERINGS)]
        with engine.connect() as conn:
            transaction = conn.begin()
            try:
                what = tampering(conn, rng)
                found = audit_findings(conn, deep=True, anchor=anchor, key=key)
                if not found.findings:
                    missed.append(what)
            finally:
                transaction.rollback()
    assert missed == []
    # the rolled-back tamperings left nothing behind: still no alarm
    assert verify_audit(engine, deep=True, anchor=anchor, key=key).findings == []


def test_an_anchor_signed_with_another_key_is_refused(engine: Engine, tmp_path: Path) -> None:
    story.entity(engine)
    anchor = make_anchor(
        engine, now=datetime.now(UTC), key=load_key(b"the operator's own secret key")
    )
    assert anchor is not None
    other = load_key(b"somebody else's secret, 32 bytes")
    found = verify_audit(engine, anchor=anchor, key=other).findings
    assert [(f.code, f.detail) for f in found] == [
        ("ANCHOR_MISMATCH", "the anchor's signature does not verify with this key")
    ]
