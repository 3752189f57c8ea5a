"""Streams for the integration tests: small distinct images with planted near-duplicate groups,
produced with explicit, increasing Kafka timestamps so that the order rule gives one answer whatever
the partitioning."""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from streaming import kafka_io
from streaming.config import Config
from streaming.hashing import HashSpec, hash_images, hex_to_words


@dataclass(frozen=True)
class Message:
    key: str | bytes | None  # bytes: sent as they are (not UTF-8, say)
    value: bytes


def distinct_images(folder: Path, count: int, seed: int, size: int = 96) -> list[Path]:
    """Smooth random colour fields: their perceptual hashes are far apart, like unrelated photos."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        field = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
        image = cv2.resize(field, (size, size), interpolation=cv2.INTER_CUBIC)
        path = folder / f"img-{seed}-{i:04d}.jpg"
        cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 90])
        paths.append(path)
    return paths


def near_duplicate(original: Path, edit: int) -> Path:
    """A re-encoded, slightly changed copy of an image (edit picks the change)."""
    image = cv2.imread(str(original))
    changes = [
        lambda im: cv2.convertScaleAbs(im, alpha=1.0, beta=20),
        lambda im: cv2.resize(im, None, fx=0.75, fy=0.75, interpolation=cv2.INTER_AREA),
        lambda im: cv2.GaussianBlur(im, (3, 3), 0),
    ]
    path = original.with_name(f"{original.stem}-dup{edit}.jpg")
    cv2.imwrite(str(path), changes[edit % len(changes)](image), [cv2.IMWRITE_JPEG_QUALITY, 70])
    return path


def planted_stream(folder: Path, count: int, seed: int, group_every: int = 10) -> list[Path]:
    """`count` images in stream order: distinct images, and after every `group_every`-th one, 1 or 2
    of its near-duplicates a few positions later."""
    originals = distinct_images(folder, count, seed)
    order: list[Path] = []
    pending: list[Path] = []
    for i, original in enumerate(originals):
        order.append(original)
        if i % group_every == 0:
            pending += [near_duplicate(original, e) for e in range(1 + i % 2)]
        if i % group_every == min(3, group_every - 1):
            order += pending
            pending = []
    order += pending
    return order[:count]


def references(paths: list[Path]) -> list[Message]:
    return [Message(str(p), json.dumps({"id": str(p), "uri": str(p)}).encode()) for p in paths]


def kafka_records(uris: list[str]) -> pd.DataFrame:
    """References to these URIs as the stream's mapInPandas receives Kafka records (one batch)."""
    return pd.DataFrame(
        {
            "key": [uri.encode() for uri in uris],
            "value": [json.dumps({"id": uri, "uri": uri}).encode() for uri in uris],
            "topic": "images",
            "partition": 0,
            "offset": range(len(uris)),
            "timestamp": pd.Timestamp("2026-11-30"),
        }
    )


def produce(
    config: Config,
    topic: str,
    messages: list[Message],
    partitions: int = 1,
    timestamps_ms: list[int] | None = None,
) -> None:
    """Send raw messages with strictly increasing timestamps (or these), round-robin over
    partitions."""
    from kafka import KafkaProducer

    kafka_io.ensure_topics(config.replace(**{"kafka.partitions": partitions}), [topic])
    producer = KafkaProducer(acks="all", **kafka_io.client_options(config))
    start = int(time.time() * 1000) - 10 * len(messages)
    for n, message in enumerate(messages):
        producer.send(
            topic,
            key=message.key.encode() if isinstance(message.key, str) else message.key,
            value=message.value,
            partition=n % partitions,
            timestamp_ms=start + n if timestamps_ms is None else timestamps_ms[n],
        )
    producer.flush()
    producer.close()


def expected_alerts(paths: list[Path], config: Config) -> set[tuple[str, str]]:
    """(image id, earlier image id) for every pair within the threshold, by brute force over the
    hashes."""
    hashing = config.hashing
    spec = HashSpec(types=(hashing.primary,), hash_size=hashing.hash_size)
    results = hash_images([p.read_bytes() for p in paths], spec)
    words = [hex_to_words(r.hashes[hashing.primary]) for r in results]
    found = set()
    for (i, a), (j, b) in itertools.combinations(enumerate(words), 2):
        distance = sum(bin((x ^ y) & (2**64 - 1)).count("1") for x, y in zip(a, b, strict=True))
        if distance <= hashing.threshold and paths[i] != paths[j]:
            found.add((str(paths[j]), str(paths[i])))  # j came later
    return found
