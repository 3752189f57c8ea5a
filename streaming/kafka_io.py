"""Kafka clients outside Spark (kafka-python) and the options Spark's Kafka source and sink get.

Both take config.kafka.security verbatim: Spark as `kafka.<key>`, kafka-python with dots as underscores
("security.protocol" -> security_protocol), so one table in the config secures every client.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator
from typing import Any

from streaming.config import Config


def spark_options(config: Config) -> dict[str, str]:
    options = {"kafka.bootstrap.servers": config.kafka.bootstrap_servers}
    options.update({f"kafka.{key}": value for key, value in config.kafka.security.items()})
    return options


def client_options(config: Config) -> dict[str, Any]:
    options: dict[str, Any] = {"bootstrap_servers": config.kafka.bootstrap_servers.split(",")}
    options.update({key.replace(".", "_"): value for key, value in config.kafka.security.items()})
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
        acks="all", key_serializer=DefaultSerializer(), value_serializer=JsonSerializer(), **client_options(config)
    )


def consume_json(
    config: Config, topic: str, from_beginning: bool, timeout_s: float, max_messages: int | None = None
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
