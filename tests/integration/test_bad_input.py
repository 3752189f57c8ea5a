"""Bad and hostile input on the real broker, Spark and Delta: a micro-batch made only of bad
messages, then good images. The query survives, each bad message is one dead letter keyed by its
source, and the good images are hashed, alerted and registered."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys

from deltalake import DeltaTable

from streaming import kafka_io
from streaming.schemas import validator

from .corpus import Message, distinct_images, expected_alerts, near_duplicate, produce, references
from .streams import alert_pairs, fresh, read_topic, run_available_now


def ref(image_id: str, **fields: object) -> Message:
    return Message(image_id, json.dumps({"id": image_id, **fields}).encode())


def test_an_all_bad_micro_batch_is_dead_lettered_and_the_stream_goes_on(spark, topics, tmp_path):
    config = fresh(topics, tmp_path).replace(
        **{"sources.max_message_bytes": 200_000, "sources.max_bytes": 50_000}
    )
    inline = base64.b64encode(os.urandom(60_000)).decode()
    bad = {
        "outside_roots": ref("b0", uri="/etc/hostname"),
        "missing_file": ref("b1", uri=str(tmp_path / "missing.jpg")),
        "malformed_json": Message("b2", b"{not json"),
        "disallowed_scheme": ref("b3", uri="ftp://example.org/a.jpg"),
        "not_utf8": Message("b4", b'{"id": "b4\xff", "uri": "a.jpg"}'),
        "too_deeply_nested": Message("b5", b"[" * 10_000 + b"]" * 10_000),
        "id_too_long": ref("b" * 100_000, uri="a.jpg"),
        "message_too_large": ref("b7", uri="a.jpg", meta={"m": "x" * 300_000}),
        "meta_too_large": ref("b8", uri="a.jpg", meta={"m": "x" * 70_000}),
        "too_many_bytes": ref("b9", content=inline),
        "bad_uri": ref("b10", uri="http://[x/a.jpg"),
    }
    # A key that is not UTF-8 is the producer's business: on a bad message it is kept, replaced.
    bad["schema_violation"] = Message(b"\xff\xfe", b'{"id": "b11"}')
    originals = distinct_images(tmp_path / "good", 4, seed=11)
    good = [*originals, near_duplicate(originals[0], 0)]
    *firsts, last = references(good)
    # the near-duplicate under a key that is not UTF-8: hashed, alerted and registered all the same
    messages = [*bad.values(), *firsts, Message(b"\xfe\xff", last.value)]
    produce(config, config.kafka.images_topic, messages)

    # The first micro-batch holds the bad messages only.
    run_available_now(spark, config, max_offsets_per_trigger=len(bad))

    dead = kafka_io.read_json(config, config.kafka.dlq_topic)
    topic = config.kafka.images_topic
    assert sorted(record["source"]["offset"] for _, record in dead) == list(range(len(bad)))
    by_offset = {record["source"]["offset"]: (key, record) for key, record in dead}
    for offset, reason in enumerate(bad):
        key, record = by_offset[offset]
        validator("dead_letter").validate(record)
        assert record["reason"] == reason
        assert key == record["dead_letter_id"] == source_id(topic, 0, offset)
    assert by_offset[list(bad).index("message_too_large")][1]["original"]["truncated"]
    assert by_offset[list(bad).index("schema_violation")][1]["original"]["key"] == "\ufffd\ufffd"
    assert by_offset[list(bad).index("id_too_long")][1]["id"] is None

    images = DeltaTable(f"{config.index.path}/images").to_pyarrow_table()
    assert sorted(images.column("id").to_pylist()) == sorted(str(p) for p in good)
    alerts = read_topic(config, config.kafka.alerts_topic)
    assert alert_pairs(alerts) == expected_alerts(good, config)
    assert (str(good[-1]), str(originals[0])) in alert_pairs(alerts)


def source_id(topic: str, partition: int, offset: int) -> str:
    """The dead-letter key the schema promises, computed here on its own."""
    return hashlib.sha256(f"{topic}\0{partition}\0{offset}".encode()).hexdigest()[:32]


def test_produce_refuses_a_reference_over_the_kafka_limit_and_sends_the_rest(topics, tmp_path):
    big = tmp_path / "big.jpg"
    big.write_bytes(os.urandom(900_000))  # 1.2 MB once in base64
    (small,) = distinct_images(tmp_path / "small", 1, seed=12)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "streaming.cli",
            f"--set=kafka.bootstrap_servers={topics.kafka.bootstrap_servers}",
            f"--set=kafka.images_topic={topics.kafka.images_topic}",
            "produce",
            "--inline",
            str(big),
            str(small),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert f"{big}: refused" in done.stderr
    assert "1048576 bytes" in done.stderr and "without --inline" in done.stderr
    sent = read_topic(topics, topics.kafka.images_topic)
    assert [message["id"] for message in sent] == [str(small)]
