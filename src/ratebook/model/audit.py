"""The audit chain's encoding: each entry's hash covers its fields and the previous entry's hash.

An entry is encoded as canonical JSON (sorted keys, no spaces, UTF-8) of every field but its own
hash; ``hash = sha256(encoding)``. The first entry's ``prev_hash`` is 64 zeros. Changing any
field of any entry, or removing or reordering entries, breaks the chain at that entry: its
recomputed hash no longer matches, or the next entry no longer points at it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64

#: The fields an entry's hash covers, in the stored entry (all but ``hash``).
HASHED = (
    "id",
    "at",
    "actor",
    "entity_id",
    "action",
    "object_type",
    "object_id",
    "before",
    "after",
    "prev_hash",
)


def canonical(value: Any) -> str:
    """Canonical JSON: sorted keys, no insignificant spaces, non-ASCII kept as UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(entry: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of an entry's canonical encoding."""
    body = canonical({name: entry[name] for name in HASHED})
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Break:
    """Where the chain is broken.

    Attributes:
        entry_id: the first entry that fails (the entry after the last good one).
        problem: what is wrong, in words.
    """

    entry_id: int
    problem: str


def first_break(entries: Iterable[Mapping[str, Any]]) -> Break | None:
    """Walk entries in id order; the first one whose hash or link is wrong, or None."""
    previous = GENESIS
    last_id: int | None = None
    for entry in entries:
        entry_id = int(entry["id"])
        if last_id is not None and entry_id != last_id + 1:
            return Break(entry_id, f"entries {last_id + 1}..{entry_id - 1} are missing")
        if entry["prev_hash"] != previous:
            return Break(entry_id, "prev_hash does not match the previous entry's hash")
        if entry_hash(entry) != entry["hash"]:
            return Break(entry_id, "the entry's content does not match its hash")
        previous = str(entry["hash"])
        last_id = entry_id
    return None
