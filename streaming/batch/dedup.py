"""Batch dedup of a folder: hash every image, then look every image up among the others with the
index lookup the stream uses (index.lookup), over a scratch Delta index of the folder's hashes."""

from __future__ import annotations

import tempfile

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from streaming.batch.bulk import hashed_files
from streaming.config import Config
from streaming.imageframe import hash_column
from streaming.index.lookup import open_lookup
from streaming.index.scratch import pairs_of, scratch_index


def find_pairs(
    spark: SparkSession, config: Config, folder: str
) -> tuple[list[tuple[str, str, int]], list[tuple[str, str, str]]]:
    """(pairs (a, b, distance) with a < b, sorted; files that failed (path, code, message))."""
    hashing = config.hashing
    hashed = hashed_files(spark, config, [folder]).persist()
    try:
        failed = [
            (r["path"], r["error_code"], r["error_message"])
            for r in hashed.where("error_code IS NOT NULL")
            .select("path", "error_code", "error_message")
            .collect()
        ]
        rows = hashed.where("error_code IS NULL").select(
            F.col("path").alias("id"), F.col(hash_column(hashing.primary)).alias("hash")
        )
        # The scratch index lives as long as the lookup: the executors of a cluster must reach it
        # (a shared file system) when index.lookup is sharded.
        with tempfile.TemporaryDirectory(prefix="neardup-dedup-") as scratch:
            index = scratch_index(
                spark, scratch, rows, hashing.primary, hashing.hash_size, hashing.threshold
            )
            found = pairs_of(open_lookup(index, config.index), rows, hashing.threshold)
    finally:
        hashed.unpersist()
    # Each pair is found from both sides: kept once, as (a, b) with a < b.
    pairs = {(min(a, b), max(a, b)): apart for (a, b), apart in found.items()}
    return sorted((a, b, apart) for (a, b), apart in pairs.items()), sorted(failed)
