"""The streaming job: Kafka `images` -> hash (mapInPandas) -> banded match -> alerts to Kafka ->
register in Delta.

Each micro-batch runs in foreachBatch, in this order, so that a batch run again after a crash gives
the same result and writes nothing twice:
1. the ingested rows are persisted (hashing runs once, and later steps never see their own inserts);
2. dead letters go to the DLQ topic, alerts to the alerts topic (at-least-once, deterministic keys);
3. the batch's images are registered in the Delta index, idempotently per (app id, batch id).
Matches follow the order rule of DESIGN.md: an image matches an earlier one (Kafka timestamp, then
partition, then offset) or one registered outside the stream (a bank), never itself.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pyspark.sql import Column, DataFrame, Row, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery
from pyspark.sql.types import StructType

from streaming import kafka_io
from streaming.config import Config
from streaming.errors import ConfigError
from streaming.hashing import HashSpec
from streaming.hashing.types import EXTRA_COLUMNS
from streaming.imageframe import hash_column
from streaming.index.decisions import ReviewedPairs, pair_of
from streaming.index.distance import distance
from streaming.index.lookup import Pairs, open_lookup
from streaming.index.pairs import as_words, near_pairs
from streaming.index.table import HashIndex
from streaming.storage import delta_storage_options, on_object_store
from streaming.stream.failpoints import crash_point
from streaming.stream.ingest import KAFKA_COLUMNS, ingest, ingested_schema
from streaming.stream.progress import BatchStats, progress_listener

POSITION = ("source_timestamp", "source_partition", "source_offset")


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
        unletterbox=hashing.unletterbox,
        grey=hashing.grey,
    )


def open_index(spark: SparkSession, config: Config) -> HashIndex:
    hashing = config.hashing
    index = HashIndex(
        spark,
        config.index.path,
        hashing.primary,
        hashing.hash_size,
        hashing.threshold,
        storage_options=delta_storage_options(config, config.index.path),
    )
    index.ensure()
    return index


def start_stream(spark: SparkSession, config: Config, options: StreamOptions) -> StreamingQuery:
    """Start the query (topics and index created if missing); the caller awaits or stops it."""
    if config.hashing.dihedral or config.hashing.rule:
        # streaming/index/variants.py and rule.py hold the matching; the micro-batch does not call
        # them yet (issue 17).
        raise ConfigError(
            "hashing.dihedral and hashing.rule are not applied by the stream yet: `neardup "
            "evaluate` and bench.robustness apply them"
        )
    kafka = config.kafka
    alerts_topic = kafka.dry_run_alerts_topic if options.dry_run else kafka.alerts_topic
    kafka_io.ensure_topics(config, stream_topics(config, options))
    index = open_index(spark, config)
    spec = hash_spec(config)

    reader = spark.readStream.format("kafka").options(**kafka_io.spark_options(config))
    reader = reader.option("subscribe", kafka.images_topic).option("failOnDataLoss", "false")
    # Hashing is the costly step: split a partition's offsets so that every core hashes, whatever
    # the partitions.
    reader = reader.option("minPartitions", str(spark.sparkContext.defaultParallelism))
    if options.starting_timestamp is not None:
        reader = reader.option("startingTimestamp", str(options.starting_timestamp))
    else:
        reader = reader.option(
            "startingOffsets", starting_offsets_option(options.starting_offsets, kafka.images_topic)
        )
    if options.max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", str(options.max_offsets_per_trigger))
    ingested = (
        reader.load()
        .select(*KAFKA_COLUMNS)
        .mapInPandas(ingest(config, spec), ingested_schema(spec))
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
    listener.track(str(query.id), batches.stats)
    return query


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


class MicroBatch:
    """The foreachBatch function: one call per micro-batch, on the driver.

    A micro-batch is small (maxOffsetsPerTrigger bounds it), so once hashed its good rows are
    collected: matching within the batch, the order rule and the alert fields are plain Python on
    the driver, and Spark runs only what touches the index (the matched images' fields, the
    registration, and the probe join when index.lookup is "join") and the Kafka writes. Each Spark
    action costs a fixed fraction of a second on any cluster; this keeps a micro-batch to a handful
    of them, where joins in Spark took some forty jobs.
    """

    def __init__(
        self, config: Config, options: StreamOptions, index: HashIndex, alerts_topic: str, app: str
    ):
        self.config = config
        self.options = options
        self.index = index
        self.lookup = open_lookup(index, config.index)
        self.alerts_topic = alerts_topic
        self.app_id = app
        self.stats: dict[int, BatchStats] = {}
        self.index_size: int | None = None
        # what reviewers decided (neardup review), read again when the table's version moves
        self.reviewed = ReviewedPairs(f"{config.index.path.rstrip('/')}/decisions")
        self.banked: Mapping[str, str] = {}  # the bank memberships already applied

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        batch = batch.persist()
        watch = Stopwatch()
        try:
            spark = batch.sparkSession
            rows = batch.collect()
            hashed = [row for row in rows if row["error_code"] is None]
            good, dead_count = first_per_id(hashed), len(rows) - len(hashed)
            watch.lap("hash")
            if dead_count:
                dead = batch.where(F.col("error_code").isNotNull())
                write_kafka(dead_letters(dead), self.config, self.config.kafka.dlq_topic)
            reviewed = self.reviewed.current()
            if reviewed.bank_members != self.banked and not self.options.dry_run:
                self.index.join_banks(reviewed.bank_members)
                self.banked = reviewed.bank_members
            hashing = self.config.hashing
            primary = [row[hash_column(hashing.primary)] for row in good]
            candidates = self.lookup.near([row["id"] for row in good], primary, hashing.threshold)
            # One lookup of `images` serves the order rule and the alerts (matched images' fields)
            # and the registration (which of the batch's ids are already indexed: a replay, or this
            # batch run again after a crash).
            wanted = {row["id"] for row in good} | {match_id for _, match_id in candidates}
            indexed = self.lookup.rows(wanted, lookup_columns(self.config))
            matches = earlier_matches(good, candidates, indexed)
            for earlier, later, apart in near_pairs(as_words(primary), hashing.threshold):
                matches[good[later]["id"], good[earlier]["id"]] = apart
            matches = {p: d for p, d in matches.items() if pair_of(*p) not in reviewed.suppressed}
            watch.lap("match")
            alerts = alert_list(good, matches, indexed, self.config)
            if alerts:
                # The dicts are ours and of the schema's types: Spark's per-row check would double
                # this step.
                frame = spark.createDataFrame(alerts, ALERT_COLUMNS, verifySchema=False)
                write_kafka(alert_messages(frame), self.config, self.alerts_topic)
            watch.lap("alerts")
            crash_point("after_alerts", batch_id)
            alerted = {alert["image_id"] for alert in alerts}
            added = self.register(good, alerted, indexed.keys(), batch.schema, batch_id)
            # The Delta commit is done, the checkpoint's is not.
            crash_point("after_register", batch_id)
            if self.index_size is None:
                self.index_size = self.index.images().count()
            else:
                self.index_size += added
            watch.lap("register")
            self.stats[batch_id] = BatchStats(
                alerts=len(alerts),
                dead_letters=dead_count,
                index_size=self.index_size,
                seconds=watch.laps,
            )
        finally:
            batch.unpersist()

    def register(
        self,
        good: list[Row],
        alerted: set[str],
        indexed: Collection[str],
        schema: StructType,
        batch_id: int,
    ) -> int:
        mode = "none" if self.options.dry_run else self.options.register
        if mode == "none":
            return 0
        rows = [
            row
            for row in good
            if row["id"] not in indexed and not (mode == "unique" and row["id"] in alerted)
        ]
        if rows:
            frame = self.index.spark.createDataFrame(rows, schema, verifySchema=False).select(
                *index_columns(self.config),
                F.lit(self.app_id).alias("registered_by"),
                F.lit(batch_id).cast("bigint").alias("batch_id"),
                F.current_timestamp().alias("registered_at"),
            )
            self.index.append(frame, self.app_id, batch_id, with_bands=self.lookup.writes_bands)
        return len(rows)


class Stopwatch:
    """Seconds spent in each named step, for the progress line."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, step: str) -> None:
        now = time.perf_counter()
        self.laps[step] = now - self._last
        self._last = now


def first_per_id(rows: list[Row]) -> list[Row]:
    """The rows in stream order (Kafka timestamp, partition, offset), an id seen twice kept at its
    first."""
    first: dict[str, Row] = {}
    for row in sorted(rows, key=position):
        first.setdefault(row["id"], row)
    return list(first.values())


def position(row: Row | Mapping[str, Any]) -> tuple:
    return tuple(row[c] for c in POSITION)


def index_columns(config: Config) -> list[Column | str]:
    return [
        "id",
        "bank",
        "uri",
        F.lit(config.hashing.hash_size).alias("hash_size"),
        *(hash_column(t) for t in config.hashing.types),
        *EXTRA_COLUMNS,
        *("source_topic", *POSITION),
    ]


def earlier_matches(good: list[Row], candidates: Pairs, indexed: dict[str, dict]) -> Pairs:
    """The index's candidates that came before their image in the stream, or from a bank (no
    position). A batch run again after a crash finds its own earlier rows in the index too: keyed
    by pair, they count once with the in-batch pairs."""
    images = {row["id"]: row for row in good}
    return {
        (image_id, match_id): apart
        for (image_id, match_id), apart in candidates.items()
        if match_id in indexed  # gone from the table since the lookup's snapshot: nothing to report
        and (
            indexed[match_id]["source_offset"] is None
            or position(indexed[match_id]) < position(images[image_id])
        )
    }


def lookup_columns(config: Config) -> list[str]:
    """The `images` columns an alert reports of a matched image."""
    return [
        "id",
        "bank",
        "uri",
        *(hash_column(t) for t in config.hashing.types),
        "source_topic",
        *POSITION,
    ]


def alert_list(
    good: list[Row], matches: dict[tuple[str, str], int], indexed: dict[str, dict], config: Config
) -> list[dict]:
    """The alerts of the matches, in (image, match) order; both sides' fields from the batch or the
    index."""
    in_batch = {row["id"]: row.asDict() for row in good}
    detected_at = datetime.now(UTC)
    # A match found in the bands whose image row is not committed yet (a writer stopped between its
    # two commits) alerts once that writer's batch is run again and registers it.
    return [
        alert(in_batch[image_id], matched, apart, config, detected_at)
        for (image_id, match_id), apart in sorted(matches.items())
        if (matched := in_batch.get(match_id) or indexed.get(match_id))
    ]


def alert(image: dict, match: dict, apart: int, config: Config, detected_at: datetime) -> dict:
    """The fields of schemas/duplicate_alert.schema.json for `image` matching `match` (rows as
    dicts)."""
    hashing = config.hashing
    key = "\u0000".join((image["id"], match["id"], hashing.primary))
    return {
        "alert_id": hashlib.sha256(key.encode()).hexdigest()[:32],
        "image_id": image["id"],
        "match_id": match["id"],
        "bank": match["bank"],
        "hash_type": hashing.primary,
        "distance": apart,
        "threshold": hashing.threshold,
        "distances": {
            t: distance(t, image[hash_column(t)], match[hash_column(t)], hashing.hash_size)
            for t in hashing.types
        },
        "image_uri": image["uri"],
        "match_uri": match["uri"],
        "image_source": source(image),
        "match_source": source(match) if match["source_offset"] is not None else None,
        "meta": image.get("meta"),
        "detected_at": detected_at,
    }


def source(row: dict) -> dict:
    return {
        "topic": row["source_topic"],
        "partition": row["source_partition"],
        "offset": row["source_offset"],
        "timestamp": row["source_timestamp"],
    }


_POSITION_TYPE = "STRUCT<topic: STRING, partition: INT, offset: BIGINT, timestamp: TIMESTAMP>"
ALERT_COLUMNS = (
    "alert_id STRING, image_id STRING, match_id STRING, bank STRING, hash_type STRING, distance "
    "INT, threshold INT, "
    "distances MAP<STRING, INT>, image_uri STRING, match_uri STRING, image_source "
    f"{_POSITION_TYPE}, "
    f"match_source {_POSITION_TYPE}, meta STRING, detected_at TIMESTAMP"
)


def alert_messages(alerts: DataFrame) -> DataFrame:
    """Kafka (key, value) rows: key = alert_id, value = the alert JSON
    (schemas/duplicate_alert.schema.json)."""
    fields = [c for c in alerts.columns if c != "meta"]
    # meta is the producer's own JSON object: parsed as VARIANT so it is embedded as an object, not
    # a string.
    value = F.to_json(
        F.struct(*fields, F.try_parse_json("meta").alias("meta")), {"ignoreNullFields": "false"}
    )
    return alerts.select(F.col("alert_id").alias("key"), value.alias("value"))


def dead_letters(dead: DataFrame) -> DataFrame:
    """Kafka (key, value) rows of schemas/dead_letter.schema.json, keyed by the original key."""
    record = F.struct(
        F.col("error_code").alias("reason"),
        F.col("error_message").alias("message"),
        F.col("id"),
        F.struct(F.col("key"), F.col("value")).alias("original"),
        F.struct(
            F.col("source_topic").alias("topic"),
            F.col("source_partition").alias("partition"),
            F.col("source_offset").alias("offset"),
            F.col("source_timestamp").alias("timestamp"),
        ).alias("source"),
        F.current_timestamp().alias("failed_at"),
    )
    return dead.select("key", F.to_json(record, {"ignoreNullFields": "false"}).alias("value"))


def write_kafka(messages: DataFrame, config: Config, topic: str) -> None:
    """Write (key, value) rows to a topic."""
    messages.write.format("kafka").options(**kafka_io.spark_options(config)).option(
        "topic", topic
    ).save()
