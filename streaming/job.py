"""The streaming job: Kafka `images` -> hash (mapInPandas) -> banded match -> alerts to Kafka -> register in Delta.

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
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery
from pyspark.sql.window import Window

from streaming import kafka_io
from streaming.config import Config
from streaming.distance import distance
from streaming.failpoints import crash_point
from streaming.hashing import HashSpec
from streaming.imageframe import hash_column
from streaming.index import HashIndex
from streaming.ingest import KAFKA_COLUMNS, ingest, ingested_schema
from streaming.match import match_index, match_self
from streaming.progress import BatchStats, progress_listener

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
    """The Delta transaction app id of a query: derived from its checkpoint, so a fresh checkpoint is a new
    writer (its batch ids restart at 0) and a restarted query is the same writer."""
    digest = hashlib.sha256(str(Path(checkpoint).resolve()).encode()).hexdigest()[:16]
    return f"neardup-stream-{digest}"


def hash_spec(config: Config) -> HashSpec:
    hashing = config.hashing
    return HashSpec(
        types=tuple(hashing.types),
        hash_size=hashing.hash_size,
        exact=hashing.exact,
        max_pixels=config.sources.max_pixels,
    )


def open_index(spark: SparkSession, config: Config) -> HashIndex:
    hashing = config.hashing
    index = HashIndex(spark, config.index.path, hashing.primary, hashing.hash_size, hashing.threshold)
    index.ensure()
    return index


def start_stream(spark: SparkSession, config: Config, options: StreamOptions) -> StreamingQuery:
    """Start the query (topics and index created if missing); the caller awaits or stops it."""
    kafka = config.kafka
    alerts_topic = kafka.dry_run_alerts_topic if options.dry_run else kafka.alerts_topic
    kafka_io.ensure_topics(config, [kafka.images_topic, alerts_topic, kafka.dlq_topic])
    index = open_index(spark, config)
    spec = hash_spec(config)

    reader = spark.readStream.format("kafka").options(**kafka_io.spark_options(config))
    reader = reader.option("subscribe", kafka.images_topic).option("failOnDataLoss", "false")
    if options.starting_timestamp is not None:
        reader = reader.option("startingTimestamp", str(options.starting_timestamp))
    else:
        reader = reader.option("startingOffsets", starting_offsets_option(options.starting_offsets, kafka.images_topic))
    if options.max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", str(options.max_offsets_per_trigger))
    ingested = reader.load().select(*KAFKA_COLUMNS).mapInPandas(ingest(config.sources, spec), ingested_schema(spec))

    batches = MicroBatch(config, options, index, alerts_topic, app_id(options.checkpoint))
    listener = progress_listener(spark)
    writer = ingested.writeStream.queryName("neardup").option("checkpointLocation", options.checkpoint)
    writer = writer.foreachBatch(batches)
    writer = (
        writer.trigger(availableNow=True)
        if options.available_now
        else writer.trigger(processingTime=processing_time(options.trigger))
    )
    query = writer.start()
    listener.track(str(query.id), batches.stats)
    return query


_UNITS = {"ms": "milliseconds", "s": "seconds", "m": "minutes", "h": "hours"}


def processing_time(trigger: str) -> str:
    """Spark's interval text for "5s", "500ms", "1m"; Spark's own form ("5 seconds") passes through."""
    found = re.fullmatch(r"\s*(\d+)\s*(ms|s|m|h)\s*", trigger)
    return f"{found.group(1)} {_UNITS[found.group(2)]}" if found else trigger


def starting_offsets_option(value: str, topic: str) -> str:
    """earliest | latest | Spark's JSON; a JSON of partitions alone ({"0": 42}) is taken for the images topic."""
    if value in ("earliest", "latest"):
        return value
    try:
        offsets = json.loads(value)
    except json.JSONDecodeError:
        raise ValueError(f"starting offsets must be earliest, latest or JSON, got {value!r}") from None
    if isinstance(offsets, dict) and offsets and all(str(k).isdigit() for k in offsets):
        offsets = {topic: offsets}
    return json.dumps(offsets)


class MicroBatch:
    """The foreachBatch function: one call per micro-batch, on the driver."""

    def __init__(self, config: Config, options: StreamOptions, index: HashIndex, alerts_topic: str, app: str):
        self.config = config
        self.options = options
        self.index = index
        self.alerts_topic = alerts_topic
        self.app_id = app
        self.stats: dict[int, BatchStats] = {}
        self.index_size: int | None = None

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        batch = batch.persist()
        try:
            dead_count = batch.where(F.col("error_code").isNotNull()).count()
            good = batch.where(F.col("error_code").isNull())
            alerts = find_alerts(good, self.index, self.config).persist()
            if dead_count:
                dead = batch.where(F.col("error_code").isNotNull())
                write_kafka(dead_letters(dead), self.config, self.config.kafka.dlq_topic)
            alert_count = alerts.count()
            if alert_count:
                write_kafka(alert_messages(alerts), self.config, self.alerts_topic)
            crash_point("after_alerts", batch_id)
            added = self.register(good, alerts, batch_id)
            crash_point("after_register", batch_id)  # the Delta commit is done, the checkpoint's is not
            alerts.unpersist()
            if self.index_size is None:
                self.index_size = self.index.images().count()
            else:
                self.index_size += added
            self.stats[batch_id] = BatchStats(alerts=alert_count, dead_letters=dead_count, index_size=self.index_size)
        finally:
            batch.unpersist()

    def register(self, good: DataFrame, alerts: DataFrame, batch_id: int) -> int:
        mode = "none" if self.options.dry_run else self.options.register
        if mode == "none":
            return 0
        rows = good
        if mode == "unique":
            rows = rows.join(alerts.select(F.col("image_id").alias("id")), "id", "left_anti")
        first = Window.partitionBy("id").orderBy(*POSITION)  # the same id twice in a batch: the first one counts
        rows = rows.withColumn("_n", F.row_number().over(first)).where("_n = 1").drop("_n")
        rows = rows.select(
            *index_columns(self.config),
            F.lit(self.app_id).alias("registered_by"),
            F.lit(batch_id).cast("bigint").alias("batch_id"),
            F.current_timestamp().alias("registered_at"),
        )
        return self.index.register(rows, self.app_id, batch_id)


def index_columns(config: Config) -> list[Column]:
    return [
        "id",
        "bank",
        "uri",
        F.lit(config.hashing.hash_size).alias("hash_size"),
        *(hash_column(t) for t in config.hashing.types),
        "pdq_quality",
        *("source_topic", *POSITION),
    ]


def find_alerts(good: DataFrame, index: HashIndex, config: Config) -> DataFrame:
    """One row per (image, earlier match) within the threshold, with every alert field."""
    hashing = config.hashing
    primary = hash_column(hashing.primary)
    queries = good.select("id", F.col(primary).alias("hash"), *POSITION)

    from_index = match_index(queries.select("id", "hash"), index, hashing.threshold)
    from_index = from_index.join(
        queries.select(F.col("id").alias("query_id"), *(F.col(c).alias(f"q_{c}") for c in POSITION)), "query_id"
    )
    earlier_in_index = F.col("source_offset").isNull() | (F.struct(*POSITION) < F.struct(*(f"q_{c}" for c in POSITION)))
    from_index = from_index.where(earlier_in_index).select(F.col("query_id").alias("image_id"), "match_id", "distance")

    pairs = match_self(queries.select("id", "hash"), index.plan, hashing.threshold)
    position = {row_id: F.struct(*(F.col(f"{row_id}.{c}") for c in POSITION)) for row_id in ("a", "b")}
    a, b = queries.alias("a"), queries.alias("b")
    oriented = (
        pairs.join(a, F.col("a_id") == F.col("a.id"))
        .join(b, F.col("b_id") == F.col("b.id"))
        .select(
            F.when(position["a"] > position["b"], F.col("a_id")).otherwise(F.col("b_id")).alias("image_id"),
            F.when(position["a"] > position["b"], F.col("b_id")).otherwise(F.col("a_id")).alias("match_id"),
            "distance",
        )
    )
    # A batch run again after a crash finds its own earlier rows in the index too: the union drops them.
    matches = from_index.unionByName(oriented).dropDuplicates(["image_id", "match_id"])
    return alert_rows(matches, good, index, config)


def alert_rows(matches: DataFrame, good: DataFrame, index: HashIndex, config: Config) -> DataFrame:
    hashing = config.hashing
    hash_cols = [hash_column(t) for t in hashing.types]
    side = ["id", "bank", "uri", "meta", *hash_cols, "source_topic", *POSITION]
    image = good.select(*side).dropDuplicates(["id"])
    matched_ids = matches.select(F.col("match_id").alias("id")).distinct()
    from_index = (
        index.images()
        .join(matched_ids, "id")
        .select(*(F.lit(None).cast("string").alias(c) if c == "meta" else c for c in side))
    )
    candidate = from_index.unionByName(image).dropDuplicates(["id"])
    joined = matches.join(image.alias("i"), F.col("image_id") == F.col("i.id")).join(
        candidate.alias("m"), F.col("match_id") == F.col("m.id")
    )
    distances = F.create_map(
        *(
            part
            for t in hashing.types
            for part in (F.lit(t), distance(t, f"i.{hash_column(t)}", f"m.{hash_column(t)}", hashing.hash_size))
        )
    )
    return joined.select(
        F.substring(F.sha2(F.concat_ws("\u0000", "image_id", "match_id", F.lit(hashing.primary)), 256), 1, 32).alias(
            "alert_id"
        ),
        "image_id",
        "match_id",
        F.col("m.bank").alias("bank"),
        F.lit(hashing.primary).alias("hash_type"),
        F.col("distance").cast("int").alias("distance"),
        F.lit(hashing.threshold).alias("threshold"),
        distances.alias("distances"),
        F.col("i.uri").alias("image_uri"),
        F.col("m.uri").alias("match_uri"),
        _position("i").alias("image_source"),
        F.when(F.col("m.source_offset").isNotNull(), _position("m")).alias("match_source"),
        F.col("i.meta").alias("meta"),
        F.current_timestamp().alias("detected_at"),
    )


def _position(side: str) -> Column:
    return F.struct(
        F.col(f"{side}.source_topic").alias("topic"),
        F.col(f"{side}.source_partition").alias("partition"),
        F.col(f"{side}.source_offset").alias("offset"),
        F.col(f"{side}.source_timestamp").alias("timestamp"),
    )


def alert_messages(alerts: DataFrame) -> DataFrame:
    """Kafka (key, value) rows: key = alert_id, value = the alert JSON (schemas/duplicate_alert.schema.json)."""
    fields = [c for c in alerts.columns if c != "meta"]
    # meta is the producer's own JSON object: parsed as VARIANT so it is embedded as an object, not a string.
    value = F.to_json(F.struct(*fields, F.try_parse_json("meta").alias("meta")), {"ignoreNullFields": "false"})
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
    messages.write.format("kafka").options(**kafka_io.spark_options(config)).option("topic", topic).save()
