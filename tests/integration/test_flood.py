"""Flood control (alerts.max_per_match, docs/banks.md) end to end on the broker, Spark and Delta:
the same alerts whatever the micro-batch sizes and across a restart."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from streaming.config import Config
from streaming.stream.flood import FloodLimit

from .corpus import Message, distinct_images, near_duplicate, produce
from .streams import fresh, read_topic, run_available_now

HOUR_MS = 3_600_000
LIMIT = "1 per 1h"


def copies(viral: Path, count: int) -> list[Message]:
    """The image, then `count` copies of one near duplicate of it under ids of their own."""
    uris = [viral, *[near_duplicate(viral, 0)] * count]
    return [
        Message(f"copy-{n}", json.dumps({"id": f"copy-{n}", "uri": str(uri)}).encode())
        for n, uri in enumerate(uris)
    ]


def run(spark: SparkSession, topics: Config, folder: Path, name: str, batch: int) -> Config:
    """One available-now run of the stream with flood control, in micro-batches of `batch`
    messages, with its own index, checkpoint and alerts topic (again: the same ones)."""
    config = fresh(topics, folder / name).replace(
        **{
            "alerts.max_per_match": LIMIT,
            "kafka.alerts_topic": f"{topics.kafka.alerts_topic}-{name}",
        }
    )
    run_available_now(spark, config, max_offsets_per_trigger=batch)
    return config


def sent(config: Config) -> Counter[tuple[str, str, int]]:
    return Counter(
        (a["image_id"], a["match_id"], a.get("suppressed", 0))
        for a in read_topic(config, config.kafka.alerts_topic)
    )


@pytest.mark.slow
def test_flood_control_sends_the_same_alerts_in_batches_of_1_and_100_and_after_a_restart(
    spark, topics, tmp_path
):
    viral = distinct_images(tmp_path / "images", count=1, seed=91)[0]
    stream = copies(viral, 6)
    # 25 minutes apart, from a whole hour: windows of 3, 2 and 2 messages
    start = (int(time.time() * 1000) // HOUR_MS - 5) * HOUR_MS
    stamps = [start + n * 25 * 60_000 for n in range(len(stream))]
    produce(topics, topics.kafka.images_topic, stream[:4], timestamps_ms=stamps[:4])
    restarted = run(spark, topics, tmp_path, "restarted", 100)  # the first 4, then the driver stops
    produce(topics, topics.kafka.images_topic, stream[4:], timestamps_ms=stamps[4:])
    run(spark, topics, tmp_path, "restarted", 100)
    ones = run(spark, topics, tmp_path, "ones", 1)
    hundreds = run(spark, topics, tmp_path, "hundreds", 100)

    alerts = sent(hundreds)
    assert sent(ones) == alerts
    assert sent(restarted) == alerts
    assert max(alerts.values()) == 1  # each alert once
    # every pair is a match, each copy matching the image and every copy before it
    logged = DeltaTable(f"{hundreds.index.path}/matches").to_pyarrow_table().to_pylist()
    assert len(logged) == len(stream) * (len(stream) - 1) // 2
    held = [row for row in logged if not row["sent"]]
    assert held and sum(row["suppressed"] for row in logged) > 0
    assert (
        Counter(
            (row["image_id"], row["match_id"], row["suppressed"]) for row in logged if row["sent"]
        )
        == alerts
    )
    limit = FloodLimit.parse(LIMIT)
    per_window = Counter(
        (row["match_id"], limit.window(row["image_timestamp"])) for row in logged if row["sent"]
    )
    assert max(per_window.values()) == limit.count
