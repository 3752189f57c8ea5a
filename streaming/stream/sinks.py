"""Where a micro-batch's results leave the driver for Kafka: one long-lived producer per query, so
a batch pays for its messages and not for a Spark job (about 0.2 s whatever it sends).

A send returns once the broker holds every message (acks=all, idempotent: a retry inside the
producer writes a message once); any failure raises, which fails the micro-batch as Spark's Kafka
sink did, and the batch run again sends the same keys again (at-least-once, docs/streaming.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from streaming import kafka_io
from streaming.config import Config

if TYPE_CHECKING:
    from kafka import KafkaProducer

Message = tuple[str, str, str]  # (topic, key, value)


class KafkaSink:
    """Messages of any topics, through one producer opened at the first send."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._producer: KafkaProducer | None = None

    def send(self, messages: Sequence[Message]) -> None:
        """Write the messages and wait until the broker acknowledged each; raise the first
        failure."""
        if not messages:
            return
        if self._producer is None:
            self._producer = kafka_io.text_producer(self.config)
        sent = [self._producer.send(topic, key=key, value=value) for topic, key, value in messages]
        self._producer.flush()
        for future in sent:
            future.get()  # raises the send's error

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close()
            self._producer = None
