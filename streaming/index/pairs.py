"""Every pair within a Hamming threshold inside one small set of hashes, by exhaustive numpy
comparison.

Used for the images of one micro-batch, on the driver. A micro-batch is bounded by
maxOffsetsPerTrigger, and its n^2 / 2 comparisons (one XOR and one popcount per 64-bit word, about a
nanosecond each) cost a small fraction of hashing its n images (milliseconds each) for any n below
tens of millions, while an exhaustive scan needs no plan, no probes and no join.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Words compared at once: bounds the temporary XOR matrix to 32 MiB.
BLOCK_WORDS = 1 << 22


def as_words(hashes: Sequence[Sequence[int]], words: int) -> np.ndarray:
    """Hashes of `words` BIGINT words each (signed, as Spark holds them) -> an n x words uint64
    array; n may be 0."""
    return np.array(hashes, dtype=np.int64).reshape(len(hashes), words).view(np.uint64)


def near_pairs(words: np.ndarray, threshold: int) -> list[tuple[int, int, int]]:
    """(i, j, distance) for every i < j whose hashes differ in at most `threshold` bits."""
    count, width = words.shape
    step = max(1, BLOCK_WORDS // max(1, count * width))
    found: list[tuple[int, int, int]] = []
    for start in range(0, count, step):
        distances = np.bitwise_count(words[start : start + step, None, :] ^ words[None, :, :]).sum(
            axis=2
        )
        rows, columns = np.nonzero(distances <= threshold)
        later = columns > rows + start
        rows, columns = rows[later], columns[later]
        found += zip(
            (rows + start).tolist(),
            columns.tolist(),
            distances[rows, columns].tolist(),
            strict=True,
        )
    return found
