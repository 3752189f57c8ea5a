"""Layouts of the bands table: the files a lookup reads, and its time, for four ways to lay the
table out.

    python -m bench.layout --size 1000000 --json

The bands of `size` synthetic 64-bit hashes (bench.match's uniform ones, cut by HashIndex with the
plan for
that size) are written four times, each its own Delta table with the schema of
schemas/delta/bands.sql:

    appends      unpartitioned, written by 20 appends, as a stream's micro-batches write it
    partitioned  PARTITIONED BY (band), written by the same 20 appends
    zorder       a copy of `appends` after OPTIMIZE ZORDER BY (value) (what `neardup index optimize`
    does) liquid       CLUSTER BY (band, value), the same 20 appends, then OPTIMIZE (which clusters)

OPTIMIZE writes files of at most --max-file-mb (Delta's optimize.maxFileSize; its default, 1 GiB,
would
make a table of this size a single file, with nothing left to skip). Then, per layout, three
lookups: a micro-batch (40 queries) and 1000 queries through match_index (probe join and exact
verification, collected), and `point`, one literal (band, value) filter, the lookup Delta's data
skipping is made for. One JSON line per (layout, lookup): wall seconds (median of 3), files_read
(the "number of files read" metric of the file scans in the final executed plan, after adaptive
execution), files_in_table (DESCRIBE DETAIL numFiles), whether the pairs found equal an exhaustive
numpy scan's, and build_seconds (the layout's appends and OPTIMIZE; for zorder, the copy and
OPTIMIZE only).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable

import numpy as np
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from bench.match import THRESHOLD, brute_numpy, frame, synthetic
from streaming.config import load_config
from streaming.index.match import match_index
from streaming.index.table import HashIndex
from streaming.local.spark import spark_session
from streaming.schemas import delta_columns

APPENDS = 20
MICRO_BATCH = 40
REPEATS = 3


def files_read(done: DataFrame) -> int:
    """Data files read by the file scans of `done`'s last execution, from the SQL metrics of its
    plan.

    Walks into the final plan of adaptive execution and into its query stages; a scan reused by
    several stages is counted once (by the id of its metric)."""
    counted: dict[int, int] = {}
    pending = [done._jdf.queryExecution().executedPlan()]
    while pending:
        node = pending.pop()
        kind = node.getClass().getSimpleName()
        if kind == "AdaptiveSparkPlanExec":
            pending.append(node.executedPlan())
        elif kind.endswith("QueryStageExec"):
            pending.append(node.plan())
        metric = node.metrics().get("numFiles")
        if metric.isDefined():
            counted[metric.get().id()] = metric.get().value()
        children = node.children()
        pending += [children.apply(i) for i in range(children.size())]
    return sum(counted.values())


def create(
    spark: SparkSession, path: str, partitioned: bool = False, clustered: bool = False
) -> None:
    builder = (
        DeltaTable.create(spark)
        .location(path)
        .addColumns(StructType.fromDDL(delta_columns("bands")))
    )
    if partitioned:
        builder = builder.partitionedBy("band")
    if clustered:
        builder = builder.clusterBy("band", "value")
    builder.execute()


def append_batches(band_rows: DataFrame, path: str) -> None:
    for batch in range(APPENDS):
        band_rows.where(F.col("batch_id") == batch).write.format("delta").mode("append").save(path)


def build(spark: SparkSession, root: str, stored: np.ndarray) -> dict[str, tuple[HashIndex, float]]:
    """The four layouts, each a HashIndex whose bands table is laid out its way (its images table is
    never used), with the seconds its writes and OPTIMIZE took."""
    indexes = {
        layout: HashIndex(
            spark, f"{root}/{layout}", "phash", 8, THRESHOLD, expected_size=len(stored)
        )
        for layout in ("appends", "partitioned", "zorder", "liquid")
    }
    rows = frame(spark, stored, "s").select(
        "id",
        F.col("hash").alias("phash"),
        # Round robin over the appends: arrival order is unrelated to the hash, as in a stream.
        (F.substring("id", 2, 20).cast("long") % APPENDS).alias("batch_id"),
        F.lit("bench.layout").alias("registered_by"),
    )
    band_rows = indexes["appends"].band_rows(HashIndex.conform(rows)).cache()
    band_rows.count()
    paths = {layout: index.bands_path for layout, index in indexes.items()}

    def appended() -> None:
        create(spark, paths["appends"])
        append_batches(band_rows, paths["appends"])

    def z_ordered() -> None:
        # Z-order rewrites the appended table, so it starts from a copy of it (Delta's log holds
        # relative paths).
        shutil.copytree(paths["appends"], paths["zorder"])
        DeltaTable.forPath(spark, paths["zorder"]).optimize().executeZOrderBy("value")

    def partitioned() -> None:
        create(spark, paths["partitioned"], partitioned=True)
        append_batches(band_rows, paths["partitioned"])

    def clustered() -> None:
        create(spark, paths["liquid"], clustered=True)
        append_batches(band_rows, paths["liquid"])
        DeltaTable.forPath(spark, paths["liquid"]).optimize().executeCompaction()

    built = {}
    for layout, write in (
        ("appends", appended),
        ("zorder", z_ordered),
        ("partitioned", partitioned),
        ("liquid", clustered),
    ):
        started = time.perf_counter()
        write()
        built[layout] = (indexes[layout], round(time.perf_counter() - started, 1))
    band_rows.unpersist()
    return built


def timed(lookup: Callable[[], DataFrame]) -> tuple[list[float], DataFrame, list]:
    """Seconds of REPEATS collects, each of a fresh DataFrame (so each resolves the Delta snapshot,
    as a micro-batch does), the last DataFrame (whose plan holds the metrics) and its rows."""
    seconds = []
    for _ in range(REPEATS):
        done = lookup()
        started = time.perf_counter()
        rows = done.collect()
        seconds.append(round(time.perf_counter() - started, 3))
    return seconds, done, rows


def measure(
    spark: SparkSession, layout: str, index: HashIndex, queries: np.ndarray, truth: set
) -> list[dict]:
    detail = DeltaTable.forPath(spark, index.bands_path).detail().first()
    common = {
        "layout": layout,
        "partitioned_by": detail["partitionColumns"],
        "clustered_by": detail["clusteringColumns"],
        "files_in_table": detail["numFiles"],
        "table_mb": round(detail["sizeInBytes"] / 2**20),
    }
    results = []
    for count in (MICRO_BATCH, len(queries)):
        query_frame = frame(spark, queries[:count], "q").cache()
        query_frame.count()
        seconds, done, rows = timed(
            lambda query_frame=query_frame: match_index(query_frame, index, THRESHOLD).select(
                "query_id", "match_id"
            )
        )
        found = {(int(r["query_id"][1:]), int(r["match_id"][1:])) for r in rows}
        results.append(
            {
                **common,
                "lookup": f"{count} queries",
                "probes": count * index.plan.probes_per_query(),
                "seconds_median": statistics.median(seconds),
                "seconds": seconds,
                "files_read": files_read(done),
                "same_pairs_as_brute_force": found == {p for p in truth if p[0] < count},
            }
        )
        query_frame.unpersist()
    band, value = 0, index.plan.band_values([int(queries[0])])[0]
    seconds, done, _ = timed(
        lambda: index.bands().where((F.col("band") == band) & (F.col("value") == value))
    )
    results.append(
        {
            **common,
            "lookup": "point",
            "probes": 1,
            "seconds_median": statistics.median(seconds),
            "seconds": seconds,
            "files_read": files_read(done),
        }
    )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=1_000_000, help="hashes in the index")
    parser.add_argument("--queries", type=int, default=1000, help="queries of the large lookup")
    parser.add_argument(
        "--max-file-mb", type=int, default=8, help="largest file OPTIMIZE writes, in MiB"
    )
    parser.add_argument(
        "--driver-memory", default="6g", help="Spark driver heap (local mode: also the executors')"
    )
    parser.add_argument("--json", action="store_true", help="(the output is always JSON lines)")
    args = parser.parse_args()
    overrides = {
        "spark.shuffle_partitions": 8,
        "spark.conf": {"spark.driver.memory": args.driver_memory},
    }
    spark = spark_session(load_config(overrides=overrides))
    # The heap is fixed when the JVM starts: check the setting reached it rather than trust the
    # builder.
    heap_gib = spark.sparkContext._jvm.java.lang.Runtime.getRuntime().maxMemory() / 2**30
    spark.conf.set("spark.databricks.delta.optimize.maxFileSize", str(args.max_file_mb * 2**20))
    stored, queries, _ = synthetic(args.size, args.queries, "uniform", seed=args.size)
    truth, _ = brute_numpy(stored, queries)
    with tempfile.TemporaryDirectory() as root:
        for layout, (index, build_seconds) in build(spark, root, stored).items():
            for result in measure(spark, layout, index, queries, truth):
                extra = {"build_seconds": build_seconds, "driver_heap_gib": round(heap_gib, 1)}
                print(json.dumps({"n": args.size, **result, **extra}), flush=True)


if __name__ == "__main__":
    main()
