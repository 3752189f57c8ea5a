"""Lookups for batch callers (a folder to dedup, a dataset to transform): their rows as a scratch
Delta index, and the pairs of many rows asked of a lookup in chunks, probed as the stream probes a
micro-batch (hashing.dihedral's variants, hashing.crops' crops: index/variants.py)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from streaming.imageframe import hash_column
from streaming.index.crops import CROPS_COLUMN
from streaming.index.lookup import Lookup
from streaming.index.table import HashIndex
from streaming.index.variants import Found, near_probes, probes_of

# Queries sent to a lookup at once by pairs_of: bounds what the driver and each task hold.
QUERY_CHUNK = 100_000


def pairs_of(
    lookup: Lookup,
    rows: DataFrame,
    threshold: int,
    dihedral: bool = False,
    crops: Sequence[float] = (),
) -> Found:
    """(id, indexed id) -> distance and transform for every row of a DataFrame, looked up in
    chunks with the stream's probes (variants.probes_of, near_probes): `id`, `hash`, with
    `dihedral` `variants` (its 8 dihedral variants end to end), with `crops` `crop_hashes` (its
    crops' hashes end to end, in the order of `crops`). A row missing one of them is no query."""
    used = ["hash", *(["variants"] if dihedral else []), *(["crop_hashes"] if crops else [])]
    queries = rows.select("id", *used).dropna(subset=used)
    found: Found = {}
    for chunk in _chunks(queries):
        words, transforms = probes_of(
            [r["hash"] for r in chunk],
            [r["variants"] for r in chunk] if dihedral else None,
            [r["crop_hashes"] for r in chunk] if crops else None,
            crops,
        )
        ids = [r["id"] for r in chunk]
        found |= near_probes(ids, words, transforms, threshold, lookup.near)
    return found


def _chunks(rows: DataFrame) -> Iterator[list[dict[str, Any]]]:
    """The rows on the driver, QUERY_CHUNK at a time."""
    chunk: list[dict[str, Any]] = []
    for row in rows.toLocalIterator():
        chunk.append(row.asDict())
        if len(chunk) == QUERY_CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def scratch_index(
    spark: SparkSession,
    folder: str,
    rows: DataFrame,
    hash_type: str,
    hash_size: int,
    threshold: int,
    crops: bool = False,
) -> HashIndex:
    """A Delta index of rows (`id`, `hash`, and with `crops` the CROPS_COLUMN of each row's crops:
    crops.stored_crops) under folder, for callers without one: the lookups read their hashes from
    a Delta table."""
    index = HashIndex(
        spark,
        folder,
        hash_type,
        hash_size,
        threshold,
        expected_size=max(rows.count(), 1),
        crops=crops,
    )
    index.ensure()
    images = rows.select(
        "id",
        F.col("hash").alias(hash_column(hash_type)),
        *([CROPS_COLUMN] if crops else []),
        F.lit(hash_size).alias("hash_size"),
    )
    index.append(images, "scratch", 0)
    return index
