"""The three lookups through the real stream: the same alerts, and every pair an exhaustive scan
finds."""

from __future__ import annotations

import pytest

from .corpus import expected_alerts, planted_stream, produce, references
from .streams import alert_pairs, fresh, read_topic, run_available_now

pytestmark = pytest.mark.slow


def test_sharded_memory_and_join_lookups_publish_the_same_alerts(spark, topics, tmp_path_factory):
    paths = planted_stream(tmp_path_factory.mktemp("stream40"), count=40, seed=40, group_every=5)
    produce(topics, topics.kafka.images_topic, references(paths))
    found = {}
    for kind in ("sharded", "memory", "join"):
        config = fresh(topics, tmp_path_factory.mktemp(kind)).replace(
            **{"index.lookup": kind, "kafka.alerts_topic": f"{topics.kafka.alerts_topic}-{kind}"}
        )
        # Two micro-batches: the second looks up what the first registered.
        run_available_now(spark, config, max_offsets_per_trigger=20)
        found[kind] = alert_pairs(read_topic(config, config.kafka.alerts_topic))
    expected = expected_alerts(paths, topics)
    assert len(expected) >= 4
    assert found["sharded"] == found["memory"] == found["join"] == expected
