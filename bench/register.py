"""What registering one row in the index costs with each of its two writers, on one index,
alternately: Spark's Delta write (HashIndex.append, as `neardup index add`: the anti-join in the
commit, txnAppId/txnVersion) and the stream's delta-rs commit from the driver
(HashIndex.append_rows: the insert-only MERGE on id with its application transaction, lost races
retried).

    python -m bench.register --rows 8 --json

The stream's own figure is the `register` step of `python -m bench.stream --measures fixed_cost`
(docs/streaming.md, "Fixed cost of a micro-batch"); this one isolates the commit.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from streaming.config import load_config
from streaming.index.table import HashIndex
from streaming.local.spark import spark_session


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=8, help="one-row commits of each writer")
    parser.add_argument("--json", action="store_true", help="JSON lines only")
    args = parser.parse_args()

    state = Path(tempfile.mkdtemp(prefix="neardup-bench-register-"))
    config = load_config(overrides={"spark.master": "local[2]"})
    spark = spark_session(config)
    index = HashIndex(spark, str(state / "index"), "phash", 8, 10)
    index.ensure()
    timings: dict[str, list[float]] = {"spark": [], "delta_rs": []}
    for n in range(args.rows + 1):  # the first of each warms up
        started = time.perf_counter()
        row = spark.createDataFrame([(f"spark-{n}", [n])], "id STRING, phash ARRAY<BIGINT>")
        index.append(row, "bench-spark", n, with_bands=False, checked_ids=[f"spark-{n}"])
        timings["spark"].append(time.perf_counter() - started)
        started = time.perf_counter()
        index.append_rows(
            [{"id": f"rs-{n}", "phash": [n], "registered_by": "bench-rs"}],
            "bench-rs",
            n,
            with_bands=False,
            checked=True,
        )
        timings["delta_rs"].append(time.perf_counter() - started)
    rows = spark.read.format("delta").load(index.images_path).count()
    result = {
        "measure": "register_one_row",
        "commits": args.rows,
        "rows_read_back_by_spark": rows,
        **{
            f"{writer}_seconds_median": round(statistics.median(seconds[1:]), 3)
            for writer, seconds in timings.items()
        },
    }
    print(json.dumps(result), flush=True)
    spark.stop()


if __name__ == "__main__":
    main()
