"""The in-memory banded index against a plain scan: exactly the pairs within the threshold, once."""

from __future__ import annotations

import os
from pathlib import Path
from unittest.mock import patch

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streaming.index import kernel, sorted_bands
from streaming.index.bands import plan_bands
from streaming.index.pairs import as_words
from streaming.index.sorted_bands import SortedBands, scans

from .test_bands import apart_by
from .test_pairs import apart, with_near_copies


@pytest.mark.parametrize("path", ["probe", "scan"])
@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    words=st.sampled_from([1, 4]),
    planned=st.integers(0, 31),
    expected_size=st.sampled_from([10, 10**4, 10**7]),
    appends=st.integers(1, 6),
)
def test_search_finds_exactly_the_pairs_a_scan_finds(
    path, data, words, planned, expected_size, appends
):
    """Both paths of the kernel (every segment probed, or every segment scanned), 64- and 256-bit
    hashes, duplicated hashes, any threshold up to the plan's."""
    stored = with_near_copies(data.draw, words)
    stored += data.draw(st.lists(st.sampled_from(stored), max_size=5))  # exact duplicates
    queries = with_near_copies(data.draw, words) + stored[: len(stored) // 2]
    threshold = data.draw(st.integers(0, planned))
    index = SortedBands(plan_bands(64 * words, planned, expected_size))
    # Appends of uneven sizes: every merge rule of the segments is exercised.
    cuts = sorted(
        data.draw(st.lists(st.integers(0, len(stored)), min_size=appends - 1, max_size=appends - 1))
    )
    for start, stop in zip([0, *cuts], [*cuts, len(stored)], strict=True):
        if start < stop:
            index.add([f"s{i}" for i in range(start, stop)], as_words(stored[start:stop], words))
    assert len(index) == len(stored)
    with patch.object(sorted_bands, "SCAN_COST", 0.0 if path == "scan" else float("inf")):
        found = index.search(as_words(queries, words), threshold)
    expected = {
        (q, f"s{s}", apart(query, hash_))
        for q, query in enumerate(queries)
        for s, hash_ in enumerate(stored)
        if apart(query, hash_) <= threshold
    }
    assert len(found) == len(set(found))
    assert set(found) == expected


@pytest.mark.parametrize(("words", "threshold"), [(1, 10), (4, 31)])
def test_pairs_at_each_bands_radius_come_out_once(words, threshold):
    """Queries exactly `threshold` bits from a stored hash, every band but one just beyond its own
    radius: the kernel finds each pair through that one band and emits it once."""
    plan = plan_bands(64 * words, threshold, 10**7)
    assert len(set(plan.radii)) > 1  # uneven radii, so each band's own one matters
    rng = np.random.default_rng(words)
    stored = rng.integers(0, 2**64, (200, words), dtype=np.uint64)
    queries = []
    for row in stored[:50]:
        for band in range(plan.bands):
            beyond = [r + 1 for r in plan.radii]
            beyond[band] = threshold - (sum(beyond) - beyond[band])
            hash_ = [int(w) - 2**64 if w >= 2**63 else int(w) for w in row]
            queries.append(apart_by(plan, hash_, beyond, rng))
    index = SortedBands(plan)
    index.add([f"s{i}" for i in range(len(stored))], stored)
    with patch.object(sorted_bands, "SCAN_COST", float("inf")):  # probe, however small
        found = index.search(as_words(queries, words), threshold)
    listed = stored.view(np.int64).tolist()
    expected = {
        (q, f"s{s}", apart(query, hash_))
        for q, query in enumerate(queries)
        for s, hash_ in enumerate(listed)
        if apart(query, hash_) <= threshold
    }
    assert len(found) == len(set(found)) == len(expected)
    assert set(found) == expected
    assert {(q, f"s{q // plan.bands}", threshold) for q in range(len(queries))} <= expected


def test_small_segments_are_scanned_and_large_ones_probed():
    probes = plan_bands(64, 10, 10**7).probes_per_query()
    assert scans(10, probes)
    assert not scans(10 * probes, probes)


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


def test_a_band_of_thousands_of_near_256_bit_hashes_is_verified_in_full():
    """Every stored hash shares the query's bands: thousands wait in turn for their other words
    (kernel.PENDING at a time), and one query's pairs outgrow the kernel's first room."""
    rng = np.random.default_rng(11)
    centre = rng.integers(0, 2**64, 4, dtype=np.uint64)
    flips = rng.integers(0, 256, (3000, 12))  # up to 12 bits apart from the centre
    stored = np.repeat(centre[None, :], 3000, axis=0)
    for row, bits in enumerate(flips):
        for bit in bits:
            stored[row, bit // 64] ^= np.uint64(1) << np.uint64(bit % 64)
    index = SortedBands(plan_bands(256, 31, 10**7))
    index.add([f"s{i}" for i in range(3000)], stored)
    queries = np.stack([centre, stored[7]])
    distances = np.bitwise_count(queries[:, None, :] ^ stored[None, :, :]).sum(axis=2)
    with patch.object(sorted_bands, "SCAN_COST", float("inf")):  # probe, however small
        found = index.search(queries, 31)
    assert len(found) == len(set(found)) == 2 * 3000 > 20 * kernel.PENDING
    assert set(found) == {(q, f"s{s}", int(distances[q, s])) for q in (0, 1) for s in range(3000)}


def test_a_threshold_beyond_the_plan_is_refused():
    index = SortedBands(plan_bands(64, 6, 1000))
    try:
        index.search(as_words([[0]], 1), 7)
    except ValueError as error:
        assert "exceeds" in str(error)
    else:
        raise AssertionError("a threshold the bands cannot guarantee was accepted")


def test_the_kernel_keeps_its_machine_code_in_a_writable_cache_folder():
    """Executors compile the kernel once: later Python workers load it from numba's cache."""
    index = SortedBands(plan_bands(64, 10, 10**7))
    index.add(["a", "b"], as_words([[1], [2]], 1))
    assert sorted(index.search(as_words([[3]], 1), 10)) == [(0, "a", 1), (0, "b", 1)]
    folder = Path(numba.config.CACHE_DIR)
    assert os.access(folder, os.W_OK)
    assert any(folder.rglob("kernel.scan-*.nbi"))
