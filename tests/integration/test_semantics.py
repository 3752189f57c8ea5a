"""The promises of DESIGN.md on a real broker, Spark and Delta: the same alerts whatever the
batching, the partitioning, a stop and restart, or a replay with a fresh checkpoint against the
index built."""

from __future__ import annotations

import time

import pytest
from deltalake import DeltaTable

from streaming.stream.job import StreamOptions, start_stream

from .corpus import expected_alerts, planted_stream, produce, references
from .streams import alert_pairs, fresh, read_topic, run_available_now

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stream300(tmp_path_factory):
    return planted_stream(tmp_path_factory.mktemp("stream300"), count=300, seed=300)


def with_alerts_topic(config, name: str):
    return config.replace(**{"kafka.alerts_topic": f"{config.kafka.alerts_topic}-{name}"})


def alert_ids(config) -> set[str]:
    return {a["alert_id"] for a in read_topic(config, config.kafka.alerts_topic)}


def index_ids(config) -> list[str]:
    return DeltaTable(f"{config.index.path}/images").to_pyarrow_table().column("id").to_pylist()


def test_alerts_do_not_depend_on_micro_batch_size(spark, topics, tmp_path_factory):
    """max-offsets-per-trigger 1 (a micro-batch per image), 7 and 1000 (one micro-batch), on a short
    stream: a micro-batch costs seconds on 2 cores, so the 300-image stream below uses larger
    batches."""
    paths = planted_stream(tmp_path_factory.mktemp("stream14"), count=14, seed=14, group_every=4)
    produce(topics, topics.kafka.images_topic, references(paths))
    runs = {}
    for size in (1, 7, 1000):
        config = with_alerts_topic(fresh(topics, tmp_path_factory.mktemp(f"by{size}")), f"by{size}")
        run_available_now(spark, config, max_offsets_per_trigger=size)
        runs[size] = read_topic(config, config.kafka.alerts_topic)
    expected = expected_alerts(paths, topics)
    assert len(expected) >= 2
    assert alert_pairs(runs[1]) == alert_pairs(runs[7]) == alert_pairs(runs[1000]) == expected
    assert (
        {a["alert_id"] for a in runs[1]}
        == {a["alert_id"] for a in runs[7]}
        == {a["alert_id"] for a in runs[1000]}
    )


def test_same_alerts_for_batch_sizes_partitions_restart_and_replay(
    spark, topics, stream300, tmp_path_factory
):
    expected = expected_alerts(stream300, topics)
    assert len(expected) >= 20  # the planted groups
    produce(topics, topics.kafka.images_topic, references(stream300))

    # One large micro-batch: the reference run, checked against brute force.
    reference = with_alerts_topic(fresh(topics, tmp_path_factory.mktemp("ref")), "ref")
    run_available_now(spark, reference, max_offsets_per_trigger=1000)
    alerts = read_topic(reference, reference.kafka.alerts_topic)
    assert alert_pairs(alerts) == expected
    ids = {a["alert_id"] for a in alerts}
    assert sorted(index_ids(reference)) == sorted({str(p) for p in stream300})

    # Micro-batches of 50.
    by50 = with_alerts_topic(fresh(topics, tmp_path_factory.mktemp("by50")), "by50")
    run_available_now(spark, by50, max_offsets_per_trigger=50)
    assert alert_ids(by50) == ids

    # Three partitions, same messages and timestamps order.
    three = fresh(topics, tmp_path_factory.mktemp("p3")).replace(
        **{
            "kafka.images_topic": f"{topics.kafka.images_topic}-p3",
            "kafka.alerts_topic": f"{topics.kafka.alerts_topic}-p3",
        }
    )
    produce(three, three.kafka.images_topic, references(stream300), partitions=3)
    run_available_now(spark, three, max_offsets_per_trigger=100)
    assert alert_ids(three) == ids

    # Stopped after two micro-batches, then restarted from the checkpoint.
    restart = with_alerts_topic(fresh(topics, tmp_path_factory.mktemp("restart")), "restart")
    query = start_stream(
        spark, restart, StreamOptions.from_config(restart, max_offsets_per_trigger=60, trigger="1s")
    )
    deadline = time.monotonic() + 300
    while (query.lastProgress or {}).get("batchId", -1) < 1 and time.monotonic() < deadline:
        time.sleep(0.5)
    query.stop()
    assert 0 < len(index_ids(restart)) < len(stream300)
    run_available_now(spark, restart, max_offsets_per_trigger=60)
    assert alert_ids(restart) == ids
    assert sorted(index_ids(restart)) == sorted({str(p) for p in stream300})

    # Replay from earliest, fresh checkpoint, against the index the reference run built: the same
    # alerts, no image reported as a duplicate of itself, nothing registered twice.
    replay = with_alerts_topic(reference, "replay").replace(
        **{
            "stream.checkpoint": str(tmp_path_factory.mktemp("replay") / "checkpoint"),
        }
    )
    run_available_now(spark, replay, starting_offsets="earliest", max_offsets_per_trigger=1000)
    assert alert_ids(replay) == ids
    assert sorted(index_ids(replay)) == sorted({str(p) for p in stream300})
