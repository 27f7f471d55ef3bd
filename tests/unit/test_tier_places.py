"""Whether a stored charge moved to a new place changes tiers: the shortcut the late-record
path takes (``scalar.same_parts``) agrees with comparing the tiers each place prices."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ratebook.pipeline.compiled import Ladder
from ratebook.pipeline.scalar import ladder_parts, same_parts

_LADDERS = st.builds(
    Ladder,
    st.sampled_from(["graduated", "volume"]),
    # tiers from some quantity up, possibly from above nothing, possibly two from one quantity
    st.lists(st.integers(0, 500), min_size=1, max_size=5).map(
        lambda lows: tuple((low, 100 + k) for k, low in enumerate(sorted(lows)))
    ),
    st.none(),
)


@given(_LADDERS, st.integers(0, 700), st.integers(0, 700), st.integers(0, 300))
def test_same_parts_agrees_with_the_tiers_each_place_prices(
    ladder: Ladder, before: int, after: int, billed: int
) -> None:
    expected = ladder_parts(ladder, before, billed) == ladder_parts(ladder, after, billed)
    assert same_parts(ladder, before, after, billed) is expected


def test_a_move_inside_one_tier_keeps_the_parts_and_across_a_boundary_changes_them() -> None:
    graduated = Ladder("graduated", ((0, 100), (600, 50)), None)
    # 60 units after 100 or after 400: both inside the first tier
    assert same_parts(graduated, 100, 400, 60)
    # after 560 they straddle 600: 40 in the first tier, 20 in the second
    assert not same_parts(graduated, 100, 560, 60)
    volume = Ladder("volume", ((0, 100), (600, 50)), None)
    # volume prices all units in the tier their last unit reaches
    assert same_parts(volume, 0, 539, 60)
    assert not same_parts(volume, 0, 541, 60)
