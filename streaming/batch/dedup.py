"""Batch dedup of a folder: hash every image, then look every image up among the others with the
index lookup the stream uses (index.lookup), over a scratch Delta index of the folder's hashes,
probed as the stream probes (index/scratch.pairs_of): with hashing.dihedral each image's 8
variants, with hashing.crops the crops the index holds and the image's own."""

from __future__ import annotations

import tempfile
from typing import NamedTuple

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from streaming.batch.bulk import hashed_files
from streaming.config import Config
from streaming.imageframe import crops_column, hash_column, stored_crops_column, variants_column
from streaming.index.crops import CROPS_COLUMN
from streaming.index.lookup import open_lookup
from streaming.index.scratch import pairs_of, scratch_index
from streaming.index.variants import undirected


class FolderPair(NamedTuple):
    a: str  # the smaller path
    b: str
    distance: int
    transform: str  # b = transform(a): identity, flip_h, ..., crop20 (b is a's central 80 %)


def find_pairs(
    spark: SparkSession, config: Config, folder: str
) -> tuple[list[FolderPair], list[tuple[str, str, str]]]:
    """(the pairs within hashing.threshold, sorted; files that failed (path, code, message))."""
    hashing, primary = config.hashing, config.hashing.primary
    hashed = hashed_files(spark, config, [folder]).persist()
    try:
        failed = [
            (r["path"], r["error_code"], r["error_message"])
            for r in hashed.where("error_code IS NOT NULL")
            .select("path", "error_code", "error_message")
            .collect()
        ]
        rows = hashed.where("error_code IS NULL").select(
            F.col("path").alias("id"),
            F.col(hash_column(primary)).alias("hash"),
            *([F.col(variants_column(primary)).alias("variants")] if hashing.dihedral else []),
            *([F.col(crops_column(primary)).alias("crop_hashes")] if hashing.crops else []),
            stored_crops_column(hashing).alias(CROPS_COLUMN),
        )
        # The scratch index lives as long as the lookup: the executors of a cluster must reach it
        # (a shared file system) when index.lookup is sharded.
        with tempfile.TemporaryDirectory(prefix="neardup-dedup-") as scratch:
            index = scratch_index(
                spark,
                scratch,
                rows,
                primary,
                hashing.hash_size,
                hashing.threshold,
                crops=bool(hashing.crops),
            )
            lookup = open_lookup(index, config.index)
            found = pairs_of(lookup, rows, hashing.threshold, hashing.dihedral, hashing.crops)
    finally:
        hashed.unpersist()
    # Each pair is met from both sides: kept once, as (a, b) with a < b.
    pairs = [FolderPair(a, b, *near) for (a, b), near in undirected(found).items()]
    return sorted(pairs), sorted(failed)
