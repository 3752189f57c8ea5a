"""Milliseconds the resident lookup takes to follow one appended commit of the index, on a local
disk and on the local S3 server, against the Spark listing of the snapshot's files (what it asked
of Spark off a local disk before it followed the log through delta-rs), in the same run.

    python -m bench.refresh --json

The `images` table gets --files commits of one small Parquet file each (written by delta-rs, as a
stream's micro-batches would have added them), then --appends more, each followed by a refresh.
One line per (store, method): {"store": "file"|"s3", "files", "method": "deltalake"|"spark",
"refresh_ms"} (median).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from deltalake import write_deltalake

from bench.sources import _config
from streaming.index.resident import ResidentLookup
from streaming.index.table import HashIndex
from streaming.local import s3
from streaming.local.spark import spark_session
from streaming.storage import delta_storage_options


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=200, help="commits before the timed ones")
    parser.add_argument("--appends", type=int, default=10, help="timed commits")
    parser.add_argument("--json", action="store_true", help="JSON lines only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-refresh-") as state:
        config = _config(Path(state) / "s3", Path(state))
        s3.start(config)
        try:
            spark = spark_session(config)
            results = []
            for store, path in (("file", f"{state}/index"), ("s3", "s3://bench/index")):
                results += _measure(spark, config, store, path, args.files, args.appends)
            spark.stop()
        finally:
            s3.stop(config)
    for result in results:
        print(json.dumps(result) if args.json else result)


def _measure(
    spark: Any, config: Any, store: str, path: str, files: int, appends: int
) -> list[dict[str, Any]]:
    options = delta_storage_options(config, path)
    index = HashIndex(spark, path, "phash", 8, 10, 100_000, storage_options=options)
    for n in range(files):
        _append(index, n)
    lookup = ResidentLookup(index)
    lookup.refresh()
    timings: dict[str, list[float]] = {"deltalake": [], "spark": []}
    for n in range(files, files + appends):
        _append(index, n)
        start = time.perf_counter()
        lookup.refresh()
        timings["deltalake"].append(time.perf_counter() - start)
        start = time.perf_counter()
        index.images().inputFiles()
        timings["spark"].append(time.perf_counter() - start)
    assert len(lookup.files) == files + appends
    return [
        {
            "store": store,
            "files": files + appends,
            "method": method,
            "refresh_ms": round(1000 * statistics.median(seconds), 1),
        }
        for method, seconds in timings.items()
    ]


def _append(index: HashIndex, n: int) -> None:
    """One commit of 50 rows of `images` (id and phash; the lookup reads no other column)."""
    rng = np.random.default_rng(n)
    rows = pa.table(
        {
            "id": [f"img-{n}-{i}" for i in range(50)],
            "phash": pa.array(
                [[int(h)] for h in rng.integers(-(2**63), 2**63 - 1, 50)], pa.list_(pa.int64())
            ),
        }
    )
    # One writer here: delta-rs needs no lock on S3.
    unlocked = {"AWS_S3_ALLOW_UNSAFE_RENAME": "true"} if index.path.startswith("s3://") else {}
    options = {**index.storage_options, **unlocked}
    write_deltalake(index.images_path, rows, mode="append", storage_options=options)


if __name__ == "__main__":
    main()
