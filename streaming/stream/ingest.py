"""Kafka records -> hashed image rows, inside mapInPandas: parse, validate, read the bytes, hash.

Every record yields exactly one row. A record that fails at any step keeps its error_code (a
dead-letter reason of schemas/dead_letter.schema.json) and error_message, and its original value,
so the job can dead-letter it; good rows carry NULL there. The images are fetched concurrently
(sources.max_in_flight ahead, across Arrow batches) while the ones already fetched are hashed.
"""

from __future__ import annotations

import json
from collections import deque
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
            yield from _ingest_batches(batches, fetcher, limits, spec)

    return ingest_batches


def _ingest_batches(
    batches: Iterator[pd.DataFrame], fetcher: Fetcher, limits: MessageLimits, spec: HashSpec
) -> Iterator[pd.DataFrame]:
    """Frames of up to CHUNK rows, batch by batch. One read_all spans the batches, so the next
    batch's first images are fetched while this one's last are hashed: no batch starts with an
    empty pipeline."""
    admitted: deque[tuple[pd.DataFrame, list[dict]]] = deque()  # read from, not all framed yet

    def reads() -> Iterator[Read]:
        for records in batches:
            if len(records):  # an empty batch has no row to frame
                pairs = [_admit(value, fetcher, limits) for value in records["value"]]
                admitted.append((records, [ref for ref, _ in pairs]))
                yield from (read for _, read in pairs)

    chunk: list[ImageHashes] = []
    done = 0  # rows of admitted[0] hashed
    for outcome in fetcher.read_all(reads()):
        records, refs = admitted[0]
        chunk.append(_hashed(outcome, spec))
        done += 1
        if len(chunk) == CHUNK or done == len(records):
            rows = slice(done - len(chunk), done)
            yield _frame(records.iloc[rows], refs[rows], chunk, spec)
            chunk = []
        if done == len(records):
            admitted.popleft()
            done = 0


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
