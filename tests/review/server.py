"""What the review tests send the page, and the browser they open it in."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import datetime
from email.message import Message
from pathlib import Path

from streaming import kafka_io
from streaming.config import Config

CHROMIUM = Path("/usr/bin/chromium")
# What the machine notes list for a headless chromium here, as root and without a network.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def fetch(
    url: str,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """(status, headers with lower-case names, body) of one request, redirects not followed."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, _lower(response.headers), response.read()
    except urllib.error.HTTPError as e:
        return e.code, _lower(e.headers), e.read()


def publish_alerts(config: Config, topic: str, alerts: list[dict]) -> None:
    producer = kafka_io.producer(config)
    kafka_io.ensure_topics(config, [topic])
    for alert in alerts:
        producer.send(topic, key=alert["alert_id"], value=alert)
    producer.flush()
    producer.close()


def sample_alert(
    number: int, image_uri: str | None, match_uri: str | None, **changes: object
) -> dict:
    """An alert of schemas/duplicate_alert.schema.json between two made-up images."""
    return {
        "alert_id": f"{number:032x}",
        "image_id": f"image-{number}",
        "match_id": f"match-{number}",
        "bank": None,
        "hash_type": "phash",
        "distance": number % 11,
        "transform": "identity",
        "threshold": 10,
        "distances": {"phash": number % 11, "dhash": None},
        "image_uri": image_uri,
        "match_uri": match_uri,
        "image_source": {
            "topic": "images",
            "partition": 0,
            "offset": 2 * number + 1,
            "timestamp": "2026-11-30T10:00:00.000Z",
        },
        "match_source": {
            "topic": "images",
            "partition": 0,
            "offset": 2 * number,
            "timestamp": "2026-11-30T09:00:00.000Z",
        },
        "image_meta": None,
        "match_meta": None,
        "detected_at": f"2026-11-30T10:{number % 60:02d}:00.000Z",
        **changes,
    }


def with_datetimes(alert: dict) -> dict:
    """The alert as the stream holds it before JSON: timestamps as datetimes."""

    def parsed(text: str) -> datetime:
        return datetime.fromisoformat(text)

    sides = {
        side: None
        if alert[side] is None
        else {**alert[side], "timestamp": parsed(alert[side]["timestamp"])}
        for side in ("image_source", "match_source")
    }
    return {**alert, **sides, "detected_at": parsed(alert["detected_at"])}


def as_json(payload: dict) -> bytes:
    return json.dumps(payload).encode()


def _lower(headers: Message) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}
