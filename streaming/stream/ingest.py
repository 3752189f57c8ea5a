"""Kafka records -> hashed image rows, inside mapInPandas: parse, validate, read the bytes, hash.

Every record yields exactly one row. A record that fails at any step keeps its error_code (a
dead-letter reason of schemas/dead_letter.schema.json) and error_message, and its original value,
so the job can dead-letter it; good rows carry NULL there.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pandas as pd
from pyspark.sql.types import (
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from streaming.config import SourcesConfig
from streaming.errors import Rejected
from streaming.hashing import HashSpec, ImageHashes, hash_images
from streaming.imageframe import CHUNK, hash_fields, hash_frame
from streaming.messages import MessageLimits, parse_image_ref
from streaming.sources import Sources

KAFKA_COLUMNS = ("key", "value", "topic", "partition", "offset", "timestamp")

REF_FIELDS = [
    StructField("key", StringType()),
    StructField("id", StringType()),
    StructField("bank", StringType()),
    StructField("uri", StringType()),
    StructField("meta", StringType()),  # the message's free `meta` object, as JSON text
]
SOURCE_FIELDS = [
    StructField("value", StringType()),  # the original message, kept for dead letters only
    StructField("source_topic", StringType()),
    StructField("source_partition", IntegerType()),
    StructField("source_offset", LongType()),
    StructField("source_timestamp", TimestampType()),
]


def ingested_schema(spec: HashSpec) -> StructType:
    return StructType([*REF_FIELDS, *hash_fields(spec), *SOURCE_FIELDS])


def ingest(
    sources_config: SourcesConfig, spec: HashSpec
) -> Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]]:
    """The mapInPandas function from Kafka records (KAFKA_COLUMNS) to rows of
    ingested_schema(spec)."""

    def ingest_batches(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        sources = Sources.from_config(sources_config)
        limits = MessageLimits.from_config(sources_config)
        for batch in batches:
            for start in range(0, len(batch), CHUNK):
                yield _ingest_chunk(batch.iloc[start : start + CHUNK], sources, limits, spec)

    return ingest_batches


def _ingest_chunk(
    records: pd.DataFrame, sources: Sources, limits: MessageLimits, spec: HashSpec
) -> pd.DataFrame:
    refs: list[dict] = []
    results: list[ImageHashes | None] = []
    blobs: list[bytes] = []
    for value in records["value"]:
        ref, result, blob = _read(value, sources, limits)
        refs.append(ref)
        results.append(result)
        if blob is not None:
            blobs.append(blob)
    hashed = iter(hash_images(blobs, spec))
    results = [next(hashed) if result is None else result for result in results]
    frame = pd.concat([pd.DataFrame(refs), hash_frame(results, spec)], axis=1)
    frame["key"] = [k.decode("utf-8", "replace") if k is not None else None for k in records["key"]]
    failed = frame["error_code"].notna().to_numpy()
    frame["value"] = [
        v.decode("utf-8", "replace") if bad and v is not None else None
        for v, bad in zip(records["value"], failed, strict=True)
    ]
    frame["source_topic"] = records["topic"].to_numpy()
    frame["source_partition"] = records["partition"].to_numpy()
    frame["source_offset"] = records["offset"].to_numpy()
    frame["source_timestamp"] = records["timestamp"].to_numpy()
    return frame[[f.name for f in ingested_schema(spec).fields]]


def _read(
    value: bytes | None, sources: Sources, limits: MessageLimits
) -> tuple[dict, ImageHashes | None, bytes | None]:
    """(reference columns, a failed result or None, the bytes to hash or None)."""
    try:
        ref = parse_image_ref(value, limits)
    except Rejected as e:
        return _ref_columns(e.image_id), ImageHashes(hashes={}, error=e), None
    columns = _ref_columns(ref.id, ref.bank, ref.uri, ref.meta)
    try:
        return columns, None, sources.read(ref.uri, ref.content)
    except Rejected as e:
        return columns, ImageHashes(hashes={}, error=e), None


def _ref_columns(image_id=None, bank=None, uri=None, meta=None) -> dict:
    return {
        "id": image_id,
        "bank": bank,
        "uri": uri,
        "meta": None if meta is None else json.dumps(meta),
    }
