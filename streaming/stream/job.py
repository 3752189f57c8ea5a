"""The streaming job: Kafka `images` -> hash (mapInPandas) -> match -> alerts and dead letters to
Kafka -> register in Delta.

This module wires the query: the Kafka source, the hashing, the checkpoint and the trigger, and
hands each micro-batch to MicroBatch (microbatch.py), which moves its data in and out, while
decision.py decides what it alerts, registers and dead-letters. Before anything is written, the
checkpoint and the index are checked to be this query's (checkpoint.py, index/table.py).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import StreamingQuery

from streaming import kafka_io
from streaming.config import Config
from streaming.hashing import HashSpec
from streaming.index.table import HashIndex
from streaming.storage import delta_storage_options, on_object_store
from streaming.stream.checkpoint import check_checkpoint
from streaming.stream.ingest import KAFKA_COLUMNS, ingest, ingested_schema
from streaming.stream.microbatch import MicroBatch
from streaming.stream.progress import progress_listener


@dataclass(frozen=True)
class StreamOptions:
    """How one run of the query reads and writes; defaults come from config.stream."""

    checkpoint: str
    starting_offsets: str = "earliest"
    starting_timestamp: int | None = None  # epoch millis; takes precedence over starting_offsets
    max_offsets_per_trigger: int | None = None
    trigger: str = "5s"
    available_now: bool = False
    register: str = "all"
    dry_run: bool = False

    @classmethod
    def from_config(cls, config: Config, **changes: object) -> StreamOptions:
        stream = config.stream
        defaults = cls(
            checkpoint=stream.checkpoint,
            starting_offsets=stream.starting_offsets,
            max_offsets_per_trigger=stream.max_offsets_per_trigger,
            trigger=stream.trigger,
            register=stream.register,
        )
        return cls(**{**defaults.__dict__, **{k: v for k, v in changes.items() if v is not None}})


def app_id(checkpoint: str) -> str:
    """The Delta transaction app id of a query: derived from its checkpoint, so a fresh checkpoint
    is a new writer (its batch ids restart at 0) and a restarted query is the same writer."""
    where = checkpoint if on_object_store(checkpoint) else str(Path(checkpoint).resolve())
    digest = hashlib.sha256(where.encode()).hexdigest()[:16]
    return f"neardup-stream-{digest}"


def hash_spec(config: Config) -> HashSpec:
    hashing = config.hashing
    return HashSpec(
        types=tuple(hashing.types),
        hash_size=hashing.hash_size,
        exact=hashing.exact,
        max_pixels=config.sources.max_pixels,
        dihedral=hashing.dihedral,
        unletterbox=hashing.unletterbox,
        crops=tuple(hashing.crops),
        crop_types=(hashing.primary,),  # the index keeps the primary's crops alone
        grey=hashing.grey,
    )


def open_index(spark: SparkSession, config: Config) -> HashIndex:
    """The index at index.path, created if missing; FOREIGN_INDEX if the path holds another."""
    hashing = config.hashing
    index = HashIndex(
        spark,
        config.index.path,
        hashing.primary,
        hashing.hash_size,
        hashing.threshold,
        storage_options=delta_storage_options(config, config.index.path),
        crops=bool(hashing.crops),
    )
    index.ensure()
    return index


def start_stream(spark: SparkSession, config: Config, options: StreamOptions) -> StreamingQuery:
    """Start the query (topics and index created if missing); the caller awaits or stops it."""
    kafka = config.kafka
    # Both checks come before the first write: a foreign checkpoint or index leaves no trace.
    check_checkpoint(spark, options.checkpoint, kafka.images_topic)
    index = open_index(spark, config)
    alerts_topic = kafka.dry_run_alerts_topic if options.dry_run else kafka.alerts_topic
    kafka_io.ensure_topics(config, stream_topics(config, options))
    spec = hash_spec(config)
    ingested = image_records(spark, config, options).mapInPandas(
        ingest(config, spec), ingested_schema(spec)
    )

    batches = MicroBatch(config, options, index, alerts_topic, app_id(options.checkpoint))
    listener = progress_listener(spark)
    writer = ingested.writeStream.queryName("neardup").option(
        "checkpointLocation", options.checkpoint
    )
    writer = writer.foreachBatch(batches)
    writer = (
        writer.trigger(availableNow=True)
        if options.available_now
        else writer.trigger(processingTime=processing_time(options.trigger))
    )
    query = writer.start()
    listener.track(str(query.id), batches.stats, on_terminated=batches.close)
    return query


def image_records(spark: SparkSession, config: Config, options: StreamOptions) -> DataFrame:
    """The images topic as a stream of Kafka records (KAFKA_COLUMNS), from the options' start, in
    micro-batches of at most their max offsets."""
    topic = config.kafka.images_topic
    reader = spark.readStream.format("kafka").options(**kafka_io.spark_options(config))
    reader = reader.option("subscribe", topic).option("failOnDataLoss", "false")
    # Hashing is the costly step: split a partition's offsets so that every core hashes, whatever
    # the partitions.
    reader = reader.option("minPartitions", str(spark.sparkContext.defaultParallelism))
    if options.starting_timestamp is not None:
        reader = reader.option("startingTimestamp", str(options.starting_timestamp))
    else:
        reader = reader.option(
            "startingOffsets", starting_offsets_option(options.starting_offsets, topic)
        )
    if options.max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", str(options.max_offsets_per_trigger))
    return reader.load().select(*KAFKA_COLUMNS)


def stream_topics(config: Config, options: StreamOptions) -> list[str]:
    """The topics the query reads and writes."""
    kafka = config.kafka
    alerts_topic = kafka.dry_run_alerts_topic if options.dry_run else kafka.alerts_topic
    return [kafka.images_topic, alerts_topic, kafka.dlq_topic]


_UNITS = {"ms": "milliseconds", "s": "seconds", "m": "minutes", "h": "hours"}


def processing_time(trigger: str) -> str:
    """Spark's interval text for "5s", "500ms", "1m"; Spark's own form ("5 seconds") passes
    through."""
    found = re.fullmatch(r"\s*(\d+)\s*(ms|s|m|h)\s*", trigger)
    return f"{found.group(1)} {_UNITS[found.group(2)]}" if found else trigger


def starting_offsets_option(value: str, topic: str) -> str:
    """earliest | latest | Spark's JSON; a JSON of partitions alone ({"0": 42}) is taken for the
    images topic."""
    if value in ("earliest", "latest"):
        return value
    try:
        offsets = json.loads(value)
    except json.JSONDecodeError:
        raise ValueError(
            f"starting offsets must be earliest, latest or JSON, got {value!r}"
        ) from None
    if isinstance(offsets, dict) and offsets and all(str(k).isdigit() for k in offsets):
        offsets = {topic: offsets}
    return json.dumps(offsets)
