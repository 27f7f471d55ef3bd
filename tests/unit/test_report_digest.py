"""A report's inputs digest: the sum of its rows' SHA-256 digests modulo 2^256, per part,
hashed once more. Worked out here row by row in plain Python, and held to the vectorized one
whatever the rows' order and chunking."""

from __future__ import annotations

import hashlib

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from ratebook.billing.regulatory import InputsDigest

_ROWS = st.lists(
    st.tuples(st.integers(1, 10**12), st.one_of(st.none(), st.text(max_size=12))),
    min_size=0,
    max_size=40,
    unique_by=lambda r: r[0],
)


def _by_hand(parts: dict[str, list[tuple[int, str | None]]]) -> str:
    outer = hashlib.sha256()
    for name in sorted(parts):
        total = 0
        for charge_id, text in parts[name]:
            line = f"{charge_id}\x1f{chr(0) if text is None else text}"
            total += int(hashlib.sha256(line.encode("utf-8")).hexdigest(), 16)
        outer.update(name.encode("ascii") + b"\x1e" + (total % 2**256).to_bytes(32, "big"))
    return outer.hexdigest()


def _frame(rows: list[tuple[int, str | None]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"id": pl.Int64(), "text": pl.String()}, orient="row")


@settings(deadline=None, max_examples=60)
@given(_ROWS, _ROWS, st.randoms(use_true_random=False), st.integers(1, 7))
def test_the_digest_is_the_sum_of_row_digests_in_any_order(
    charges: list[tuple[int, str | None]],
    credits: list[tuple[int, str | None]],
    rng: object,
    chunk: int,
) -> None:
    shuffled = list(charges)
    rng.shuffle(shuffled)  # type: ignore[attr-defined]
    digest = InputsDigest()
    for start in range(0, max(len(shuffled), 1), chunk):
        digest.add("charges", _frame(shuffled[start : start + chunk]))
    digest.add("credits", _frame(credits))
    assert digest.hexdigest() == _by_hand({"charges": charges, "credits": credits})


def test_a_changed_row_changes_the_digest() -> None:
    def of(rows: list[tuple[int, str | None]]) -> str:
        digest = InputsDigest()
        digest.add("charges", _frame(rows))
        return digest.hexdigest()

    base = of([(1, "a"), (2, "b")])
    assert of([(2, "b"), (1, "a")]) == base
    assert of([(1, "a"), (2, "c")]) != base
    assert of([(1, "a")]) != base
    assert of([(1, "a"), (2, None)]) != base
