"""Banded matching in Spark: probe the bands, verify the full hash exactly with bit_count.

A query's probes are its band values XOR every mask of weight <= its band's radius (a small static
table joined to the queries), looked up with an equi-join on (band, value); candidates are then
verified with the exact Hamming distance, so the answer is exactly the pairs within the threshold
(bands.py proves that none is missed).
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from streaming.index.bands import BandPlan
from streaming.index.distance import hamming
from streaming.index.table import HashIndex, band_values


def probes(queries: DataFrame, plan: BandPlan) -> DataFrame:
    """(query_id, band, value) for every probe of every query (`id`, `hash`): slim, so that Spark
    can broadcast a micro-batch's probes to the scan of the bands table."""
    spark = queries.sparkSession
    masks = spark.createDataFrame(
        [(band, mask) for band in range(plan.bands) for mask in plan.masks(band)],
        "band INT, mask BIGINT",
    )
    bands = queries.select(
        F.col("id").alias("query_id"), F.explode(band_values(F.col("hash"), plan)).alias("b")
    )
    return (
        bands.select("query_id", "b.band", "b.value")
        .join(F.broadcast(masks), "band")
        .select("query_id", "band", (F.col("value").bitwiseXOR(F.col("mask"))).alias("value"))
    )


def _verified(candidates: DataFrame, queries: DataFrame, threshold: int) -> DataFrame:
    """Candidates (query_id, hash, ...) with the exact distance to their query, those within
    threshold, once. Verification comes before deduplication: a pair found through several bands
    is cheap to verify twice, while deduplicating every candidate would shuffle them all."""
    query_hashes = queries.select(F.col("id").alias("query_id"), F.col("hash").alias("query_hash"))
    verified = candidates.join(query_hashes, "query_id").withColumn(
        "distance", hamming("query_hash", "hash")
    )
    return verified.where(F.col("distance") <= threshold).drop("query_hash", "hash")


def match_index(queries: DataFrame, index: HashIndex, threshold: int) -> DataFrame:
    """Each (query, index image) within threshold, query id != index id, with the index row's
    position fields."""
    _check(threshold, index.plan)
    candidates = (
        index.bands().drop("hash_type").join(probes(queries, index.plan), ["band", "value"])
    )
    candidates = candidates.where(F.col("query_id") != F.col("id")).drop("band", "value")
    return (
        _verified(candidates, queries, threshold)
        .dropDuplicates(["query_id", "id"])
        .select(
            "query_id",
            F.col("id").alias("match_id"),
            "distance",
            "bank",
            "source_timestamp",
            "source_partition",
            "source_offset",
            "registered_by",
            "batch_id",
        )
    )


def _check(threshold: int, plan: BandPlan) -> None:
    if threshold > plan.threshold:
        raise ValueError(
            f"threshold {threshold} exceeds the {plan.threshold} the bands guarantee recall for"
        )
