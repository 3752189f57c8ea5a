"""A driver process of its own for tests/index/test_sharded.py: the sharded lookup on two executor
processes (Spark's local-cluster master), with one executor killed between two lookups.

    python -m tests.index.sharded_driver INDEX QUERIES OUT [--kill]

QUERIES is a JSON list of [id, [word]]; OUT gets, per lookup, the pairs and the executor process
each shard ran in.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from streaming.config import load_config
from streaming.index.sharded import ShardedLookup, drained
from streaming.index.table import HashIndex
from streaming.local.spark import spark_session

THRESHOLD = 10


def executor_pid() -> int:
    """The executor JVM of this Python worker: the parent of the worker's daemon."""
    stat = Path(f"/proc/{os.getppid()}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def placement(lookup: ShardedLookup) -> dict[int, int]:
    """shard -> the executor process its task runs in (the shard's cached partition's)."""

    def task(shard: int, anchor: Iterator[int]) -> list[tuple[int, int]]:
        drained(anchor)
        return [(shard, executor_pid())]

    return dict(lookup.anchors.mapPartitionsWithIndex(task).collect())


def main() -> None:
    index_path, queries_path, out_path = sys.argv[1:4]
    kill = "--kill" in sys.argv
    config = load_config(
        overrides={
            "spark.master": "local-cluster[2,1,1024]",
            "spark.conf": {"spark.ui.enabled": "false", "spark.executor.memory": "768m"},
        },
        environ={},
    )
    spark = spark_session(config)
    # Both executors up before the shards are placed (the driver's block manager counts as one).
    deadline = time.monotonic() + 120
    while spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size() < 3:
        if time.monotonic() > deadline:
            raise SystemExit("the two executors did not register")
        time.sleep(0.5)
    queries = json.loads(Path(queries_path).read_text())
    ids, hashes = [q[0] for q in queries], [q[1] for q in queries]
    index = HashIndex(spark, index_path, "phash", 8, THRESHOLD, expected_size=1000)
    lookup = ShardedLookup(index, shards=2)
    runs = []
    for attempt in range(2 if kill else 1):
        pairs = lookup.near(ids, hashes, THRESHOLD)
        runs.append(
            {
                "pairs": sorted([q, m, d] for (q, m), d in pairs.items()),
                "placement": placement(lookup),
                "rows": [answer.rows for answer in lookup.answers],
                "read": [answer.read for answer in lookup.answers],
            }
        )
        if kill and attempt == 0:
            os.kill(runs[0]["placement"][0], signal.SIGKILL)
            time.sleep(5)  # the executor's loss reaches the driver
    Path(out_path).write_text(json.dumps(runs))
    spark.stop()


if __name__ == "__main__":
    main()
