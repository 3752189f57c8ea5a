"""The search kernel of SortedBands, compiled with numba: probes, bucket reads and Hamming
verification in one pass per (query, band), or a plain scan of a small segment.

Each function returns an m x 3 int64 array of (query row, stored row, distance) for the pairs
within the threshold, each pair once. numba compiles them on their first call in a process and
keeps the machine code in its on-disk cache: `NUMBA_CACHE_DIR` when set (on a cluster, set it for
the executors with spark.executorEnv.NUMBA_CACHE_DIR), else a per-user folder of the system's
temporary directory (docs/matching.md measures the compile and the cached load).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import cast

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

# Set before the functions below are decorated: numba picks their cache folder then.
# (numba's config module sets its attributes from the environment, unseen by mypy)
if not numba.config.CACHE_DIR:  # type: ignore[attr-defined]
    numba.config.CACHE_DIR = str(  # type: ignore[attr-defined]
        Path(tempfile.gettempdir()) / f"neardup-numba-{os.getuid()}"
    )

ALL_BITS = np.uint64(2**64 - 1)
# Pairs a kernel's output starts with room for (and a query's, before they are added); it grows
# as it fills.
FIRST_ROOM = 1024
# Probes ahead whose bucket the kernel asks the CPU to fetch while it reads the current one
# (measured, docs/matching.md: 8 gains less, 24 and 32 no more).
PREFETCH_AHEAD = 16
# Candidates within the threshold on their band's word that wait, their other words asked for,
# before they are verified together: the reads overlap (a 256-bit hash's other words are a cache
# miss each, at random).
PENDING = 64


@intrinsic
def _ctpop(typing_context: object, word: object) -> tuple:
    """Set bits of a uint64, as an int64: LLVM's ctpop, one instruction where the CPU has it."""

    def generate(context: object, builder: ir.IRBuilder, signature: object, args: list) -> ir.Value:
        return builder.ctpop(args[0])

    return types.int64(types.uint64), generate


popcount = cast(Callable[[np.uint64], int], _ctpop)  # as jitted code calls it


@intrinsic
def _prefetch(typing_context: object, address: object) -> tuple:
    """Ask the CPU to bring the cache line at a uint64 address in, without waiting for it: LLVM's
    prefetch (for a read, kept in every cache level), which never faults."""

    def generate(context: object, builder: ir.IRBuilder, signature: object, args: list) -> ir.Value:
        pointer, i32 = ir.PointerType(), ir.IntType(32)
        declared = ir.FunctionType(ir.VoidType(), [pointer, i32, i32, i32])
        prefetch = cgutils.get_or_insert_function(builder.module, declared, "llvm.prefetch.p0")
        read, keep_everywhere, data = (ir.Constant(i32, flag) for flag in (0, 3, 1))
        builder.call(prefetch, [builder.inttoptr(args[0], pointer), read, keep_everywhere, data])
        return context.get_dummy_value()  # type: ignore[attr-defined]

    return types.void(types.uint64), generate


prefetch = cast(Callable[[np.uint64], None], _prefetch)


@numba.njit(cache=True, nogil=True)
def _met_in_earlier_band(
    query: np.ndarray, stored: np.ndarray, layout: np.ndarray, band: int, radii: np.ndarray
) -> bool:
    """Whether a band before `band` holds the stored hash within that band's own radius of the
    query: that band found the pair first."""
    for earlier in range(band):
        word, shift, width = layout[earlier, 0], layout[earlier, 1], layout[earlier, 2]
        mask = ALL_BITS >> np.uint64(64 - width)
        differ = ((query[word] ^ stored[word]) >> np.uint64(shift)) & mask
        if popcount(differ) <= radii[earlier]:
            return True
    return False


@numba.njit(cache=True, nogil=True)
def _bucket_bounds(
    value: np.uint64,
    masks: np.ndarray,
    drop: np.uint64,
    starts: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
) -> None:
    """Where the bucket of each probe (`value` XOR a mask) starts and ends, into `low` and `high`.
    Done for every probe before any candidate is read: loads independent of each other, which the
    CPU overlaps (half the time at 10M, where each is a cache miss)."""
    for m in range(masks.shape[0]):
        bucket = (value ^ masks[m]) >> drop
        low[m], high[m] = starts[bucket], starts[bucket + np.uint64(1)]


@numba.njit(cache=True, nogil=True)
def _probe_query(
    query: np.ndarray,
    words: np.ndarray,
    band_words: np.ndarray,
    rows: np.ndarray,
    starts: np.ndarray,
    masks: np.ndarray,
    layout: np.ndarray,
    band: int,
    prefix_bits: int,
    radii: np.ndarray,
    threshold: int,
    low: np.ndarray,
    high: np.ndarray,
    pending: np.ndarray,
    near: np.ndarray,
) -> int:
    """One query's pairs of one band into `near` ((stored row, distance) rows, as many as it holds):
    their count, which may exceed its room. low, high, pending: room to work in."""
    word, shift, width = layout[band, 0], np.uint64(layout[band, 1]), layout[band, 2]
    band_mask = ALL_BITS >> np.uint64(64 - width)  # a band may be 64 bits wide
    drop = np.uint64(width - prefix_bits)
    value = (query[word] >> shift) & band_mask
    _bucket_bounds(value, masks, drop, starts, low, high)
    # Each bucket is a cache miss the CPU cannot foresee: its first two lines and its last (all
    # of it up to 17 entries; some 12 at 50M) are asked for PREFETCH_AHEAD probes early, so many
    # misses overlap where the loop below would wait on each in turn.
    at, rows_at, probes = (
        np.uint64(band_words.ctypes.data),
        np.uint64(rows.ctypes.data),
        masks.shape[0],
    )
    whole = prefix_bits == width  # a bucket holds one band value: its entries need no check
    wide = query.shape[0] > 1  # a candidate's other words are read, by its row
    words_at, row_bytes = np.uint64(words.ctypes.data), np.uint64(8 * query.shape[0])
    count = waiting = 0
    for m in range(probes):
        if m + PREFETCH_AHEAD < probes:
            first = 8 * low[m + PREFETCH_AHEAD]
            prefetch(at + np.uint64(first))
            prefetch(at + np.uint64(first + 64))
            prefetch(at + np.uint64(8 * (high[m + PREFETCH_AHEAD] - 1)))
            if wide:
                prefetch(rows_at + np.uint64(first))
        probe = value ^ masks[m]
        for i in range(low[m], high[m]):
            stored_word = band_words[i]
            if not whole and ((stored_word >> shift) & band_mask) != probe:
                continue
            # the band's own word first: read beside the value, it rejects most candidates
            distance = popcount(stored_word ^ query[word])
            if distance > threshold:
                continue
            # the rest waits for its other words, asked for now and read PENDING at a time
            row = rows[i]
            prefetch(words_at + row_bytes * np.uint64(row))
            pending[waiting, 0], pending[waiting, 1] = row, distance
            waiting += 1
            if waiting == pending.shape[0]:
                count = _verified(
                    query, words, layout, band, radii, threshold, pending, waiting, near, count
                )
                waiting = 0
    return _verified(query, words, layout, band, radii, threshold, pending, waiting, near, count)


@numba.njit(cache=True, nogil=True)
def _verified(
    query: np.ndarray,
    words: np.ndarray,
    layout: np.ndarray,
    band: int,
    radii: np.ndarray,
    threshold: int,
    pending: np.ndarray,
    waiting: int,
    near: np.ndarray,
    count: int,
) -> int:
    """The count of pairs in `near` once the first `waiting` pending candidates ((stored row,
    distance on the band's word) rows) that are pairs of this band are added after its `count`."""
    word = layout[band, 0]
    for k in range(waiting):
        row, distance = pending[k, 0], pending[k, 1]
        for other in range(query.shape[0]):
            if other != word:
                distance += popcount(words[row, other] ^ query[other])
        if distance > threshold or _met_in_earlier_band(query, words[row], layout, band, radii):
            continue
        if count < near.shape[0]:
            near[count, 0], near[count, 1] = row, distance
        count += 1
    return count


@numba.njit(cache=True, nogil=True)
def _scan_query(query: np.ndarray, words: np.ndarray, threshold: int, near: np.ndarray) -> int:
    """One query's pairs among all stored hashes into `near`, as _probe_query does."""
    count = 0
    for row in range(words.shape[0]):
        distance = 0
        for word in range(words.shape[1]):
            distance += popcount(words[row, word] ^ query[word])
        if distance <= threshold:
            if count < near.shape[0]:
                near[count, 0], near[count, 1] = row, distance
            count += 1
    return count


@numba.njit(cache=True, nogil=True)
def _added(found: np.ndarray, count: int, query: int, near: np.ndarray, pairs: int) -> np.ndarray:
    """`found` (its first `count` rows) with one query's pairs after them, grown if need be.
    Kept out of the loops above: an array reassigned in a hot loop costs a reference count on
    every iteration, some 20 ns."""
    if count + pairs > found.shape[0]:
        grown = np.empty((2 * (count + pairs), 3), np.int64)
        grown[:count] = found[:count]
        found = grown
    for j in range(pairs):
        found[count + j, 0], found[count + j, 1], found[count + j, 2] = (
            query,
            near[j, 0],
            near[j, 1],
        )
    return found


@numba.njit(cache=True, nogil=True)
def probe_band(
    queries: np.ndarray,
    words: np.ndarray,
    band_words: np.ndarray,
    rows: np.ndarray,
    starts: np.ndarray,
    masks: np.ndarray,
    layout: np.ndarray,
    band: int,
    prefix_bits: int,
    radii: np.ndarray,
    threshold: int,
) -> np.ndarray:
    """The pairs within `threshold` whose stored hash shares this band's value with one of the
    query's probes (its band value XOR a mask), unless an earlier band holds the pair too.

    queries: q x w uint64; words: n x w uint64, the stored hashes; band_words: the band's word of
    each stored hash, grouped by bucket; rows: each one's row in `words`; starts: where each
    bucket (the top `prefix_bits` of the band's value) starts in band_words; layout: bands x 3
    int64 (word, shift, width); radii: each band's radius, int64 (masks: this band's)."""
    found = np.empty((FIRST_ROOM, 3), np.int64)
    near = np.empty((FIRST_ROOM, 2), np.int64)
    low = np.empty(masks.shape[0], np.int64)
    high = np.empty(masks.shape[0], np.int64)
    pending = np.empty((PENDING, 2), np.int64)
    count = 0
    for q in range(queries.shape[0]):
        args = (words, band_words, rows, starts, masks, layout, band, prefix_bits, radii)
        pairs = _probe_query(queries[q], *args, threshold, low, high, pending, near)
        if pairs > near.shape[0]:
            near = np.empty((pairs, 2), np.int64)
            _probe_query(queries[q], *args, threshold, low, high, pending, near)
        found = _added(found, count, q, near, pairs)
        count += pairs
    return found[:count]


@numba.njit(cache=True, nogil=True)
def scan(queries: np.ndarray, words: np.ndarray, threshold: int) -> np.ndarray:
    """The pairs within `threshold` by comparing every query with every stored hash."""
    found = np.empty((FIRST_ROOM, 3), np.int64)
    near = np.empty((FIRST_ROOM, 2), np.int64)
    count = 0
    for q in range(queries.shape[0]):
        pairs = _scan_query(queries[q], words, threshold, near)
        if pairs > near.shape[0]:
            near = np.empty((pairs, 2), np.int64)
            _scan_query(queries[q], words, threshold, near)
        found = _added(found, count, q, near, pairs)
        count += pairs
    return found[:count]


@numba.njit(cache=True, nogil=True)
def group_by_bucket(
    words: np.ndarray, word: int, shift: int, width: int, prefix_bits: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One band of a segment: (band_words, rows, starts) of the stored hashes `words` grouped by
    bucket (the top `prefix_bits` of the band), in row order within a bucket. A counting sort:
    two passes over the hashes, where an argsort of the band values took 5 x longer."""
    drop = np.uint64(shift + width - prefix_bits)  # the bucket: the band's top prefix_bits
    bucket_mask = ALL_BITS >> np.uint64(64 - prefix_bits)
    starts = np.zeros((1 << prefix_bits) + 1, np.int64)
    for row in range(words.shape[0]):
        starts[((words[row, word] >> drop) & bucket_mask) + np.uint64(1)] += 1
    for bucket in range(1 << prefix_bits):
        starts[bucket + 1] += starts[bucket]
    filled = starts[:-1].copy()
    band_words = np.empty(words.shape[0], np.uint64)
    rows = np.empty(words.shape[0], np.int64)
    for row in range(words.shape[0]):
        bucket = (words[row, word] >> drop) & bucket_mask
        spot = filled[bucket]
        band_words[spot], rows[spot] = words[row, word], row
        filled[bucket] = spot + 1
    return band_words, rows, starts
