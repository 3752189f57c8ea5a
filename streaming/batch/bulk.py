"""Images from folders as Spark batch jobs: hashing files, registering banks of known images."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from tqdm import tqdm

from streaming.config import Config
from streaming.imageframe import hash_dataframe
from streaming.index.table import HashIndex

log = logging.getLogger(__name__)
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


def register_files(
    spark: SparkSession, config: Config, index: HashIndex, paths: Sequence[str], bank: str
) -> tuple[int, list[tuple[str, str, str]]]:
    """Hash and register every image under paths as a member of `bank`; returns (added,
    failures)."""
    from streaming.stream.microbatch import index_columns

    hashed = hashed_files(spark, config, paths)
    with _progress(spark, "hashing"):
        hashed = hashed.persist()
        total = hashed.count()
    failed = [
        (r["path"], r["error_code"], r["error_message"])
        for r in hashed.where("error_code IS NOT NULL")
        .select("path", "error_code", "error_message")
        .collect()
    ]
    rows = (
        hashed.where("error_code IS NULL")
        .select(
            F.col("path").alias("id"),
            F.lit(bank).alias("bank"),
            F.col("path").alias("uri"),
            "*",
        )
        .drop("path")
    )
    for column in ("source_topic", "source_partition", "source_offset", "source_timestamp"):
        rows = rows.withColumn(column, F.lit(None))
    rows = rows.select(
        *index_columns(config),
        F.lit("neardup-index-add").alias("registered_by"),
        F.lit(None).cast("bigint").alias("batch_id"),
        F.current_timestamp().alias("registered_at"),
    )
    # A one-off job: a unique app id, so Delta's transaction skip never applies; ids are what make
    # it idempotent.
    with _progress(spark, "registering"):
        added = index.register(rows, f"neardup-index-add-{uuid.uuid4().hex}", 0)
    hashed.unpersist()
    log.info("%d files, %d added, %d failed", total, added, len(failed))
    return added, failed


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
