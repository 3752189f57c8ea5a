"""The records the job publishes, as dicts of their schemas and as Kafka messages: duplicate alerts
(schemas/duplicate_alert.schema.json) and dead letters (schemas/dead_letter.schema.json); and an
alert, sent or held back, as a row of the `matches` log.

Both are keyed deterministically, so that a consumer drops the repeats that at-least-once delivery
allows after a crash: an alert by (image, match, hash type), a dead letter by the position of the
message it stands for (topic, partition, offset).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from streaming.config import HashingConfig
from streaming.index.variants import Near

Row = Mapping[str, Any]  # an ingested row (stream/ingest.py) or an indexed one, by column

# A dead letter carries at most this many characters of the original key and value, and of the
# error message: it must fit in a Kafka message whatever it stands for (1 MB by default; a
# character is at most 6 bytes once escaped in JSON). The source position finds the original.
ORIGINAL_CHARS = 65_536
MESSAGE_CHARS = 2_000


def deterministic_id(*parts: object) -> str:
    """The first 32 hex digits of the sha256 of the parts: the same parts, the same id."""
    return hashlib.sha256("\u0000".join(map(str, parts)).encode()).hexdigest()[:32]


def alert(
    image: Row,
    match: Row,
    near: Near,
    distances: Mapping[str, int | None],
    hashing: HashingConfig,
    detected_at: datetime,
) -> dict[str, Any]:
    """The alert of `image` matching `match` at `near` (the primary hash's distance and the
    dihedral transform that turns the match into the image), with every hash's `distances`."""
    return {
        "alert_id": deterministic_id(image["id"], match["id"], hashing.primary),
        "image_id": image["id"],
        "match_id": match["id"],
        "bank": match["bank"],
        "hash_type": hashing.primary,
        "distance": near.distance,
        "transform": near.transform,
        "threshold": hashing.threshold,
        "distances": dict(distances),
        "image_uri": image["uri"],
        "match_uri": match["uri"],
        "image_source": source(image),
        "match_source": source(match) if match["source_offset"] is not None else None,
        # each side's free object, kept as JSON text in the rows: the incoming message's, and the
        # matched image's (a bank member's from `index add --meta`, or its own message's)
        "image_meta": _object(image.get("meta")),
        "match_meta": _object(match.get("meta")),
        "detected_at": detected_at,
    }


def match_row(alert: Mapping[str, Any], written_by: str, batch_id: int) -> dict[str, Any]:
    """The `matches` row of an alert, sent or held back (schemas/delta/matches.sql)."""
    image, match = alert["image_source"], alert["match_source"] or {}
    return {
        **{k: alert[k] for k in ("alert_id", "image_id", "match_id", "hash_type", "bank")},
        **{k: alert[k] for k in ("distance", "transform", "threshold", "image_uri", "match_uri")},
        "distances": as_json(alert["distances"]),
        **{
            k: None if alert[k] is None else as_json(alert[k]) for k in ("image_meta", "match_meta")
        },
        **{f"image_{k}": image[k] for k in ("topic", "partition", "offset", "timestamp")},
        **{f"match_{k}": match.get(k) for k in ("topic", "partition", "offset", "timestamp")},
        # held back by flood control (stream/flood.py): logged, not published
        "sent": alert.get("sent", True),
        "suppressed": alert.get("suppressed", 0),
        "detected_at": alert["detected_at"],
        "written_by": written_by,
        "batch_id": batch_id,
    }


def dead_letter(row: Row, failed_at: datetime) -> dict[str, Any]:
    """The dead letter of a row that failed, keyed by the position of its message."""
    key, value = row["key"], row["value"]
    truncated = any(text is not None and len(text) > ORIGINAL_CHARS for text in (key, value))
    return {
        "dead_letter_id": deterministic_id(
            row["source_topic"], row["source_partition"], row["source_offset"]
        ),
        "reason": row["error_code"],
        "message": _clip(row["error_message"] or "", MESSAGE_CHARS),
        "id": row["id"],
        "original": {
            "key": None if key is None else _clip(key, ORIGINAL_CHARS),
            "value": None if value is None else _clip(value, ORIGINAL_CHARS),
            "truncated": truncated,
        },
        "source": source(row),
        "failed_at": failed_at,
    }


def source(row: Row) -> dict[str, Any]:
    """The Kafka position of a row (schemas/kafka_position.schema.json)."""
    return {
        "topic": row["source_topic"],
        "partition": row["source_partition"],
        "offset": row["source_offset"],
        "timestamp": row["source_timestamp"],
    }


def as_json(record: Mapping[str, Any]) -> str:
    """A record as the JSON of its schema; timestamps in RFC 3339 with their offset."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=_timestamp)


def _object(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _timestamp(value: object) -> str:
    if not isinstance(value, datetime):
        raise TypeError(f"{type(value).__name__} is not JSON serializable")
    # Spark collects TIMESTAMP as naive local time: astimezone reads a naive value as local time.
    return value.astimezone(UTC).isoformat()


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit]
