"""Lookups for batch callers (a folder to dedup, a dataset to transform): their rows as a scratch
Delta index, and the pairs of many rows asked of a lookup in chunks."""

from __future__ import annotations

from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F

from streaming.imageframe import hash_column
from streaming.index.lookup import Lookup, Pairs
from streaming.index.table import HashIndex

# Queries sent to a lookup at once by pairs_of: bounds what the driver and each task hold.
QUERY_CHUNK = 100_000


def pairs_of(lookup: Lookup, rows: DataFrame, threshold: int) -> Pairs:
    """(id, indexed id) -> distance for every row (`id`, `hash`) of a DataFrame, looked up in
    chunks."""
    found: Pairs = {}
    chunk: list[Row] = []
    for row in rows.where(F.col("hash").isNotNull()).toLocalIterator():
        chunk.append(row)
        if len(chunk) == QUERY_CHUNK:
            found |= lookup.near([r["id"] for r in chunk], [r["hash"] for r in chunk], threshold)
            chunk = []
    if chunk:
        found |= lookup.near([r["id"] for r in chunk], [r["hash"] for r in chunk], threshold)
    return found


def scratch_index(
    spark: SparkSession,
    folder: str,
    rows: DataFrame,
    hash_type: str,
    hash_size: int,
    threshold: int,
) -> HashIndex:
    """A Delta index of rows (`id`, `hash`) under folder, for callers without one: the lookups read
    their hashes from a Delta table."""
    index = HashIndex(
        spark, folder, hash_type, hash_size, threshold, expected_size=max(rows.count(), 1)
    )
    index.ensure()
    images = rows.select(
        "id", F.col("hash").alias(hash_column(hash_type)), F.lit(hash_size).alias("hash_size")
    )
    index.append(images, "scratch", 0)
    return index
