"""Running the streaming job in the test process and reading what it published."""

from __future__ import annotations

from pathlib import Path

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
    return [
        value for _, value in kafka_io.consume_json(config, topic, from_beginning=True, timeout_s=4)
    ]


def alert_pairs(alerts: list[dict]) -> set[tuple[str, str]]:
    return {(a["image_id"], a["match_id"]) for a in alerts}
