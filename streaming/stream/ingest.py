"""Kafka records -> hashed image rows, inside mapInPandas: parse, validate, read the bytes, hash.

Every record yields exactly one row. A record that fails at any step keeps its error_code (a
dead-letter reason of schemas/dead_letter.schema.json) and error_message, and its original value,
so the job can dead-letter it; good rows carry NULL there. Within each Arrow batch the images are
fetched concurrently (sources.max_in_flight) while the ones already fetched are hashed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from itertools import islice

import pandas as pd
from pyspark.sql.types import (
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from streaming.config import Config
from streaming.errors import Rejected
from streaming.hashing import HashSpec, ImageHashes, hash_image
from streaming.imageframe import CHUNK, hash_fields, hash_frame
from streaming.messages import MessageLimits, parse_image_ref
from streaming.sources import Fetcher, Read

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
    config: Config, spec: HashSpec
) -> Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]]:
    """The mapInPandas function from Kafka records (KAFKA_COLUMNS) to rows of
    ingested_schema(spec)."""

    def ingest_batches(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        limits = MessageLimits.from_config(config.sources)
        with Fetcher(config) as fetcher:
            for batch in batches:
                yield from _ingest_batch(batch, fetcher, limits, spec)

    return ingest_batches


def _ingest_batch(
    records: pd.DataFrame, fetcher: Fetcher, limits: MessageLimits, spec: HashSpec
) -> Iterator[pd.DataFrame]:
    admitted = [_admit(value, fetcher, limits) for value in records["value"]]
    refs = [ref for ref, _ in admitted]
    results = (_hashed(outcome, spec) for outcome in fetcher.read_all(r for _, r in admitted))
    for start in range(0, len(records), CHUNK):
        chunk = records.iloc[start : start + CHUNK]
        yield _frame(chunk, refs[start : start + CHUNK], list(islice(results, CHUNK)), spec)


def _admit(value: bytes | None, fetcher: Fetcher, limits: MessageLimits) -> tuple[dict, Read]:
    """(reference columns, what to read for it or why not)."""
    try:
        ref = parse_image_ref(value, limits)
    except Rejected as e:
        return _ref_columns(e.image_id), e
    return _ref_columns(ref.id, ref.bank, ref.uri, ref.meta), fetcher.admit(ref.uri, ref.content)


def _hashed(outcome: bytes | Rejected, spec: HashSpec) -> ImageHashes:
    if isinstance(outcome, Rejected):
        return ImageHashes(hashes={}, error=outcome)
    return hash_image(outcome, spec)


def _frame(
    records: pd.DataFrame, refs: list[dict], results: list[ImageHashes], spec: HashSpec
) -> pd.DataFrame:
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


def _ref_columns(
    image_id: str | None = None,
    bank: str | None = None,
    uri: str | None = None,
    meta: object = None,
) -> dict[str, str | None]:
    return {
        "id": image_id,
        "bank": bank,
        "uri": uri,
        "meta": None if meta is None else json.dumps(meta),
    }
