"""Image-reference messages: parse and validate the Kafka value against
schemas/image_ref.schema.json."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import jsonschema

from streaming.errors import Reason, Rejected
from streaming.schemas import validator


@dataclass(frozen=True)
class ImageRef:
    id: str
    uri: str | None
    content: str | None
    bank: str | None
    meta: dict[str, Any] | None


def parse_image_ref(value: bytes | None) -> ImageRef:
    """The reference a message carries, or Rejected(malformed_json | schema_violation)."""
    try:
        document = json.loads(value or b"")
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise Rejected(Reason.MALFORMED_JSON, f"message value is not JSON: {e}") from None
    image_id = document.get("id") if isinstance(document, dict) else None
    error = next(
        iter(sorted(validator("image_ref").iter_errors(document), key=lambda e: list(e.path))), None
    )
    if error is not None:
        raise Rejected(
            Reason.SCHEMA_VIOLATION,
            _describe(error),
            image_id if isinstance(image_id, str) else None,
        )
    return ImageRef(
        id=document["id"],
        uri=document.get("uri"),
        content=document.get("content"),
        bank=document.get("bank"),
        meta=document.get("meta"),
    )


def _describe(error: jsonschema.ValidationError) -> str:
    where = "/".join(str(p) for p in error.path) or "message"
    if error.validator == "oneOf":
        # The schema's oneOf says which fields are alternatives; name them rather than dump the
        # document.
        branches: list[dict[str, Any]] = error.validator_value  # type: ignore[assignment]
        choices = [" ".join(branch["required"]) for branch in branches]
        return f"{where}: needs exactly one of {', '.join(choices)}"
    return f"{where}: {error.message}"
