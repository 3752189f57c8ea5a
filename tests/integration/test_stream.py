"""The first end-to-end path: references on Kafka -> the streaming job -> alerts on Kafka, images in
Delta."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys

import pytest
from deltalake import DeltaTable

from streaming.samples import write_samples
from streaming.schemas import validator

from .corpus import Message, expected_alerts, produce, references
from .streams import alert_pairs, fresh, read_topic, run_available_now


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return write_samples(tmp_path_factory.mktemp("photos"), variants_of=4)


def test_photos_stream_to_alerts_and_one_index_row_per_image(spark, topics, photos, tmp_path):
    config = fresh(topics, tmp_path)
    paths = [*photos.originals, *photos.variants]
    produce(config, config.kafka.images_topic, references(paths))
    run_available_now(spark, config)

    alerts = read_topic(config, config.kafka.alerts_topic)
    assert alert_pairs(alerts) == expected_alerts(paths, config)
    planted = {(str(v), str(o)) for v, o in photos.variants.items()}
    # an edit may push one pair past the threshold
    assert len(planted & alert_pairs(alerts)) >= len(planted) - 1
    for alert in alerts:
        validator("duplicate_alert").validate(alert)
        assert alert["image_id"] != alert["match_id"]
    assert len({a["alert_id"] for a in alerts}) == len(alerts)

    images = DeltaTable(f"{config.index.path}/images").to_pyarrow_table()
    assert sorted(images.column("id").to_pylist()) == sorted(str(p) for p in paths)


def test_every_bad_message_is_dead_lettered_with_its_reason(spark, topics, photos, tmp_path):
    config = fresh(topics, tmp_path)
    good = photos.originals[:3]
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    zero = tmp_path / "zero.jpg"
    zero.write_bytes(b"")
    escape = tmp_path / "escape.jpg"
    escape.symlink_to("/etc/hostname")

    def ref(**fields) -> Message:
        return Message(fields.get("id"), json.dumps(fields).encode())

    bad = {
        "malformed_json": Message("m1", b"{not json"),
        "schema_violation": ref(id="m2"),
        "bad_base64": ref(id="m3", content="***"),
        "missing_file": ref(id="m4", uri=str(tmp_path / "missing.jpg")),
        "outside_roots": ref(id="m5", uri="/etc/hostname"),
        "undecodable": ref(id="m6", uri=str(corrupt)),
        "disallowed_scheme": ref(id="m7", uri="ftp://example.org/a.jpg"),
        "disallowed_host": ref(id="m8", uri="http://example.org/a.jpg"),
        "empty": ref(id="m9", uri=str(zero)),
        "undecodable_inline": ref(id="m12", content=base64.b64encode(b"GIF89a nothing").decode()),
    }
    bad["dotdot"] = ref(id="m10", uri=str(tmp_path / ".." / ".." / ".." / "x.jpg"))
    bad["symlink"] = ref(id="m11", uri=str(escape))
    messages = [*references(good[:2]), *bad.values(), *references(good[2:])]
    produce(config, config.kafka.images_topic, messages)
    run_available_now(spark, config)

    dead = read_topic(config, config.kafka.dlq_topic)
    for record in dead:
        validator("dead_letter").validate(record)
    reasons = {record["original"]["key"]: record["reason"] for record in dead}
    assert reasons == {
        "m1": "malformed_json",
        "m2": "schema_violation",
        "m3": "bad_base64",
        "m4": "missing_file",
        "m5": "outside_roots",
        "m6": "undecodable",
        "m7": "disallowed_scheme",
        "m8": "disallowed_host",
        "m9": "empty",
        "m10": "outside_roots",
        "m11": "outside_roots",
        "m12": "undecodable",
    }
    registered = (
        DeltaTable(f"{config.index.path}/images").to_pyarrow_table().column("id").to_pylist()
    )
    # Nothing lost: each message is a registered hash row or a dead letter.
    assert sorted(registered) == sorted(str(p) for p in good)
    assert len(registered) + len(dead) == len(messages)


def test_cli_produce_stream_alerts_and_index_stats(topics, photos, tmp_path):
    config = fresh(topics, tmp_path)
    folder = photos.originals[0].parent.parent
    settings = [
        f"--set=kafka.bootstrap_servers={config.kafka.bootstrap_servers}",
        f"--set=kafka.images_topic={config.kafka.images_topic}",
        f"--set=kafka.alerts_topic={config.kafka.alerts_topic}",
        f"--set=kafka.dlq_topic={config.kafka.dlq_topic}",
        f"--set=index.path={config.index.path}",
        f'--set=sources.allowed_roots=["{folder}"]',
    ]

    def neardup(*args: str, log_level: str = "WARNING") -> subprocess.CompletedProcess:
        done = subprocess.run(
            [sys.executable, "-m", "streaming.cli", f"--log-level={log_level}", *settings, *args],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done

    neardup("produce", str(folder))
    streamed = neardup(
        "stream", "--available-now", "--checkpoint", config.stream.checkpoint, log_level="INFO"
    )
    # The listener's progress line: Spark's counts joined with the job's own, and the job's steps
    # timed.
    progress = re.search(
        r"batch 0: (\d+) images in [\d.]+ s \([\d.]+/s\), (\d+) alerts, 0 held back, 0 allowed, "
        r"0 dead letters, (\d+) registered, index (\d+) images, index_lag_s [\d.]+ "
        r"\(hash [\d.]+ s, match [\d.]+ s, publish [\d.]+ s, register [\d.]+ s\)",
        streamed.stderr,
    )
    assert progress, streamed.stderr[-3000:]
    images, alerted, registered, indexed = (int(group) for group in progress.groups())
    assert images == registered == indexed == len(photos.originals) + len(photos.variants)
    alerts = [
        json.loads(line)
        for line in neardup("alerts", "--from-beginning", "--timeout", "4").stdout.splitlines()
    ]
    assert len(alerts) == alerted
    assert {(a["image_id"], a["match_id"]) for a in alerts} >= {
        (str(v), str(o)) for v, o in photos.variants.items() if o == photos.originals[0]
    }
    stats = json.loads(neardup("index", "stats", "--json").stdout)
    assert stats["path"] == f"{config.index.path}/images"
    assert stats["images"] == len(photos.originals) + len(photos.variants)
    # index.lookup = auto: which lookup a stream would open on this index, and why
    assert stats["lookup"] == {
        "kind": "memory",
        "why": f"auto: {stats['images']} images <= index.memory_max_images (10000000)",
    }
    small = json.loads(
        neardup("--set=index.memory_max_images=3", "index", "stats", "--json").stdout
    )
    assert small["lookup"]["kind"] == "sharded"
