"""Multi-index hashing against brute force: every pair within the threshold shares a probe."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streaming.index.bands import BandPlan, even, plan_bands, spread

MASK = 2**64 - 1


def signed(value: int) -> int:
    return value - 2**64 if value >= 2**63 else value


def distance(a: list[int], b: list[int]) -> int:
    return sum(bin((x ^ y) & MASK).count("1") for x, y in zip(a, b, strict=True))


def found_by_bands(plan, a: list[int], b: list[int]) -> bool:
    """b is a candidate of query a: one of a's probes equals one of b's stored band values."""
    return bool(bands_holding(plan, a, b))


def bands_holding(plan: BandPlan, a: list[int], b: list[int]) -> list[int]:
    """The bands where one of a's probes (its value XOR one of the band's masks) is b's value."""
    pairs = zip(plan.band_values(a), plan.band_values(b), strict=True)
    return [band for band, (x, y) in enumerate(pairs) if x ^ y in mask_sets(plan)[band]]


@cache
def mask_sets(plan: BandPlan) -> list[frozenset[int]]:
    return [frozenset(plan.masks(band)) for band in range(plan.bands)]


def flip(words: list[int], bits: list[int]) -> list[int]:
    out = [w & MASK for w in words]
    for bit in bits:
        out[bit // 64] ^= 1 << (63 - bit % 64)
    return [signed(w) for w in out]


def hashes(words: int):
    return st.lists(st.integers(-(2**63), 2**63 - 1), min_size=words, max_size=words)


@settings(max_examples=300, deadline=None)
@given(
    data=st.data(),
    width=st.sampled_from([64, 256]),
    threshold=st.integers(0, 31),
    size=st.sampled_from([10**3, 10**6, 10**8]),
)
def test_every_pair_within_the_threshold_shares_a_probe(data, width, threshold, size):
    plan = plan_bands(width, threshold, size)
    assert sum(plan.radii) + plan.bands > threshold  # the generalised pigeonhole
    a = data.draw(hashes(width // 64))
    flipped = data.draw(st.lists(st.integers(0, width - 1), unique=True, max_size=threshold))
    b = flip(a, flipped)
    assert distance(a, b) == len(flipped)
    assert found_by_bands(plan, a, b)


def test_correlated_phash_like_hashes_brute_force():
    """Hashes that share most bits (like pHashes of similar photos): banding + verification = brute
    force."""
    rng = np.random.default_rng(7)
    base = int(rng.integers(0, 2**63))
    population = [
        [signed(base ^ int(m))]
        for m in rng.integers(0, 2**64, 400, dtype=np.uint64) & _sparse(rng, 400)
    ]
    for threshold in (4, 10, 16):
        plan = plan_bands(64, threshold, len(population))
        brute = {
            (i, j)
            for i in range(len(population))
            for j in range(len(population))
            if i != j and distance(population[i], population[j]) <= threshold
        }
        banded = {
            (i, j)
            for i in range(len(population))
            for j in range(len(population))
            if i != j
            and found_by_bands(plan, population[i], population[j])
            and distance(population[i], population[j]) <= threshold
        }
        assert banded == brute
        assert len(brute) > 0


def _sparse(rng, n: int) -> np.ndarray:
    """Masks with few bits set (6 to 20): the population clusters around one hash."""
    masks = np.zeros(n, dtype=np.uint64)
    for i in range(n):
        for bit in rng.choice(64, size=rng.integers(3, 10), replace=False):
            masks[i] |= np.uint64(1) << np.uint64(bit)
    return masks


def test_plans_trade_probes_for_candidates_as_the_index_grows():
    small, large = plan_bands(64, 10, 10_000), plan_bands(64, 10, 10_000_000)
    assert small.probes_per_query() < large.probes_per_query()
    assert [b.width for b in large.layout] == [22, 21, 21]


def band_bits(plan: BandPlan, band: int) -> list[int]:
    """The positions (as flip counts them, from the top of the hash) of one band's bits."""
    b = plan.layout[band]
    return [b.word * 64 + 63 - (b.shift + bit) for bit in range(b.width)]


def apart_by(plan: BandPlan, a: list[int], counts: list[int], rng) -> list[int]:
    """a with counts[i] random bits flipped in band i."""
    bits = [
        int(bit)
        for band, count in enumerate(counts)
        for bit in rng.choice(band_bits(plan, band), size=count, replace=False)
    ]
    return flip(a, bits)


PLANS = [
    (width, threshold, size)
    for width, thresholds in ((64, (0, 1, 4, 10, 16, 20)), (256, (0, 4, 10, 16, 20, 31)))
    for threshold in thresholds
    for size in (10**3, 10**6, 10**8)
    if plan_bands(width, threshold, size).probes_per_query() < 100_000
]


@pytest.mark.parametrize(("width", "threshold", "size"), PLANS)
def test_pairs_at_the_threshold_are_found_however_the_bits_spread(width, threshold, size):
    """The hardest pairs for the radii: exactly k bits apart, spread evenly over the bands, or
    every band but one just beyond its radius and that one at its radius (the guarantee's tight
    case: only that band may find the pair, and it must)."""
    plan = plan_bands(width, threshold, size)
    rng = np.random.default_rng(threshold * size + width)
    for _ in range(20):
        a = [signed(int(w)) for w in rng.integers(0, 2**64, width // 64, dtype=np.uint64)]
        evenly = [threshold // plan.bands + (i < threshold % plan.bands) for i in range(plan.bands)]
        b = apart_by(plan, a, evenly, rng)
        assert distance(a, b) == threshold and found_by_bands(plan, a, b)
        for band, radius in enumerate(plan.radii):
            beyond = [r + 1 for r in plan.radii]
            beyond[band] = threshold - (sum(beyond) - beyond[band])
            if beyond[band] < 0:
                continue  # more bands than bits apart: no pair misses all but one
            assert beyond[band] <= radius  # the radii sum to the least the guarantee needs
            b = apart_by(plan, a, beyond, rng)
            assert distance(a, b) == threshold
            assert bands_holding(plan, a, b) == [band]


def test_radii_sum_to_the_least_that_keeps_the_guarantee():
    for width, threshold, size in PLANS:
        plan = plan_bands(width, threshold, size)
        assert sum(plan.radii) == max(threshold - plan.bands + 1, 0)


def test_uneven_radii_cost_less_than_even_ones_at_the_default_plan():
    """64-bit hashes at threshold 10 for 10M images: 3 bands of 22, 21 and 21 bits, searched
    within radii summing to 8 (not 3 x 3 = 9), one of the 21-bit bands within 2."""
    plan, before = plan_bands(64, 10, 10**7), even(64, 10, 3)
    assert [b.width for b in plan.layout] == [22, 21, 21]
    assert plan.radii == (3, 2, 3)
    assert (plan.probes_per_query(), before.probes_per_query()) == (3588, 4918)
    assert plan.cost(10**7) < spread(64, 10, 3, 10**3).cost(10**7) < before.cost(10**7)


def test_a_plan_that_would_miss_pairs_is_refused():
    with pytest.raises(ValueError, match="miss pairs"):
        BandPlan(64, 10, 3, (3, 2, 2))
    with pytest.raises(ValueError, match="as many radii"):
        BandPlan(64, 10, 3, (3, 3))
