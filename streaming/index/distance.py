"""Distances between hashes stored as BIGINT words: a Spark SQL expression for the joins, plain
Python for the fields of an alert."""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column
from pyspark.sql import functions as F

from streaming.hashing.words import hash_bits, segment_words

WORD_MASK = (1 << 64) - 1


def hamming(left: str, right: str) -> Column:
    """Bits that differ between two hashes of the same width; NULL if either side is missing."""
    return F.expr(
        f"aggregate(zip_with({left}, {right}, (x, y) -> bit_count(x ^ y)), 0, (total, d) -> total "
        "+ d)"
    )


def _bits_apart(x: int, y: int) -> int:
    # the words are signed: mask to 64 bits before counting
    return ((x ^ y) & WORD_MASK).bit_count()


def distance(
    hash_type: str, left: Sequence[int] | None, right: Sequence[int] | None, hash_size: int
) -> int | None:
    """The distance an alert reports for one hash type; None where a side lacks the hash or the
    widths differ (whash-db4 of two image scales). Crop-resistant hashes are compared like
    imagehash's ImageMultiHash: the segments of `left` with no segment of `right` within a
    quarter of a segment's bits (0: every region matched)."""
    if left is None or right is None:
        return None
    if hash_type == "crop-resistant":
        bits = hash_bits(hash_type, hash_size)
        left_segments, right_segments = segment_words(left, bits), segment_words(right, bits)
        return sum(
            1
            for x in left_segments
            if not any(_words_apart(x, y) <= bits // 4 for y in right_segments)
        )
    return _words_apart(left, right)


def _words_apart(left: Sequence[int], right: Sequence[int]) -> int | None:
    if len(left) != len(right):
        return None
    return sum(_bits_apart(x, y) for x, y in zip(left, right, strict=True))
