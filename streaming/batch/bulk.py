"""Images from folders and manifests as Spark batch jobs: hashing files, registering banks of known
images."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from tqdm import tqdm

from streaming.batch.manifest import ManifestEntry, read_chunks
from streaming.config import Config
from streaming.imageframe import hash_dataframe
from streaming.index.table import HashIndex

log = logging.getLogger(__name__)
# Lines of a manifest fetched, hashed and committed together: a chunk's references and rows are
# what the driver holds at once (a line is some 200 bytes, a hashed row about as much).
MANIFEST_CHUNK = 50_000
# The Kafka records ingest() reads: a manifest line stands for a message at (manifest, line number).
KAFKA_SCHEMA = (
    "key BINARY, value BINARY, topic STRING, partition INT, offset BIGINT, timestamp TIMESTAMP"
)
IMAGE_GLOB = "*.{jpg,jpeg,png,gif,bmp,webp,tif,tiff,JPG,JPEG,PNG,GIF,BMP,WEBP,TIF,TIFF}"


def hashed_files(spark: SparkSession, config: Config, paths: Sequence[str]) -> DataFrame:
    """`path` (absolute, without the file: scheme) and the hash columns of every image under
    paths."""
    from streaming.stream.job import hash_spec

    files = (
        spark.read.format("binaryFile")
        .option("recursiveFileLookup", "true")
        .option("pathGlobFilter", IMAGE_GLOB)
        .load([str(Path(p).absolute()) for p in paths])
        .select(F.regexp_replace("path", "^file:", "").alias("path"), "content")
    )
    return hash_dataframe(files, "content", hash_spec(config))


Failure = tuple[str, str, str]  # (where: a path, or FILE:LINE of a manifest; reason; message)


def register_files(
    spark: SparkSession,
    config: Config,
    index: HashIndex,
    paths: Sequence[str],
    bank: str,
    meta: Mapping[str, Any] | None = None,
) -> tuple[int, list[Failure]]:
    """Hash and register every image under paths as a member of `bank`, each with `meta`;
    returns (added, failures)."""
    hashed = hashed_files(spark, config, paths).select(
        F.col("path").alias("where"),
        F.col("path").alias("id"),
        F.col("path").alias("uri"),
        F.lit(None if meta is None else json.dumps(meta)).cast("string").alias("meta"),
        "*",
    )
    added, failed = register_hashed(spark, config, index, hashed.drop("path"), bank, new_job(), 0)
    log.info("%d added, %d failed", added, len(failed))
    return added, failed


def register_manifest(
    spark: SparkSession,
    config: Config,
    index: HashIndex,
    manifest: Path,
    bank: str,
    meta: Mapping[str, Any] | None = None,
) -> tuple[int, list[Failure]]:
    """Register the images a manifest names (manifest.py) as members of `bank`, a chunk of
    MANIFEST_CHUNK lines at a time: each chunk is fetched and hashed as the stream does its
    messages (sources.allowed_roots, limits), then registered in one commit. A bad line or an
    unreadable image is a failure named FILE:LINE. Returns (added, failures)."""
    from streaming.stream.ingest import ingest, ingested_schema
    from streaming.stream.job import hash_spec

    spec, job = hash_spec(config), new_job()
    added, lines = 0, 0
    failed: list[Failure] = []
    with manifest.open("rb") as text:
        chunks = read_chunks(text, MANIFEST_CHUNK, config.sources.max_meta_bytes, meta)
        for version, chunk in enumerate(chunks):
            failed += [
                (f"{manifest}:{line.number}", refusal.reason.value, refusal.message)
                for line in chunk
                if (refusal := line.refusal) is not None
            ]
            now = datetime.now(UTC)
            records = [
                (entry.id.encode(), reference(entry, bank), str(manifest), 0, line.number, now)
                for line in chunk
                if (entry := line.entry) is not None
            ]
            lines = chunk[-1].number if chunk else lines
            if not records:
                continue
            frame = spark.createDataFrame(records, KAFKA_SCHEMA)
            hashed = frame.mapInPandas(ingest(config, spec), ingested_schema(spec)).select(
                F.concat_ws(":", "source_topic", F.col("source_offset").cast("string")).alias(
                    "where"
                ),
                "*",
            )
            chunk_added, chunk_failed = register_hashed(
                spark, config, index, hashed, bank, job, version
            )
            added += chunk_added
            failed += chunk_failed
            log.info("%s: %d lines read, %d added, %d failed", manifest, lines, added, len(failed))
    return added, failed


def register_hashed(
    spark: SparkSession,
    config: Config,
    index: HashIndex,
    hashed: DataFrame,
    bank: str,
    app_id: str,
    version: int,
) -> tuple[int, list[Failure]]:
    """Register the rows that hashed (columns id, uri, meta and the hashes) as members of `bank`,
    as version `version` of writer `app_id`; returns (added, the failures by their `where`)."""
    from streaming.stream.microbatch import index_columns

    with _progress(spark, "hashing"):
        hashed = hashed.persist()
        hashed.count()
    failed = [
        (r["where"], r["error_code"], r["error_message"])
        for r in hashed.where("error_code IS NOT NULL")
        .select("where", "error_code", "error_message")
        .collect()
    ]
    # an id named twice (a manifest's) is registered once
    rows = hashed.where("error_code IS NULL").dropDuplicates(["id"]).withColumn("bank", F.lit(bank))
    # registered outside the stream: no Kafka position, so any image's time matches it
    for column in ("source_topic", "source_partition", "source_offset", "source_timestamp"):
        rows = rows.withColumn(column, F.lit(None))
    rows = rows.select(
        *index_columns(config),
        F.lit("neardup-index-add").alias("registered_by"),
        F.lit(None).cast("bigint").alias("batch_id"),
        F.current_timestamp().alias("registered_at"),
    )
    with _progress(spark, "registering"):
        added = index.register(rows, app_id, version)
    hashed.unpersist()
    return added, failed


def reference(entry: ManifestEntry, bank: str) -> bytes:
    """The image reference (schemas/image_ref.schema.json) a manifest entry stands for."""
    document = {"id": entry.id, "uri": entry.uri, "bank": bank}
    return json.dumps(document if entry.meta is None else {**document, "meta": entry.meta}).encode()


def new_job() -> str:
    """A one-off job's app id: unique, so Delta's transaction skip never applies across runs;
    ids are what make a load idempotent."""
    return f"neardup-index-add-{uuid.uuid4().hex}"


class _progress:
    """A tqdm bar over the tasks of the Spark jobs that run inside the block."""

    def __init__(self, spark: SparkSession, label: str) -> None:
        self.spark, self.label = spark, label

    def __enter__(self) -> None:
        import threading

        self.group = f"neardup-{self.label}-{uuid.uuid4().hex[:6]}"
        self.spark.sparkContext.setJobGroup(self.group, self.label)
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        tracker = self.spark.sparkContext.statusTracker()
        with tqdm(desc=self.label, unit="task") as bar:
            while not self.done.wait(0.5):
                jobs = [tracker.getJobInfo(j) for j in tracker.getJobIdsForGroup(self.group)]
                found = [tracker.getStageInfo(s) for job in jobs if job for s in job.stageIds]
                stages = [s for s in found if s]
                bar.total = sum(s.numTasks for s in stages) or None
                bar.n = sum(s.numCompletedTasks for s in stages)
                bar.refresh()

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join()
        # None clears the property (pyspark's own stubs say str)
        self.spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]
