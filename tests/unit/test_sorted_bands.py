"""The in-memory banded index against a plain scan: exactly the pairs within the threshold, once."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from streaming.index.bands import plan_bands
from streaming.index.pairs import as_words
from streaming.index.sorted_bands import SortedBands

from .test_pairs import apart, with_near_copies


@settings(max_examples=80, deadline=None)
@given(
    data=st.data(),
    words=st.sampled_from([1, 4]),
    threshold=st.integers(0, 24),
    expected_size=st.sampled_from([10, 10**4, 10**7]),
    appends=st.integers(1, 6),
)
def test_search_finds_exactly_the_pairs_a_scan_finds(
    data, words, threshold, expected_size, appends
):
    stored = with_near_copies(data.draw, words)
    queries = with_near_copies(data.draw, words) + stored[: len(stored) // 2]
    index = SortedBands(plan_bands(64 * words, threshold, expected_size))
    # Appends of uneven sizes: every merge rule of the segments is exercised.
    cuts = sorted(
        data.draw(st.lists(st.integers(0, len(stored)), min_size=appends - 1, max_size=appends - 1))
    )
    for start, stop in zip([0, *cuts], [*cuts, len(stored)], strict=True):
        if start < stop:
            index.add([f"s{i}" for i in range(start, stop)], as_words(stored[start:stop], words))
    assert len(index) == len(stored)
    found = index.search(as_words(queries, words), threshold)
    expected = {
        (q, f"s{s}", apart(query, hash_))
        for q, query in enumerate(queries)
        for s, hash_ in enumerate(stored)
        if apart(query, hash_) <= threshold
    }
    assert len(found) == len(set(found))
    assert set(found) == expected


def test_correlated_hashes_share_buckets_and_are_still_told_apart():
    """pHash-like hashes: many share their bands' top bits, so buckets hold runs of several
    values."""
    rng = np.random.default_rng(7)
    centres = rng.integers(0, 2**64, 5, dtype=np.uint64)
    noise = np.bitwise_or.reduce(
        np.uint64(1) << rng.integers(0, 64, (3000, 6)).astype(np.uint64), axis=1
    )
    stored = (centres[rng.integers(0, 5, 3000)] ^ noise)[:, None]
    index = SortedBands(plan_bands(64, 10, 10**7))
    index.add([f"s{i}" for i in range(1000)], stored[:1000])
    index.add([f"s{i}" for i in range(1000, 3000)], stored[1000:])
    queries = stored[::50]
    distances = np.bitwise_count(queries[:, None, 0] ^ stored[None, :, 0])
    expected = {
        (q, f"s{s}", int(distances[q, s]))
        for q, s in zip(*np.nonzero(distances <= 10), strict=True)
    }
    assert set(index.search(queries, 10)) == expected
    assert len(expected) > 10 * len(queries)  # the clusters make many true neighbours


def test_a_threshold_beyond_the_plan_is_refused():
    index = SortedBands(plan_bands(64, 6, 1000))
    try:
        index.search(as_words([[0]], 1), 7)
    except ValueError as error:
        assert "exceeds" in str(error)
    else:
        raise AssertionError("a threshold the bands cannot guarantee was accepted")
