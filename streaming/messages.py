"""Image-reference messages: parse and validate the Kafka value against
schemas/image_ref.schema.json, within the limits of config.sources.

Every refusal is a Rejected with its own reason, checked cheapest first: the size before parsing,
then UTF-8, JSON, nesting, the id's length, the schema, a uri no parser takes, and the size of
`meta`, which every alert of the image carries.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import jsonschema

from streaming.config import SourcesConfig
from streaming.errors import Reason, Rejected
from streaming.schemas import json_schema, validator

# Levels of nesting a message may have. Only `meta` is free to nest; alerts and Spark carry it, so
# it stays far from Python's recursion limit (json raises RecursionError near 1000 levels).
MAX_DEPTH = 32


@dataclass(frozen=True)
class ImageRef:
    id: str
    uri: str | None
    content: str | None
    bank: str | None
    meta: dict[str, Any] | None


@dataclass(frozen=True)
class MessageLimits:
    max_message_bytes: int
    max_meta_bytes: int

    @classmethod
    def from_config(cls, config: SourcesConfig) -> MessageLimits:
        return cls(config.max_message_bytes, config.max_meta_bytes)


def parse_image_ref(value: bytes | None, limits: MessageLimits) -> ImageRef:
    """The reference a message carries, or Rejected with the first reason it fails."""
    document = _parse(value, limits)
    image_id = document.get("id") if isinstance(document, dict) else None
    longest = json_schema("image_ref")["properties"]["id"]["maxLength"]
    if isinstance(image_id, str) and len(image_id) > longest:
        raise Rejected(
            Reason.ID_TOO_LONG, f"id has {len(image_id)} characters, over the {longest} allowed"
        )
    error = next(
        iter(sorted(validator("image_ref").iter_errors(document), key=lambda e: list(e.path))), None
    )
    if error is not None:
        raise Rejected(
            Reason.SCHEMA_VIOLATION,
            _describe(error),
            image_id if isinstance(image_id, str) else None,
        )
    assert isinstance(image_id, str)  # the schema requires a string id
    if (uri := document.get("uri")) is not None:
        _check_uri(uri, image_id)
    meta = document.get("meta")
    check_meta_size(meta, limits.max_meta_bytes, image_id)
    return ImageRef(
        id=image_id,
        uri=document.get("uri"),
        content=document.get("content"),
        bank=document.get("bank"),
        meta=meta,
    )


def check_meta_size(meta: object, max_meta_bytes: int, image_id: str | None = None) -> None:
    """Refuse a `meta` over sources.max_meta_bytes as JSON: every alert of the image carries it."""
    if meta is not None and (size := len(json.dumps(meta).encode())) > max_meta_bytes:
        raise Rejected(
            Reason.META_TOO_LARGE,
            f"meta has {size} bytes as JSON, over sources.max_meta_bytes = {max_meta_bytes}",
            image_id,
        )


def _parse(value: bytes | None, limits: MessageLimits) -> Any:
    """The JSON document of a message value, of bounded size and depth."""
    if value is None:
        raise Rejected(Reason.MALFORMED_JSON, "message has no value")
    if len(value) > limits.max_message_bytes:
        raise Rejected(
            Reason.MESSAGE_TOO_LARGE,
            f"message value has {len(value)} bytes, over sources.max_message_bytes = "
            f"{limits.max_message_bytes}",
        )
    try:
        text = bytes(value).decode("utf-8")
    except UnicodeDecodeError as e:
        raise Rejected(Reason.NOT_UTF8, f"message value is not UTF-8: {e}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as e:
        raise Rejected(Reason.MALFORMED_JSON, f"message value is not JSON: {e}") from None
    except RecursionError:
        raise Rejected(
            Reason.TOO_DEEPLY_NESTED, f"message value nests over {MAX_DEPTH} levels"
        ) from None
    if (depth := _depth(document)) > MAX_DEPTH:
        raise Rejected(
            Reason.TOO_DEEPLY_NESTED, f"message value nests {depth} levels, over {MAX_DEPTH}"
        )
    return document


def _check_uri(uri: str, image_id: str) -> None:
    """Refuse what would make the URL parser or the file system raise instead of refusing."""
    try:
        urlsplit(uri)
    except ValueError as e:
        raise Rejected(Reason.BAD_URI, f"uri cannot be parsed: {e}", image_id) from None
    if "\x00" in unquote(uri):
        raise Rejected(Reason.BAD_URI, "uri holds a NUL character", image_id)


def _depth(document: Any) -> int:
    """Levels of arrays and objects, counted without recursion."""
    deepest = 0
    pending = [(document, 1)]
    while pending:
        node, level = pending.pop()
        if isinstance(node, dict):
            node = list(node.values())
        if isinstance(node, list):
            deepest = max(deepest, level)
            pending.extend((child, level + 1) for child in node)
    return deepest


def _describe(error: jsonschema.ValidationError) -> str:
    where = "/".join(str(p) for p in error.path) or "message"
    if error.validator == "oneOf":
        # The schema's oneOf says which fields are alternatives; name them rather than dump the
        # document.
        branches: list[dict[str, Any]] = error.validator_value  # type: ignore[assignment]
        choices = [" ".join(branch["required"]) for branch in branches]
        return f"{where}: needs exactly one of {', '.join(choices)}"
    return f"{where}: {error.message}"
