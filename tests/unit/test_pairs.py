"""In-batch pairs and alert distances against a plain Python scan."""

from __future__ import annotations

from itertools import combinations

from hypothesis import given, settings
from hypothesis import strategies as st

from streaming.index.distance import distance
from streaming.index.pairs import as_words, near_pairs

SIGNED_WORD = st.integers(-(2**63), 2**63 - 1)


def apart(a: list[int], b: list[int]) -> int:
    return sum(bin((x ^ y) % 2**64).count("1") for x, y in zip(a, b, strict=True))


def with_near_copies(draw, words: int) -> list[list[int]]:
    """Random hashes plus copies of some of them with a few bits flipped, so that pairs within 10
    exist."""
    hashes = draw(
        st.lists(st.lists(SIGNED_WORD, min_size=words, max_size=words), min_size=1, max_size=40)
    )
    for source in draw(st.lists(st.integers(0, len(hashes) - 1), max_size=20)):
        flips = draw(st.lists(st.integers(0, 64 * words - 1), max_size=12))
        copy = [w % 2**64 for w in hashes[source]]
        for bit in flips:
            copy[bit // 64] ^= 1 << (bit % 64)
        hashes.append([w - 2**64 if w >= 2**63 else w for w in copy])
    return hashes


@settings(max_examples=60, deadline=None)
@given(data=st.data(), words=st.sampled_from([1, 4]), threshold=st.integers(0, 20))
def test_near_pairs_are_exactly_the_pairs_a_scan_finds(data, words, threshold):
    hashes = with_near_copies(data.draw, words)
    expected = {
        (i, j, apart(hashes[i], hashes[j]))
        for i, j in combinations(range(len(hashes)), 2)
        if apart(hashes[i], hashes[j]) <= threshold
    }
    assert set(near_pairs(as_words(hashes, words), threshold)) == expected


def test_near_pairs_crosses_block_boundaries(monkeypatch):
    import streaming.index.pairs

    monkeypatch.setattr(streaming.index.pairs, "BLOCK_WORDS", 3)  # one row per block
    hashes = [[0], [1], [3], [-1]]
    assert near_pairs(as_words(hashes, 1), 2) == [(0, 1, 1), (0, 2, 2), (1, 2, 1)]


def test_no_pairs_in_zero_or_one_hashes_of_any_width():
    for words in (1, 4):
        assert as_words([], words).shape == (0, words)
        assert near_pairs(as_words([], words), 10) == []
        assert near_pairs(as_words([[7] * words], words), 10) == []


def test_alert_distances():
    assert distance("phash", [-1], [0], 8) == 64
    assert distance("phash", [5], None, 8) is None
    assert distance("whash-db4", [1, 2], [1], 8) is None  # db4 of two image scales: widths differ
    # crop-resistant: segments of the left hash without a segment of the right within 16 bits
    assert distance("crop-resistant", [0, -1], [1], 8) == 1
    assert distance("crop-resistant", [0, 2**20 - 1], [0], 8) == 1
    assert distance("crop-resistant", [0, 2**16 - 1], [0], 8) == 0
    # hash_size 16: a segment is 256 bits in 4 words, matched within 64 bits as a whole
    segment = [0, 0, 0, 0]
    assert distance("crop-resistant", [*segment, -1, -1, -1, -1], segment, 16) == 1
    # 60 bits apart in all
    assert distance("crop-resistant", [2**40 - 1, 2**20 - 1, 0, 0], segment, 16) == 0
    # 70 bits apart
    assert distance("crop-resistant", [2**40 - 1, 2**30 - 1, 0, 0], segment, 16) == 1
