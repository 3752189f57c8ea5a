"""Matching cost as the index grows: the three lookups of the Delta index, and an exhaustive scan.

    python -m bench.match --sizes 1000000,10000000 --queries 1000 --json
    python -m bench.match --sizes 10000000 --hash pdq --json          # 256-bit, threshold 31
    python -m bench.match --sizes 1000000 --cluster 2 --json          # a local standalone cluster
    python -m bench.match --sizes 1000000 --radii chosen,even --json  # against equal radii

For each index size n: n synthetic hashes (64-bit phash-like at threshold 10, uniform or clustered
around a few centres; or 256-bit PDQ-like at threshold 31), written to a Delta index, and `queries`
queries each planted at distance 0..threshold from an indexed hash. One JSON line per (n, method):
seconds per 1,000 queries (the median of --repeats lookups of all the queries, from a loaded
lookup, as a stream's micro-batch finds it), recall of the planted pairs, whether the pairs equal
the exhaustive scan's (faiss-flat: IndexBinaryFlat range search, the baseline), candidates per
query, and:
- load_s: a restart's first answer: the lookup opened anew and asked (memory: the driver reads the
  table; sharded: its shard files deleted first, so the executors read the table as new ones would;
  join: nothing to load);
- driver_heap_mb: what the lookup adds to the driver: the Python process's resident memory and the
  JVM's used heap, after the first answer;
- executor_bytes_per_image: the sharded lookup's shard files (mapped by the executors) per image;
- shard_rows, shard_search_s: the hashes each shard holds, and the median over the lookups of the
  slowest shard's search (its task less the shard's load and Spark's job around it).
Building the index is not timed. `--radii even` searches the same index with every band within
threshold // bands (the plan before per-band radii; `radii` in each line says which).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake
from pyspark.sql import SparkSession

from streaming.config import Config, load_config
from streaming.index.bands import BandPlan, even
from streaming.index.join import JoinLookup
from streaming.index.lookup import Lookup
from streaming.index.resident import ResidentLookup
from streaming.index.sharded import ShardedLookup, drained
from streaming.index.shards import FOLDER
from streaming.index.sorted_bands import band_values
from streaming.index.table import HashIndex
from streaming.local.spark import spark_session

HASHES = {"phash": (8, 10), "pdq": (16, 31)}  # hash type -> (hash_size, threshold)
# Rows per Parquet file of the synthetic index (a compacted table holds files of this order).
FILE_ROWS = 2_000_000


def synthetic(
    n: int, queries: int, kind: str, words: int, threshold: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(index hashes n x words, query hashes, index row each query was planted near)."""
    rng = np.random.default_rng(seed)
    stored = rng.integers(0, 2**64, (n, words), dtype=np.uint64)
    if kind == "correlated":  # pHash-like: photos of similar scenes share most low-frequency bits
        centres = stored[: max(n // 1000, 1)].copy()
        stored = centres[rng.integers(0, len(centres), n)]
        for _ in range(16):
            stored[np.arange(n), rng.integers(0, words, n)] ^= np.uint64(1) << rng.integers(
                0, 64, n
            ).astype(np.uint64)
    targets = rng.choice(n, size=queries, replace=False)
    planted = stored[targets].copy()
    for i in range(queries):
        for bit in rng.choice(64 * words, size=i % (threshold + 1), replace=False):
            planted[i, bit // 64] ^= np.uint64(1) << np.uint64(bit % 64)
    return stored, planted, targets


def faiss_flat(
    stored: np.ndarray, queries: np.ndarray, threshold: int
) -> tuple[set[tuple[int, int]], float]:
    import faiss

    index = faiss.IndexBinaryFlat(64 * stored.shape[1])
    index.add(stored.view(np.uint8).reshape(len(stored), -1))
    started = time.perf_counter()
    limits, _, labels = index.range_search(
        queries.view(np.uint8).reshape(len(queries), -1), threshold + 1
    )
    elapsed = time.perf_counter() - started
    found = {
        (q, int(labels[j])) for q in range(len(queries)) for j in range(limits[q], limits[q + 1])
    }
    return found, elapsed


def write_index(spark: SparkSession, folder: str, hash_type: str, stored: np.ndarray) -> HashIndex:
    """The hashes as rows of a Delta index (ids s0, s1, ...), written by delta-rs in files of
    FILE_ROWS rows: far faster than through Spark at these sizes."""
    hash_size, threshold = HASHES[hash_type]
    index = HashIndex(spark, folder, hash_type, hash_size, threshold, expected_size=len(stored))
    index.ensure()
    schema = pa.schema(DeltaTable(index.images_path).schema().to_arrow())
    words = stored.shape[1]
    for start in range(0, len(stored), FILE_ROWS):
        chunk = stored[start : start + FILE_ROWS]
        ids = pa.array(np.char.add("s", np.arange(start, start + len(chunk)).astype(str)))
        hashes = pa.ListArray.from_arrays(
            np.arange(0, len(chunk) * words + 1, words, dtype=np.int32),
            pa.array(chunk.view(np.int64).ravel()),
        )
        columns = {"id": ids, hash_type: hashes, "hash_size": pa.repeat(hash_size, len(chunk))}
        table = pa.table(
            [
                columns[f.name].cast(f.type) if f.name in columns else pa.nulls(len(chunk), f.type)
                for f in schema
            ],
            schema=schema,
        )
        write_deltalake(index.images_path, table, mode="append")
    return index


def driver_memory(spark: SparkSession) -> tuple[float, float]:
    """(Python resident MB, JVM used heap MB) of the driver, after collecting garbage in both."""
    gc.collect()
    jvm = spark.sparkContext._jvm
    jvm.java.lang.System.gc()
    runtime = jvm.java.lang.Runtime.getRuntime()
    heap = (runtime.totalMemory() - runtime.freeMemory()) / 2**20
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 2**20, heap


def drop_shards(lookup: ShardedLookup) -> None:
    """Delete the shards' files where they are, as a new application's executors start without."""
    key = lookup.spec.key

    def task(_: int, anchor: Iterator[int]) -> list[int]:
        from pyspark import SparkFiles

        drained(anchor)
        shutil.rmtree(Path(SparkFiles.getRootDirectory()) / FOLDER / key, ignore_errors=True)
        return [0]

    lookup.anchors.mapPartitionsWithIndex(task).collect()


def measure_lookup(
    spark: SparkSession,
    method: str,
    index: HashIndex,
    ids: list[str],
    hashes: list,
    shards: int,
    repeats: int,
) -> dict:
    memory_before = driver_memory(spark)
    lookup: Lookup
    if method == "sharded":
        lookup = ShardedLookup(index, shards)
        drop_shards(lookup)
    elif method == "join":
        lookup = JoinLookup(index)  # writes the bands table first: not timed
    started = time.perf_counter()
    if method == "memory":
        lookup = ResidentLookup(index)
    lookup.near(ids[:1], hashes[:1], index.plan.threshold)
    load = time.perf_counter() - started
    memory_after = driver_memory(spark)
    # The median of several lookups: on local[2] one sharded lookup at 10M moves between 0.4 and
    # 0.7 s from one to the next (the Spark job around the shard tasks), on a quiet machine too.
    timings, searches = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        pairs = lookup.near(ids, hashes, index.plan.threshold)
        timings.append(time.perf_counter() - started)
        if isinstance(lookup, ShardedLookup):
            searches.append(max(a.searched_s for a in lookup.answers))
    shard_bytes, shards = 0, {}
    if isinstance(lookup, ShardedLookup):
        shard_bytes = sum(a.bytes for a in lookup.answers)
        shards = {
            "shards": len(lookup.answers),
            "shard_rows": [a.rows for a in lookup.answers],
            "shard_search_s": round(statistics.median(searches), 3),
        }
    return {
        "found": {(int(q[1:]), int(m[1:])) for q, m in pairs},
        "seconds": statistics.median(timings),
        "lookup_runs_s": [round(t, 3) for t in timings],
        "load_s": round(load, 2),
        "driver_heap_mb": round(sum(memory_after) - sum(memory_before), 1),
        "driver_python_mb": round(memory_after[0] - memory_before[0], 1),
        "driver_jvm_heap_mb": round(memory_after[1] - memory_before[1], 1),
        "executor_bytes_per_image": round(shard_bytes / index_size(index), 1),
        **shards,
    }


def index_size(index: HashIndex) -> int:
    return index.images().count()


def candidates_per_query(plan: BandPlan, stored: np.ndarray, queries: np.ndarray) -> float | None:
    """Stored band values equal to one of a query's probes, per query (the first 100 queries), from
    each band's value counts; None for bands too wide to count that way."""
    if max(band.width for band in plan.layout) > 26:
        return None
    total = 0
    for band, (values, asked) in enumerate(
        zip(band_values(plan, stored), band_values(plan, queries[:100]), strict=True)
    ):
        counts = np.bincount(values.astype(np.int64), minlength=2 ** plan.layout[band].width)
        probes = asked[:, None] ^ np.array(plan.masks(band), np.uint64)[None, :]
        total += int(counts[probes.astype(np.int64)].sum())
    return round(total / min(100, len(queries)), 1)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--kinds", default="uniform", help="uniform,correlated (64-bit only)")
    parser.add_argument("--hash", default="phash", choices=sorted(HASHES))
    parser.add_argument("--methods", default="sharded,memory,join,faiss-flat")
    parser.add_argument(
        "--radii",
        default="chosen",
        help="chosen,even: the index's plan, and/or its bands each within threshold // bands",
    )
    parser.add_argument("--shards", type=int, default=0, help="0: one per core")
    parser.add_argument(
        "--repeats", type=int, default=3, help="lookups timed per row; the median is reported"
    )
    parser.add_argument(
        "--cluster", type=int, default=0, help="run on a local standalone cluster of N workers"
    )
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--driver-memory", default="6g")
    parser.add_argument("--json", action="store_true", help="(the output is always JSON lines)")
    args = parser.parse_args()
    config = load_config(
        overrides={
            "spark.master": args.master,
            "spark.shuffle_partitions": 8,
            "spark.conf": {"spark.driver.memory": args.driver_memory, "spark.ui.enabled": "false"},
        }
    )
    cluster = start_cluster(config, args.cluster) if args.cluster else None
    try:
        if cluster is not None:
            config = cluster
        spark = spark_session(config)
        master = spark.sparkContext.master
        for n in (int(size) for size in args.sizes.split(",")):
            for kind in args.kinds.split(","):
                for line in measure(spark, n, kind, args):
                    print(json.dumps({**line, "master": master}), flush=True)
    finally:
        if cluster is not None:
            from streaming.local import cluster as standalone

            standalone.stop(cluster)


def start_cluster(config: Config, workers: int) -> Config:
    """A standalone cluster of this machine on free ports (other users keep the defaults)."""
    import socket

    from streaming.local import cluster as standalone

    def free() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    state = tempfile.mkdtemp(prefix="bench-cluster-")
    config = config.replace(
        **{
            "cluster.master_port": free(),
            "cluster.webui_port": free(),
            "cluster.worker_webui_port": free(),
            "cluster.workers": workers,
            "cluster.state_dir": state,
        }
    )
    standalone.start(config)
    return config.replace(**{"spark.master": standalone.master_url(config)})


def measure(spark: SparkSession, n: int, kind: str, args: argparse.Namespace) -> list[dict]:
    threshold = HASHES[args.hash][1]
    words = 4 if args.hash == "pdq" else 1
    stored, queries, targets = synthetic(n, args.queries, kind, words, threshold, seed=n)
    truth, faiss_seconds = faiss_flat(stored, queries, threshold)
    planted = {(q, int(t)) for q, t in enumerate(targets)}
    base = {"n": n, "kind": kind, "hash": args.hash, "threshold": threshold}
    methods = args.methods.split(",")
    lines = []

    def line(method: str, found: set, seconds: float, **extra: object) -> dict:
        return {
            **base,
            "method": method,
            "seconds_per_1000_queries": round(seconds * 1000 / len(queries), 3),
            "recall": round(len(planted & found) / len(planted), 4),
            "same_pairs_as_brute_force": found == truth,
            **extra,
        }

    if "faiss-flat" in methods:
        lines.append(line("faiss-flat", truth, faiss_seconds, candidates_per_query=n))
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as folder:
        index = write_index(spark, folder, args.hash, stored)
        ids = [f"q{i}" for i in range(len(queries))]
        hashes = queries.view(np.int64).tolist()
        chosen = index.plan
        plans = {"chosen": chosen, "even": even(chosen.bits, chosen.threshold, chosen.bands)}
        for method in (m for m in methods if m in ("sharded", "memory", "join")):
            for name in args.radii.split(","):
                index.plan = plans[name]  # the same bands, other probes
                extra = {
                    "radii": list(index.plan.radii),
                    "candidates_per_query": candidates_per_query(index.plan, stored, queries),
                    "probes_per_query": index.plan.probes_per_query(),
                }
                result = measure_lookup(
                    spark, method, index, ids, hashes, args.shards, args.repeats
                )
                lines.append(
                    line(method, result.pop("found"), result.pop("seconds"), **extra, **result)
                )
                gc.collect()
            index.plan = chosen
    return lines


if __name__ == "__main__":
    main()
