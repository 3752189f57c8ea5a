"""Matching cost as the index grows: the banded Delta index against exhaustive scans.

    python -m bench.match --sizes 10000,100000,1000000,10000000 --queries 1000 --json

For each index size n: n synthetic 64-bit hashes (uniform, or pHash-like: clustered around a few
centres), and `queries` queries each planted at distance 0..k from an indexed hash. One JSON line
per (n, kind, method): seconds per 1,000 queries, recall of the planted pairs, candidates per query.
Methods: banded-delta (the stream's lookup: the Delta index's hashes resident on the driver as
sorted bands, index.lookup = "memory"), banded-delta-join (Spark's join of the probes with the bands
table, index.lookup = "join"), brute-spark (crossJoin and bit_count on the same Spark), brute-numpy
(vectorised XOR and popcount), faiss-flat (IndexBinaryFlat range search). Building the index is not
timed; loading the resident bands from Delta is reported apart (load_seconds: once per stream
start); brute-spark is run on a tenth of the queries past 100k hashes and scaled, and marked so.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import numpy as np
import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from streaming.config import load_config
from streaming.index.join import JoinLookup
from streaming.index.match import probes
from streaming.index.resident import ResidentLookup
from streaming.index.table import HashIndex
from streaming.local.spark import spark_session

THRESHOLD = 10


def synthetic(
    n: int, queries: int, kind: str, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(index hashes, query hashes, index position each query was planted near)."""
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        stored = rng.integers(0, 2**64, n, dtype=np.uint64)
    else:  # pHash-like: photos of similar scenes share most low-frequency bits
        centres = rng.integers(0, 2**64, max(n // 1000, 1), dtype=np.uint64)
        noise = np.zeros(n, dtype=np.uint64)
        for _ in range(16):
            noise ^= np.uint64(1) << rng.integers(0, 64, n).astype(np.uint64)
        stored = centres[rng.integers(0, len(centres), n)] ^ noise
    targets = rng.choice(n, size=queries, replace=False)
    planted = stored[targets].copy()
    for i in range(queries):
        for bit in rng.choice(64, size=i % (THRESHOLD + 1), replace=False):
            planted[i] ^= np.uint64(1) << np.uint64(bit)
    return stored, planted, targets


def brute_numpy(stored: np.ndarray, queries: np.ndarray) -> tuple[set[tuple[int, int]], float]:
    found = set()
    started = time.perf_counter()
    for q, query in enumerate(queries):
        for i in np.flatnonzero(np.bitwise_count(stored ^ query) <= THRESHOLD):
            found.add((q, int(i)))
    return found, time.perf_counter() - started


def faiss_flat(stored: np.ndarray, queries: np.ndarray) -> tuple[set[tuple[int, int]], float]:
    import faiss

    index = faiss.IndexBinaryFlat(64)
    index.add(stored.view(np.uint8).reshape(-1, 8))
    started = time.perf_counter()
    limits, _, labels = index.range_search(queries.view(np.uint8).reshape(-1, 8), THRESHOLD + 1)
    elapsed = time.perf_counter() - started
    return {
        (q, int(labels[j])) for q in range(len(queries)) for j in range(limits[q], limits[q + 1])
    }, elapsed


def frame(spark: SparkSession, hashes: np.ndarray, prefix: str):
    pdf = pd.DataFrame({"n": np.arange(len(hashes)), "h": hashes.view(np.int64)})
    return spark.createDataFrame(pdf).select(
        F.concat(F.lit(prefix), F.col("n").cast("string")).alias("id"), F.array("h").alias("hash")
    )


def banded_delta(
    spark: SparkSession, stored: np.ndarray, queries: np.ndarray, folder: str
) -> list[dict]:
    """The production lookups of one Delta index: the resident sorted bands (index.lookup =
    "memory", timed once loaded: a stream loads them once) and the probe join of the bands table
    (index.lookup = "join")."""
    index = HashIndex(spark, folder, "phash", 8, THRESHOLD)
    index.ensure()
    rows = frame(spark, stored, "s").select(
        "id", F.col("hash").alias("phash"), F.lit(8).alias("hash_size")
    )
    index.append(rows, "bench", 0)
    index.optimize()
    query_frame = frame(spark, queries, "q").cache()
    query_frame.count()
    candidates = probes(query_frame, index.plan).join(index.bands(), ["band", "value"])
    per_query = candidates.select("query_id", "id").distinct().count() / len(queries)
    ids, hashes = [f"q{i}" for i in range(len(queries))], queries.view(np.int64)[:, None].tolist()
    results = []
    for method, lookup in (
        ("banded-delta", ResidentLookup(index)),
        ("banded-delta-join", JoinLookup(index)),
    ):
        started = time.perf_counter()
        if isinstance(lookup, ResidentLookup):
            lookup.refresh()
        load = time.perf_counter() - started
        started = time.perf_counter()
        pairs = lookup.near(ids, hashes, THRESHOLD)
        elapsed = time.perf_counter() - started
        results.append(
            {
                "method": method,
                "found": {(int(q[1:]), int(m[1:])) for q, m in pairs},
                "seconds": elapsed,
                "candidates": round(per_query, 1),
                "probes_per_query": index.plan.probes_per_query(),
                **({"load_seconds": round(load, 2)} if isinstance(lookup, ResidentLookup) else {}),
            }
        )
    return results


def brute_spark(spark: SparkSession, stored: np.ndarray, queries: np.ndarray):
    table = frame(spark, stored, "s").select("id", F.col("hash")[0].alias("h")).cache()
    table.count()
    query_frame = (
        frame(spark, queries, "q")
        .select(F.col("id").alias("qid"), F.col("hash")[0].alias("qh"))
        .cache()
    )
    query_frame.count()
    started = time.perf_counter()
    pairs = (
        query_frame.crossJoin(table)
        .where(F.expr(f"bit_count(qh ^ h) <= {THRESHOLD}"))
        .select("qid", "id")
        .collect()
    )
    elapsed = time.perf_counter() - started
    table.unpersist()
    return {(int(r["qid"][1:]), int(r["id"][1:])) for r in pairs}, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--kinds", default="uniform,correlated")
    parser.add_argument(
        "--driver-memory", default="6g", help="Spark driver heap (brute-spark caches the index)"
    )
    parser.add_argument("--json", action="store_true", help="(the output is always JSON lines)")
    args = parser.parse_args()
    overrides = {
        "spark.shuffle_partitions": 8,
        "spark.conf": {"spark.driver.memory": args.driver_memory},
    }
    spark = spark_session(load_config(overrides=overrides))
    for n in (int(size) for size in args.sizes.split(",")):
        for kind in args.kinds.split(","):
            measure(spark, n, kind, args.queries)


def measure(spark: SparkSession, n: int, kind: str, query_count: int) -> None:
    stored, queries, targets = synthetic(n, query_count, kind, seed=n)
    # every pair of 50 queries, to check the others against
    truth, _ = brute_numpy(stored, queries[:50])
    planted = {(q, int(t)) for q, t in enumerate(targets)}

    def report(method: str, found: set, seconds: float, queries_run: int, **extra) -> None:
        recall = len(planted_subset(planted, queries_run) & found) / queries_run
        print(
            json.dumps(
                {
                    "n": n,
                    "kind": kind,
                    "method": method,
                    "seconds_per_1000_queries": round(seconds * 1000 / queries_run, 3),
                    "recall": round(recall, 4),
                    "same_pairs_as_brute_force": {p for p in found if p[0] < 50} == truth
                    if queries_run >= 50
                    else None,
                    "candidates_per_query": extra.pop("candidates", None),
                    **extra,
                }
            ),
            flush=True,
        )

    found, seconds = brute_numpy(stored, queries)
    report("brute-numpy", found, seconds, len(queries), candidates=n)
    found, seconds = faiss_flat(stored, queries)
    report("faiss-flat", found, seconds, len(queries), candidates=n)
    with tempfile.TemporaryDirectory() as folder:
        for result in banded_delta(spark, stored, queries, folder):
            report(
                result.pop("method"),
                result.pop("found"),
                result.pop("seconds"),
                len(queries),
                **result,
            )
    sample = len(queries) if n <= 100_000 else len(queries) // 10
    found, seconds = brute_spark(spark, stored, queries[:sample])
    report("brute-spark", found, seconds, sample, candidates=n, queries_measured=sample)


def planted_subset(planted: set[tuple[int, int]], queries_run: int) -> set[tuple[int, int]]:
    return {p for p in planted if p[0] < queries_run}


if __name__ == "__main__":
    main()
