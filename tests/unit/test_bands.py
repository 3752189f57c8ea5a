"""Multi-index hashing against brute force: every pair within the threshold shares a probe."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from streaming.index.bands import plan_bands

MASK = 2**64 - 1


def signed(value: int) -> int:
    return value - 2**64 if value >= 2**63 else value


def distance(a: list[int], b: list[int]) -> int:
    return sum(bin((x ^ y) & MASK).count("1") for x, y in zip(a, b, strict=True))


def found_by_bands(plan, a: list[int], b: list[int]) -> bool:
    """b is a candidate of query a: one of a's probes equals one of b's stored band values."""
    stored = set(enumerate(plan.band_values(b)))
    return any(probe in stored for probe in plan.probes(a))


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
    assert plan.bands * (plan.radius + 1) > threshold  # the pigeonhole guarantee
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
