"""Dedupe against the rule as written, row by row: taking rows in file order, the same id and
content as any row before it (in the batch or the store) is a duplicate; the same id with
other content an ``ID_CONFLICT`` naming where the id was first seen (its first known version,
which the store gives first); anything else is new."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from ratebook.model.usage import KNOWN_SCHEMA
from ratebook.pipeline.dedupe import dedupe

_IDS = st.sampled_from(["a", "b", "c", "d"])
_CONTENTS = st.sampled_from(["x", "y", "z"])


def _by_the_rule(
    rows: list[tuple[str, str]], known: list[tuple[str, str, str]]
) -> tuple[list[int], list[int], list[tuple[int, str]]]:
    """(new row_idx, duplicate row_idx, (conflict row_idx, reason)), one row at a time."""
    pairs = {(i, c) for i, c, _ in known}
    first_seen: dict[str, str] = {}
    for i, _, seen in known:  # an id's first version comes first
        first_seen.setdefault(i, seen)
    first_line: dict[str, int] = {}
    new: list[int] = []
    duplicates: list[int] = []
    conflicts: list[tuple[int, str]] = []
    for n, (record_id, content) in enumerate(rows):
        line = n + 2  # after the header
        if (record_id, content) in pairs:
            duplicates.append(n)
        elif record_id in first_seen or record_id in first_line:
            where = first_seen.get(record_id) or f"line {first_line[record_id]} of this file"
            conflicts.append(
                (
                    n,
                    f"record_id '{record_id}' was already seen with different content at "
                    f"{where}; both versions are kept",
                )
            )
        else:
            new.append(n)
        pairs.add((record_id, content))
        first_line.setdefault(record_id, line)
    return new, duplicates, conflicts


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(st.tuples(_IDS, _CONTENTS), max_size=12),
    known=st.lists(
        st.tuples(_IDS, _CONTENTS, st.sampled_from(["old.csv:3", "old.csv:9", "api:1"])),
        max_size=4,
        unique_by=lambda k: (k[0], k[1]),
    ),
)
def test_dedupe_follows_the_rule_row_by_row(
    rows: list[tuple[str, str]], known: list[tuple[str, str, str]]
) -> None:
    records = pl.DataFrame(
        {
            "row_idx": list(range(len(rows))),
            "line": [n + 2 for n in range(len(rows))],
            "record_id": [r[0] for r in rows],
            "content_sha256": [r[1] for r in rows],
            "quantity": [n * 10 for n in range(len(rows))],
        },
        schema={
            "row_idx": pl.Int64,
            "line": pl.Int64,
            "record_id": pl.String,
            "content_sha256": pl.String,
            "quantity": pl.Int64,
        },
    )
    # rows come in any order; file order is row_idx
    records = records.sample(fraction=1.0, shuffle=True, seed=len(rows) * 7 + len(known))
    stored = pl.DataFrame(
        [{"record_id": i, "content_sha256": c, "seen_at": s} for i, c, s in known],
        schema=KNOWN_SCHEMA,
    )
    new, duplicates, conflicts = dedupe(records, stored)
    want_new, want_duplicates, want_conflicts = _by_the_rule(rows, known)
    assert new["row_idx"].to_list() == want_new
    assert new.columns == records.columns
    assert new["quantity"].to_list() == [n * 10 for n in want_new]  # each row's own values
    assert sorted(duplicates["row_idx"].to_list()) == want_duplicates
    assert sorted(conflicts.select("row_idx", "reason").rows()) == want_conflicts
    assert set(conflicts["code"].to_list()) <= {"ID_CONFLICT"}
