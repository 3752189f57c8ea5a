"""Batch dedup of a folder: hash every image, then the banded self-join of the set."""

from __future__ import annotations

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from streaming.batch.bulk import hashed_files
from streaming.config import Config
from streaming.hashing import hash_type
from streaming.imageframe import hash_column
from streaming.index.bands import plan_bands
from streaming.index.match import match_self


def find_pairs(
    spark: SparkSession, config: Config, folder: str
) -> tuple[list[tuple[str, str, int]], list[tuple[str, str, str]]]:
    """(pairs (a, b, distance) with a < b, sorted; files that failed (path, code, message))."""
    hashing = config.hashing
    hashed = hashed_files(spark, config, [folder]).persist()
    failed = [
        (r["path"], r["error_code"], r["error_message"])
        for r in hashed.where("error_code IS NOT NULL")
        .select("path", "error_code", "error_message")
        .collect()
    ]
    rows = hashed.where("error_code IS NULL").select(
        F.col("path").alias("id"), F.col(hash_column(hashing.primary)).alias("hash")
    )
    plan = plan_bands(
        hash_type(hashing.primary).width(hashing.hash_size), hashing.threshold, max(rows.count(), 1)
    )
    matched = match_self(rows, plan, hashing.threshold).collect()
    hashed.unpersist()
    return sorted((r["a_id"], r["b_id"], r["distance"]) for r in matched), sorted(failed)
