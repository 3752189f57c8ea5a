"""Distances of (query, indexed) image pairs when a query is compared in several ways.

A query image is compared with an indexed one in up to K x M ways: K hashes of the query (its
dihedral variants and its crops, or the one hash) against M hashes of the indexed image (its
central crops, or the one hash), each way or those a mask names. A pair is near under a single
hash when its smallest distance is within the threshold, and under a rule "p <= a or (p <= b and
d <= c)" when some comparison passes it. Both are read off two histograms: of the smallest p
distance, and per b of (smallest p, smallest d among the comparisons whose p is within b), so a
rule's false-positive rate and recall are sums over them, whatever the number of pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_B = 28  # the largest rule bound on the first hash that the histograms hold


@dataclass
class Histograms:
    """Counts over pairs: `first[p]` of the smallest first-hash distance p, `joint[b, p, d]` of
    (smallest p, smallest second-hash distance among comparisons with p <= b; `none` if none)."""

    first: np.ndarray
    joint: np.ndarray
    pairs: int = 0

    @classmethod
    def empty(cls, bits: int, second_bits: int) -> Histograms:
        return cls(
            np.zeros(bits + 1, np.int64),
            np.zeros((MAX_B + 1, MAX_B + 1, second_bits + 2), np.int64),
        )

    def add(self, first: np.ndarray, second: np.ndarray | None) -> None:
        """first, second: pairs x comparisons distances of the two hashes."""
        smallest = first.min(axis=1)
        self.first += np.bincount(smallest, minlength=len(self.first))
        self.pairs += len(first)
        if second is None:
            return
        near = smallest <= MAX_B
        first, second, smallest = first[near], second[near], smallest[near]
        none = self.joint.shape[2] - 1
        for b in range(MAX_B + 1):
            best = np.where(first <= b, second, none).min(axis=1)
            np.add.at(self.joint[b], (smallest, best), 1)

    def rate(self, threshold: int) -> float:
        """Share of pairs whose smallest first-hash distance is within threshold."""
        return float(self.first[: threshold + 1].sum() / max(1, self.pairs))

    def rule_rate(self, a: int, b: int, c: int) -> float:
        """Share of pairs passing p <= a or (p <= b and d <= c) in some comparison (a <= b)."""
        within_a = self.first[: a + 1].sum()
        rest = self.joint[b, a + 1 :, : c + 1].sum()
        return float((within_a + rest) / max(1, self.pairs))


def distances(query: np.ndarray, index: np.ndarray, met: np.ndarray | None = None) -> np.ndarray:
    """Pairs x K x M uint64 words -> pairs x comparisons Hamming distances (query: pairs x K x
    words, index: pairs x M x words): every (k, m), or those where the K x M mask `met` holds."""
    apart = np.bitwise_count(query[:, :, None, :] ^ index[:, None, :, :]).sum(axis=3)
    if met is not None:
        return apart[:, met]
    return apart.reshape(len(query), query.shape[1] * index.shape[1])  # a block may be empty


def negatives(
    query: list[np.ndarray],
    index: list[np.ndarray],
    photo: np.ndarray,
    bits: list[int],
    met: np.ndarray | None = None,
) -> Histograms:
    """Histograms over every pair of images of different photos, each pair once (the later image
    as the query). query/index: per hash (one or two), n x K (M) x words arrays; `met`: which
    (k, m) are compared (all by default)."""
    histograms = Histograms.empty(bits[0], bits[-1])
    count = len(photo)
    block = max(1, 200_000 // (count * query[0].shape[1] * index[0].shape[1]))
    for start in range(1, count, block):
        rows = np.arange(start, min(count, start + block))
        q, x = np.meshgrid(rows, np.arange(count), indexing="ij")
        keep = (x < q) & (photo[x] != photo[q])
        q, x = q[keep], x[keep]
        found = [distances(qh[q], xh[x], met) for qh, xh in zip(query, index, strict=True)]
        histograms.add(found[0], found[1] if len(found) > 1 else None)
    return histograms


def positives(
    query: list[np.ndarray],
    index: list[np.ndarray],
    rows: np.ndarray,
    originals: np.ndarray,
    bits: list[int],
    met: np.ndarray | None = None,
) -> Histograms:
    """Histograms over the pairs (rows[i] as the query, originals[i] indexed)."""
    histograms = Histograms.empty(bits[0], bits[-1])
    found = [distances(qh[rows], xh[originals], met) for qh, xh in zip(query, index, strict=True)]
    histograms.add(found[0], found[1] if len(found) > 1 else None)
    return histograms
