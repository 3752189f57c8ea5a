"""Distances between hashes stored as ARRAY<BIGINT> words, as Spark SQL expressions (no Python UDF)."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F


def hamming(left: str, right: str) -> Column:
    """Bits that differ between two hashes of the same width; NULL if either side is missing."""
    return F.expr(f"aggregate(zip_with({left}, {right}, (x, y) -> bit_count(x ^ y)), 0, (total, d) -> total + d)")


def unmatched_segments(left: str, right: str, hash_size: int) -> Column:
    """Crop-resistant hashes, compared like imagehash's ImageMultiHash: the segments of `left` that have no
    segment of `right` within its default cutoff (a quarter of a segment's bits). 0 means every region matched."""
    cutoff = hash_size * hash_size // 4
    return F.expr(f"size({left}) - size(filter({left}, x -> exists({right}, y -> bit_count(x ^ y) <= {cutoff})))")


def distance(hash_type: str, left: str, right: str, hash_size: int) -> Column:
    if hash_type == "crop-resistant":
        return unmatched_segments(left, right, hash_size)
    return hamming(left, right)
