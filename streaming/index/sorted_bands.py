"""Multi-index hashing in memory: each band's stored values sorted and bucketed by their top bits.

The same plan and guarantee as the bands table (bands.py): every stored hash within the threshold of
a query shares one of the query's probes, and the candidates are then verified on the full hash.
Where Spark joins the probes against every row of the bands table, here each probe takes two reads
(the bucket of its top bits, then the few values in it), so a lookup costs what its probes and
candidates cost, not what the index holds.

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

from streaming.index.bands import BandPlan

# Probes searched at once: bounds the temporary arrays of a large query set.
BLOCK_PROBES = 1 << 20


@dataclass(frozen=True)
class Segment:
    ids: pa.Array  # STRING, one per stored hash
    words: np.ndarray  # n x words uint64
    values: tuple[np.ndarray, ...]  # per band: the band values, sorted
    rows: tuple[np.ndarray, ...]  # per band: the row (into ids, words) of each sorted value
    # Per band: where each run of values sharing their top `prefix_bits` starts in `values` (one
    # more entry at the end). About one bucket per stored hash, so a probe finds its run in two
    # reads where a binary search over millions of values takes some twenty cache misses.
    starts: tuple[np.ndarray, ...]
    prefix_bits: tuple[int, ...]

    @classmethod
    def build(cls, plan: BandPlan, ids: pa.Array, words: np.ndarray) -> Segment:
        values, rows, starts, prefix_bits = [], [], [], []
        for band, stored in zip(plan.layout, band_values(plan, words), strict=True):
            order = np.argsort(stored, kind="stable")
            bits = min(band.width, len(ids).bit_length())
            buckets = np.bincount(stored >> np.uint64(band.width - bits), minlength=2**bits)
            values.append(stored[order])
            rows.append(order)
            starts.append(np.concatenate([[0], np.cumsum(buckets)]))
            prefix_bits.append(bits)
        return cls(ids, words, tuple(values), tuple(rows), tuple(starts), tuple(prefix_bits))


class SortedBands:
    def __init__(self, plan: BandPlan) -> None:
        self.plan = plan
        self.segments: list[Segment] = []
        self._masks = [np.array(plan.masks(band), dtype=np.uint64) for band in range(plan.bands)]

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
        for segment in self.segments:
            query_rows, stored_rows = self._candidates(segment, queries)
            distances = np.bitwise_count(segment.words[stored_rows] ^ queries[query_rows]).sum(
                axis=1
            )
            near = distances <= threshold
            # A pair met through several bands is verified more than once, and kept once.
            pairs, first = np.unique(
                query_rows[near].astype(np.int64) * len(segment.ids) + stored_rows[near],
                return_index=True,
            )
            yield (
                segment,
                pairs // len(segment.ids),
                pairs % len(segment.ids),
                distances[near][first],
            )

    def _candidates(self, segment: Segment, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(query row, stored row) of every stored band value equal to one of the queries'
        probes."""
        query_rows, stored_rows = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
        for band, values in enumerate(band_values(self.plan, queries)):
            masks = self._masks[band]
            step = max(1, BLOCK_PROBES // len(masks))
            for start in range(0, len(values), step):
                probes = (values[start : start + step, None] ^ masks[None, :]).ravel()
                bucket = probes >> np.uint64(
                    self.plan.layout[band].width - segment.prefix_bits[band]
                )
                low = segment.starts[band][bucket]
                counts = segment.starts[band][bucket + np.uint64(1)] - low
                # The bucket of probe i is sorted positions low[i] .. low[i] + counts[i] - 1.
                hits = np.repeat(low - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
                owners = np.repeat(np.arange(len(probes)), counts)
                equal = segment.values[band][hits] == probes[owners]
                hits, owners = hits[equal], owners[equal]
                stored_rows.append(segment.rows[band][hits])
                query_rows.append(start + owners // len(masks))
        return np.concatenate(query_rows), np.concatenate(stored_rows)


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
