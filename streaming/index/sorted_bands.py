"""Multi-index hashing in memory: each band's stored hashes grouped by the top bits of the band.

The same plan and guarantee as the bands table (bands.py): every stored hash within the threshold of
a query shares one of the query's probes, and the candidates are then verified on the full hash.
Where Spark joins the probes against every row of the bands table, here each probe takes two reads
(the bucket of its top bits, then the few hashes in it), so a lookup costs what its probes and
candidates cost, not what the index holds. The compiled kernel (kernel.py) does both reads and the
verification; a segment smaller than a query's probes is scanned instead.

Hashes arrive in appends (a stream registers each micro-batch), so they are kept in a few sorted
segments, like a log-structured merge tree: an append is a new segment, and a segment is merged into
the one before it once it is at least a quarter of its size, which keeps O(log n) segments and
re-sorts each hash O(log n) times in all.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from streaming.index import kernel
from streaming.index.bands import BandPlan

# A stored hash compared in full costs about this fraction of a probe of a small segment
# (measured, docs/matching.md: a scan costs what the 4,918 probes of a 64-bit query cost at some
# 30,000 hashes, and at 16,000-32,000 for the 2,872 of a 256-bit one).
SCAN_COST = 0.2


@dataclass(frozen=True)
class Segment:
    ids: pa.Array  # STRING, one per stored hash
    words: np.ndarray  # n x words uint64
    # Per band: the band's 64-bit word of every stored hash, grouped by the bucket of the band's
    # value (its top `prefix_bits`): the kernel reads a probe's candidates and verifies that word
    # (the whole hash, at 64 bits) in one pass over adjacent memory.
    band_words: tuple[np.ndarray, ...]
    rows: tuple[np.ndarray, ...]  # per band: the row (into ids, words) of each of band_words
    # Per band: where each bucket starts in band_words (one more entry at the end). About one
    # bucket per stored hash, so a probe finds its candidates in two reads where a binary search
    # over millions of values takes some twenty cache misses.
    starts: tuple[np.ndarray, ...]
    prefix_bits: tuple[int, ...]

    @classmethod
    def build(cls, plan: BandPlan, ids: pa.Array, words: np.ndarray) -> Segment:
        band_words, rows, starts, prefix_bits = [], [], [], []
        words = np.ascontiguousarray(words, np.uint64)
        for band in plan.layout:
            bits = min(band.width, len(ids).bit_length())
            grouped = kernel.group_by_bucket(words, band.word, band.shift, band.width, bits)
            band_words.append(grouped[0])
            rows.append(grouped[1])
            starts.append(grouped[2])
            prefix_bits.append(bits)
        return cls(ids, words, tuple(band_words), tuple(rows), tuple(starts), tuple(prefix_bits))


class SortedBands:
    def __init__(self, plan: BandPlan) -> None:
        self.plan = plan
        self.segments: list[Segment] = []
        self._masks = [np.array(plan.masks(band), dtype=np.uint64) for band in range(plan.bands)]
        self._layout = np.array([(b.word, b.shift, b.width) for b in plan.layout], np.int64)
        self._radii = np.array(plan.radii, np.int64)
        self._probes = plan.probes_per_query()

    @classmethod
    def of(cls, plan: BandPlan, segments: Sequence[Segment]) -> SortedBands:
        """Bands over segments built elsewhere (a shard maps them from its files)."""
        bands = cls(plan)
        bands.segments = list(segments)
        return bands

    def __len__(self) -> int:
        return sum(len(segment.ids) for segment in self.segments)

    def add(self, ids: pa.Array | Sequence[str], words: np.ndarray) -> None:
        """Store hashes (n x words uint64, see pairs.as_words) under their ids."""
        if len(words) == 0:
            return
        self.segments.append(Segment.build(self.plan, pa.array(ids, pa.string()), words))
        while len(self.segments) > 1 and due_for_merge(self.segments[-2], self.segments[-1]):
            newer, older = self.segments.pop(), self.segments.pop()
            merged = Segment.build(
                self.plan,
                pa.concat_arrays([older.ids, newer.ids]),
                np.concatenate([older.words, newer.words]),
            )
            self.segments.append(merged)

    def search(self, queries: np.ndarray, threshold: int) -> list[tuple[int, str, int]]:
        """(query row, stored id, distance) for every stored hash within `threshold` of a query,
        once."""
        found: list[tuple[int, str, int]] = []
        for segment, query_rows, stored_rows, distances in self.matches(queries, threshold):
            ids = segment.ids.take(pa.array(stored_rows)).to_pylist()
            found += zip(query_rows.tolist(), ids, distances.tolist(), strict=True)
        return found

    def matches(
        self, queries: np.ndarray, threshold: int
    ) -> Iterator[tuple[Segment, np.ndarray, np.ndarray, np.ndarray]]:
        """Per segment: (segment, query rows, stored rows, distances) of the pairs within
        `threshold`, each once."""
        if threshold > self.plan.threshold:
            raise ValueError(
                f"threshold {threshold} exceeds the {self.plan.threshold} the bands guarantee "
                "recall for"
            )
        queries = np.ascontiguousarray(queries, np.uint64)
        for segment in self.segments:
            if scans(len(segment.ids), self._probes):
                found = kernel.scan(queries, segment.words, threshold)
            else:
                found = np.concatenate(
                    [
                        self._probe(segment, band, queries, threshold)
                        for band in range(self.plan.bands)
                    ]
                )
            yield segment, found[:, 0], found[:, 1], found[:, 2]

    def _probe(
        self, segment: Segment, band: int, queries: np.ndarray, threshold: int
    ) -> np.ndarray:
        """(query row, stored row, distance) of the pairs this band finds first."""
        return kernel.probe_band(
            queries,
            segment.words,
            segment.band_words[band],
            segment.rows[band],
            segment.starts[band],
            self._masks[band],
            self._layout,
            band,
            segment.prefix_bits[band],
            self._radii,
            threshold,
        )


def scans(stored: int, probes: int) -> bool:
    """Whether a segment of `stored` hashes is cheaper to compare with each query in full than to
    probe with a query's `probes` band keys (docs/matching.md measures the ratio)."""
    return stored * SCAN_COST < probes


def due_for_merge(older: Segment, newer: Segment) -> bool:
    """Whether the newest segment is large enough to be merged into the one before it."""
    return 4 * len(newer.ids) >= len(older.ids)


def band_values(plan: BandPlan, words: np.ndarray) -> list[np.ndarray]:
    """Each band's bits of n x words uint64 hashes, as unsigned integers (BandPlan.band_values,
    vectorised)."""
    return [
        (words[:, band.word] >> np.uint64(band.shift)) & np.uint64((1 << band.width) - 1)
        for band in plan.layout
    ]
