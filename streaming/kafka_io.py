"""Kafka clients outside Spark (kafka-python) and the options Spark's Kafka source and sink get.

One table, config.kafka.security, secures both. Keys in Java form ("security.protocol") go to Spark
as `kafka.<key>`; kafka-python gets those it understands with dots as underscores
(security_protocol). Some settings exist only on one side: "sasl.jaas.config" is Java's, so for
kafka-python add its own keys in Python form ("sasl_plain_username", ...), which Spark does not
receive.

Every kafka-python client is made through `connect`: a broker that is not there, or that refuses
the client's security settings, ends the command within kafka.connect_timeout_s with a
NeardupError naming the address and the key to change.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from streaming.config import Config
from streaming.errors import ConfigError, ExitCode, NeardupError
from streaming.local.processes import port_open

Client = TypeVar("Client")
# The keys that name a topic, to say which one to change when a topic cannot be created.
TOPIC_KEYS = ("images_topic", "alerts_topic", "dlq_topic", "dry_run_alerts_topic")

if TYPE_CHECKING:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.consumer.fetcher import ConsumerRecord
    from kafka.serializer import Serializer


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
    options: dict[str, Any] = {
        "bootstrap_servers": config.kafka.bootstrap_servers.split(","),
        # Each client connects in its constructor; kafka-python would try for 30 s.
        "bootstrap_timeout_ms": config.kafka.connect_timeout_s * 1000,
    }
    for key, value in config.kafka.security.items():
        python_key = key.replace(".", "_")
        if python_key in known:
            default = KafkaAdminClient.DEFAULT_CONFIG[python_key]
            options[python_key] = _python_value(key, value, default)
    return options


def _python_value(key: str, value: Any, default: Any) -> Any:
    """A [kafka.security] value as kafka-python wants it: Spark takes every option as text
    ("10000"), kafka-python a number where its default is one."""
    if not isinstance(value, str) or not isinstance(default, bool | int | float):
        return value
    if isinstance(default, bool):
        if value.lower() not in ("true", "false"):
            raise ConfigError(f"kafka.security: {key} is true or false, not {value!r}")
        return value.lower() == "true"
    try:
        return type(default)(value)
    except ValueError:
        kind = type(default).__name__
        raise ConfigError(f"kafka.security: {key} is a number ({kind}), not {value!r}") from None


def ensure_topics(config: Config, topics: Iterable[str]) -> list[str]:
    """Create the topics that are missing, with config.kafka.partitions; return those created."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import (
        ClusterAuthorizationFailedError,
        PolicyViolationError,
        TopicAlreadyExistsError,
        TopicAuthorizationFailedError,
    )

    admin = connect(
        config, lambda: KafkaAdminClient(client_id="neardup-admin", **client_options(config))
    )
    try:
        missing = sorted(set(topics) - set(admin.list_topics()))
        created = []
        for topic in missing:
            try:
                admin.create_topics([NewTopic(topic, config.kafka.partitions, 1)])
                created.append(topic)
            except TopicAlreadyExistsError:  # another client won the race
                pass
            except (
                TopicAuthorizationFailedError,
                ClusterAuthorizationFailedError,
                PolicyViolationError,
            ) as e:
                raise _not_created(config, topic, e) from e
        # The broker answers a creation before its metadata lists the topic: wait for that, so a
        # client that looks next finds it.
        deadline = time.monotonic() + config.kafka.connect_timeout_s
        while set(created) - set(admin.list_topics()) and time.monotonic() < deadline:
            time.sleep(0.1)
        return created
    finally:
        admin.close()


def producer(config: Config) -> KafkaProducer:
    """A producer of JSON documents with string keys, acknowledged by every in-sync replica."""
    from kafka.serializer import JsonSerializer

    return _producer(config, JsonSerializer())


def text_producer(config: Config) -> KafkaProducer:
    """A producer of string keys and string values (JSON already encoded), acknowledged by every
    in-sync replica."""
    from kafka.serializer import DefaultSerializer

    return _producer(config, DefaultSerializer())


def _producer(config: Config, value_serializer: Serializer) -> KafkaProducer:
    from kafka import KafkaProducer
    from kafka.serializer import DefaultSerializer

    return connect(
        config,
        lambda: KafkaProducer(
            acks="all",
            # the broker drops a batch that a retry sends twice: one copy per send
            enable_idempotence=True,
            key_serializer=DefaultSerializer(),
            value_serializer=value_serializer,
            **client_options(config),
        ),
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

    consumer = connect(
        config,
        lambda: KafkaConsumer(
            topic,
            auto_offset_reset="earliest" if from_beginning else "latest",
            enable_auto_commit=False,
            consumer_timeout_ms=int(timeout_s * 1000),
            **client_options(config),
        ),
    )
    try:
        for record in itertools.islice(consumer, max_messages):
            yield (record.key.decode() if record.key else None), json.loads(record.value)
    finally:
        consumer.close()


def read_json(config: Config, topic: str) -> list[tuple[str | None, Any]]:
    """(key, JSON value) of every message the topic holds now: from its first offsets to the end
    offsets it has when called, with no wait for more (a topic that does not exist holds none)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = connect(
        config, lambda: KafkaConsumer(enable_auto_commit=False, **client_options(config))
    )
    try:
        numbers = consumer.partitions_for_topic(topic) or set()
        partitions = [TopicPartition(topic, p) for p in sorted(numbers)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        return [
            (record.key.decode() if record.key else None, json.loads(record.value))
            for record in records_to_end(consumer, partitions)
        ]
    finally:
        consumer.close()


def records_to_end(
    consumer: KafkaConsumer, partitions: list[TopicPartition]
) -> Iterator[ConsumerRecord]:
    """The records of assigned partitions from the consumer's positions to the partitions' end
    offsets as they are now."""
    ends = consumer.end_offsets(partitions)
    while any(consumer.position(p) < ends[p] for p in partitions):
        for records in consumer.poll(timeout_ms=500).values():
            yield from records


def connect(config: Config, make: Callable[[], Client]) -> Client:
    """make() a kafka-python client, which connects in its constructor; a broker that does not
    answer, or answers but refuses the client, becomes a NeardupError naming the address."""
    from kafka.errors import KafkaTimeoutError

    servers = config.kafka.bootstrap_servers
    answering = [s for s in servers.split(",") if _accepts_tcp(s, config.kafka.connect_timeout_s)]
    if not answering:
        raise NeardupError(
            f"no Kafka broker answers at {servers} (kafka.bootstrap_servers)\n"
            "start the local one with `neardup kafka start`, or set kafka.bootstrap_servers",
            ExitCode.BROKER_UNREACHABLE,
        )
    try:
        return make()
    except KafkaTimeoutError as e:
        protocol = config.kafka.security.get("security.protocol", "PLAINTEXT")
        raise NeardupError(
            f"the Kafka broker at {answering[0]} accepts connections but not neardup's "
            f"(security.protocol {protocol}, from [kafka.security])\n"
            "set [kafka.security] to what the broker's listener expects "
            "(NEARDUP_KAFKA_SECURITY takes a JSON table)",
            ExitCode.BROKER_REFUSED,
        ) from e


def _accepts_tcp(server: str, timeout_s: float) -> bool:
    host, _, port = server.strip().rpartition(":")
    return port.isdigit() and port_open(int(port), host.strip("[]"), timeout_s)


def _not_created(config: Config, topic: str, error: Exception) -> NeardupError:
    keys = [f"kafka.{k}" for k in TOPIC_KEYS if getattr(config.kafka, k) == topic]
    key = keys[0] if keys else "--topic"
    return NeardupError(
        f"topic {topic!r} ({key}) does not exist at {config.kafka.bootstrap_servers} and the "
        f"broker refused to create it ({type(error).__name__})\n"
        f"create it (kafka-topics.sh --create --topic {topic}), grant neardup Create on it, "
        f"or set {key} to an existing topic",
        ExitCode.TOPIC_MISSING,
    )
