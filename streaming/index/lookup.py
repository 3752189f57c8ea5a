"""A micro-batch's lookup in the Delta index: which indexed images lie within the threshold of its
hashes, and the indexed rows of given ids.

Every lookup gives one answer: the pairs within the threshold in the index's latest snapshot, each
once. How it gets there is the lookup's own (index.lookup): "memory" holds the primary hashes on the
driver (resident.py), "sharded" holds them in shards on the executors (sharded.py, shards.py),
"join" joins probes with the bands table in Spark (join.py); "auto" picks memory or sharded by the
index's size.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol
from urllib.parse import urlparse

from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F

from streaming.config import IndexConfig
from streaming.imageframe import hash_column
from streaming.index.table import HashIndex

Pairs = dict[tuple[str, str], int]  # (query id, indexed id) -> distance


class Lookup(Protocol):
    """What the stream asks of an index lookup."""

    # Whether a stream using this lookup must write the bands table with its registrations.
    writes_bands: bool

    def near(self, ids: Sequence[str], hashes: Sequence[Sequence[int]], threshold: int) -> Pairs:
        """(query id, indexed id) -> distance for every indexed hash within threshold, never an id
        with itself."""
        ...

    def rows(self, ids: Collection[str], columns: Sequence[str]) -> dict[str, dict]:
        """The `images` rows of these ids in the snapshot of the last lookup, by id."""
        ...


def open_lookup(index: HashIndex, settings: IndexConfig) -> Lookup:
    """The lookup that index.lookup names (for "auto": chosen by the index's size)."""
    from streaming.index.join import JoinLookup
    from streaming.index.resident import ResidentLookup
    from streaming.index.sharded import ShardedLookup

    kind, _ = choose_lookup(index, settings)
    if kind == "sharded":
        return ShardedLookup(index, settings.shards)
    return {"memory": ResidentLookup, "join": JoinLookup}[kind](index)


def choose_lookup(index: HashIndex, settings: IndexConfig) -> tuple[str, str]:
    """(the lookup a stream would open now, why)."""
    if settings.lookup != "auto":
        return settings.lookup, f"index.lookup = {settings.lookup}"
    images, limit = index.images().count(), settings.memory_max_images
    if images <= limit:
        return "memory", f"auto: {images} images <= index.memory_max_images ({limit})"
    if not on_file_system(index.images_path):
        return (
            "join",
            f"auto: {images} images > index.memory_max_images ({limit}), not on a file system",
        )
    return "sharded", f"auto: {images} images > index.memory_max_images ({limit})"


def on_file_system(path: str) -> bool:
    """Whether a table is on a file system every process reaches by path (what the shards read)."""
    return urlparse(path).scheme in ("", "file")


# Queries sent to a lookup at once by pairs_of: bounds what the driver and each task hold.
QUERY_CHUNK = 100_000


def pairs_of(lookup: Lookup, rows: DataFrame, threshold: int) -> Pairs:
    """(id, indexed id) -> distance for every row (`id`, `hash`) of a DataFrame, looked up in chunks
    (a batch caller's rows: a folder to dedup, a dataset to transform)."""
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
