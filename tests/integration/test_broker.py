"""The embedded broker is a real Kafka: an independent client (kcat) and kafka-python both talk to
it."""

import json
import subprocess

import pytest
from kafka.errors import KafkaError

from streaming import kafka_io
from streaming.local import kafka
from streaming.stream.sinks import KafkaSink


def test_start_is_idempotent_and_status_tells(broker):
    assert "already running" in kafka.start(broker)
    assert "accepting connections" in kafka.status(broker)


def test_kcat_lists_the_topics_neardup_creates(topics):
    created = kafka_io.ensure_topics(topics, [topics.kafka.images_topic, topics.kafka.alerts_topic])
    assert sorted(created) == sorted([topics.kafka.images_topic, topics.kafka.alerts_topic])
    assert kafka_io.ensure_topics(topics, [topics.kafka.images_topic]) == []
    listing = subprocess.run(
        ["kcat", "-b", topics.kafka.bootstrap_servers, "-L", "-J"],
        capture_output=True,
        text=True,
        check=True,
    )
    names = {t["topic"] for t in json.loads(listing.stdout)["topics"]}
    assert {topics.kafka.images_topic, topics.kafka.alerts_topic} <= names


def test_messages_round_trip_between_kafka_python_and_kcat(topics):
    topic = topics.kafka.images_topic
    producer = kafka_io.producer(topics)
    producer.send(topic, key="a", value={"id": "a", "uri": "/x.jpg"})
    producer.flush()
    producer.close()
    consumed = subprocess.run(
        [
            "kcat",
            "-b",
            topics.kafka.bootstrap_servers,
            "-C",
            "-t",
            topic,
            "-o",
            "beginning",
            "-e",
            "-f",
            "%k %s\n",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert json.loads(consumed.stdout.strip().split(" ", 1)[1]) == {"id": "a", "uri": "/x.jpg"}
    assert consumed.stdout.startswith("a ")
    subprocess.run(
        ["kcat", "-b", topics.kafka.bootstrap_servers, "-P", "-t", topic, "-k", "b"],
        input='{"id":"b","uri":"/y.jpg"}',
        text=True,
        check=True,
        timeout=30,
    )
    read = kafka_io.read_json(topics, topic)
    assert read == [("a", {"id": "a", "uri": "/x.jpg"}), ("b", {"id": "b", "uri": "/y.jpg"})]


def test_stop_then_start_keeps_the_data(topics):
    topic = topics.kafka.images_topic
    producer = kafka_io.producer(topics)
    producer.send(topic, key="k", value={"n": 1})
    producer.flush()
    producer.close()
    assert "stopped" in kafka.stop(topics)
    assert kafka.running_pid(topics) is None
    assert "started" in kafka.start(topics)
    assert kafka_io.read_json(topics, topic) == [("k", {"n": 1})]


def test_the_stream_sink_sends_to_each_topic_and_raises_what_fails(topics):
    alerts, dead_letters = topics.kafka.alerts_topic, topics.kafka.dlq_topic
    kafka_io.ensure_topics(topics, [alerts, dead_letters])
    sink = KafkaSink(topics)
    try:
        sink.send([(alerts, "a1", '{"n": 1}'), (dead_letters, "d1", '{"n": 2}')])
        sink.send([(alerts, "a2", '{"n": 3}')])
        # the broker refuses a message over its size limit: the batch must fail, not skip it
        with pytest.raises(KafkaError):
            sink.send([(alerts, "big", "x" * 2_000_000)])
    finally:
        sink.close()
    read = dict(kafka_io.read_json(topics, alerts))
    assert read == {"a1": {"n": 1}, "a2": {"n": 3}}
    assert kafka_io.read_json(topics, dead_letters) == [("d1", {"n": 2})]
