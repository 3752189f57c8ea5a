"""Kafka clients outside Spark (kafka-python) and the options Spark's Kafka source and sink get.

One table, config.kafka.security, secures both. Keys in Java form ("security.protocol") go to Spark
as `kafka.<key>`; kafka-python gets those it understands with dots as underscores
(security_protocol). Some settings exist only on one side: "sasl.jaas.config" is Java's, so for
kafka-python add its own keys in Python form ("sasl_plain_username", ...), which Spark does not
receive.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator
from typing import Any

from streaming.config import Config


def spark_options(config: Config) -> dict[str, str]:
    options = {"kafka.bootstrap.servers": config.kafka.bootstrap_servers}
    options.update(
        {f"kafka.{key}": value for key, value in config.kafka.security.items() if "_" not in key}
    )
    return options


def client_options(config: Config) -> dict[str, Any]:
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

    # Only settings every kafka-python client accepts: each refuses keys it does not know.
    known = (
        set(KafkaProducer.DEFAULT_CONFIG)
        & set(KafkaConsumer.DEFAULT_CONFIG)
        & set(KafkaAdminClient.DEFAULT_CONFIG)
    )
    options: dict[str, Any] = {"bootstrap_servers": config.kafka.bootstrap_servers.split(",")}
    for key, value in config.kafka.security.items():
        python_key = key.replace(".", "_")
        if python_key in known:
            options[python_key] = value
    return options


def ensure_topics(config: Config, topics: Iterable[str]) -> list[str]:
    """Create the topics that are missing, with config.kafka.partitions; return those created."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(client_id="neardup-admin", **client_options(config))
    try:
        missing = sorted(set(topics) - set(admin.list_topics()))
        created = []
        for topic in missing:
            try:
                admin.create_topics([NewTopic(topic, config.kafka.partitions, 1)])
                created.append(topic)
            except TopicAlreadyExistsError:  # another client won the race
                pass
        return created
    finally:
        admin.close()


def producer(config: Config):
    """A producer of JSON documents with string keys, acknowledged by every in-sync replica."""
    from kafka import KafkaProducer
    from kafka.serializer import DefaultSerializer, JsonSerializer

    return KafkaProducer(
        acks="all",
        key_serializer=DefaultSerializer(),
        value_serializer=JsonSerializer(),
        **client_options(config),
    )


def consume_json(
    config: Config,
    topic: str,
    from_beginning: bool,
    timeout_s: float,
    max_messages: int | None = None,
) -> Iterator[tuple[str | None, Any]]:
    """(key, JSON value) of a topic's messages until max_messages or timeout_s without a new one."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        topic,
        auto_offset_reset="earliest" if from_beginning else "latest",
        enable_auto_commit=False,
        consumer_timeout_ms=int(timeout_s * 1000),
        **client_options(config),
    )
    try:
        for record in itertools.islice(consumer, max_messages):
            yield (record.key.decode() if record.key else None), json.loads(record.value)
    finally:
        consumer.close()
