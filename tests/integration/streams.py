"""Running the streaming job in the test process and reading what it published."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from deltalake import DeltaTable
from pyspark.sql import SparkSession

from streaming import kafka_io
from streaming.config import Config
from streaming.stream.job import StreamOptions, start_stream


def fresh(config: Config, folder: Path) -> Config:
    """The config with an index and a checkpoint of their own under folder."""
    return config.replace(
        **{"index.path": str(folder / "index"), "stream.checkpoint": str(folder / "checkpoint")}
    )


def run_available_now(spark: SparkSession, config: Config, **options: object) -> None:
    """One run of the query over everything available; fails the test if the query failed."""
    query = start_stream(
        spark, config, StreamOptions.from_config(config, available_now=True, **options)
    )
    query.awaitTermination()
    assert query.exception() is None, query.exception()


def read_topic(config: Config, topic: str) -> list[dict]:
    return [value for _, value in kafka_io.read_json(config, topic)]


def alert_pairs(alerts: list[dict]) -> set[tuple[str, str]]:
    return {(a["image_id"], a["match_id"]) for a in alerts}


# Spark's Kafka source gives up on a vanished broker after three offset fetches of
# default.api.timeout.ms (60 s each: three minutes) and its sink after max.block.ms (60 s). These
# shorter timeouts take the same path (the same exceptions, the same restart from the checkpoint),
# only sooner (the admin client wants default.api.timeout.ms >= request.timeout.ms, 30 s unless
# set), so an outage of half a minute is one the query notices. They are Java client settings:
# kafka.security passes them to Spark's source and sink, not to kafka-python, which lacks them.
QUICK_TIMEOUTS = {
    "request.timeout.ms": "10000",
    "default.api.timeout.ms": "10000",
    "max.block.ms": "10000",
}


def neardup_command(
    config: Config,
    *args: str,
    log_level: str = "WARNING",
    settings: Mapping[str, str] | None = None,
) -> list[str]:
    """`neardup ARGS` as a subprocess of the test's interpreter, pointed at the test's broker,
    topics, index and image root, and given any other settings (dotted key -> value)."""
    settings = {
        "kafka.bootstrap_servers": config.kafka.bootstrap_servers,
        "kafka.images_topic": config.kafka.images_topic,
        "kafka.alerts_topic": config.kafka.alerts_topic,
        "kafka.dlq_topic": config.kafka.dlq_topic,
        "index.path": config.index.path,
        "sources.allowed_roots": f'["{config.sources.allowed_roots[0]}"]',
        **(settings or {}),
    }
    return [
        sys.executable,
        "-m",
        "streaming.cli",
        f"--log-level={log_level}",
        *(f"--set={key}={value}" for key, value in settings.items()),
        *args,
    ]


def index_ids(config: Config) -> list[str]:
    """The ids of the index's `images` rows, read by delta-rs (none before the table exists)."""
    path = f"{config.index.path}/images"
    created = os.path.isfile(f"{path}/_delta_log/{0:020d}.json")
    return DeltaTable(path).to_pyarrow_table().column("id").to_pylist() if created else []


def wait_for(done: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll until `done`; fail the test with `what` after timeout_s (a bound on a hang, not a
    timing)."""
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, f"no {what} within {timeout_s:.0f} s"
        time.sleep(1)
