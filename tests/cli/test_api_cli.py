"""``ratebook entities`` and ``ratebook keys``: a key is printed once, listed by prefix
only, stored as a digest, and stops working when revoked."""

from __future__ import annotations

import hashlib
import json

from sqlalchemy import select

from ratebook.store.engine import open_store
from ratebook.store.tables import api_keys
from ratebook.workflows.manage_keys import authenticate
from tests.cli.test_cli import _cli


def test_entities_and_keys(db_url: str) -> None:
    code, _, err = _cli(
        db_url,
        "entities",
        "create",
        "SG1",
        "--name",
        "Other Pte Ltd",
        "--currency",
        "SGD",
        "--tz",
        "Asia/Singapore",
        "--region",
        "SG",
        "--mask-digits",
        "4",
        "--tax",
        "9",
        "--tax-label",
        "GST",
    )
    assert code == 0, err
    code, _, err = _cli(db_url, "entities", "create", "SG1", "--name", "Again")
    assert (code, err.strip()) == (
        1,
        "error: ENTITY_EXISTS entity SG1 already exists; nothing changed",
    )
    code, out, _ = _cli(db_url, "entities", "list", "--format", "json")
    listed = json.loads(out)
    assert [(e["code"], e["currency"], e["mask_digits"]) for e in listed] == [("SG1", "SGD", 4)]
    code, out, _ = _cli(db_url, "tax", "list", "--entity", "SG1", "--format", "json")
    assert [(t["category"], t["label"], t["rate"]) for t in json.loads(out)] == [("*", "GST", "9")]

    code, out, err = _cli(db_url, "keys", "create", "billing-bot", "--scope", "read,ingest")
    assert code == 0, err
    secret = out.strip()
    assert secret.startswith("rbk_")
    assert "cannot be shown again" in err
    code, _, err = _cli(db_url, "keys", "create", "billing-bot", "--scope", "read")
    assert code == 1
    assert "KEY_NAME_TAKEN" in err
    code, _, err = _cli(db_url, "keys", "create", "x", "--scope", "read,root")
    assert code == 1
    assert "UNKNOWN_SCOPE" in err

    code, out, _ = _cli(db_url, "keys", "list", "--format", "json")
    (row,) = json.loads(out)
    assert (row["name"], row["scopes"], row["prefix"]) == (
        "billing-bot",
        "ingest,read",
        secret[:12],
    )
    assert secret not in out

    engine = open_store(db_url)
    try:
        with engine.connect() as conn:
            (stored,) = conn.execute(select(api_keys.c.secret_sha256)).scalars().all()
        assert stored == hashlib.sha256(secret.encode()).hexdigest()
        assert authenticate(engine, secret) is not None
        code, out, _ = _cli(db_url, "keys", "revoke", "billing-bot")
        assert code == 0
        assert authenticate(engine, secret) is None
        code, _, err = _cli(db_url, "keys", "revoke", "billing-bot")
        assert code == 1
        assert "KEY_REVOKED" in err
    finally:
        engine.dispose()
