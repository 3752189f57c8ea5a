"""Distances between hashes stored as BIGINT words: a Spark SQL expression for the joins, the hash
type's own distance for the fields of an alert."""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column
from pyspark.sql import functions as F

from streaming.hashing.types import hash_type


def hamming(left: str, right: str) -> Column:
    """Bits that differ between two hashes of the same width; NULL if either side is missing."""
    return F.expr(
        f"aggregate(zip_with({left}, {right}, (x, y) -> bit_count(x ^ y)), 0, (total, d) -> total "
        "+ d)"
    )


def distance(
    name: str, left: Sequence[int] | None, right: Sequence[int] | None, hash_size: int
) -> int | None:
    """The distance an alert reports for one hash type (HashType.distance); None where a side lacks
    the hash or the two cannot be compared."""
    if left is None or right is None:
        return None
    return hash_type(name).distance(left, right, hash_size)
