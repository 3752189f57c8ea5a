"""The manifest of `neardup index add --manifest FILE.jsonl`: one JSON object a line, `{"id",
"uri", "meta"}`, read in chunks so that a bulk load of millions never holds the file in memory.

A bad line is refused with its line number and a dead-letter reason (ManifestLine.refusal) and
skipped; the load goes on, and the command reports and counts every refusal (docs/banks.md).
Blank lines are not entries.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import IO, Any

from streaming.errors import Reason, Rejected
from streaming.messages import check_meta_size
from streaming.storage import scheme

FIELDS = frozenset({"id", "uri", "meta"})


@dataclass(frozen=True)
class ManifestEntry:
    id: str
    uri: str
    meta: dict[str, Any] | None


@dataclass(frozen=True)
class ManifestLine:
    """A numbered line of the manifest (from 1): its entry, or why it was refused."""

    number: int
    entry: ManifestEntry | None
    refusal: Rejected | None = None


def parse_line(
    text: str, number: int, max_meta_bytes: int, default_meta: Mapping[str, Any] | None = None
) -> ManifestLine:
    """One line's entry, or its refusal. `uri` is a path (made absolute) or an object URI; `id`
    defaults as `index add PATH` derives it (the absolute path, or the URI); `meta` is laid over
    `default_meta` (`--meta`) and may be no larger than sources.max_meta_bytes as JSON."""

    def refused(why: str, reason: Reason = Reason.SCHEMA_VIOLATION) -> ManifestLine:
        return ManifestLine(number, None, Rejected(reason, why))

    try:
        document = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as e:
        return refused(f"not JSON: {e}", Reason.MALFORMED_JSON)
    if not isinstance(document, dict):
        return refused(f"a line is a JSON object, not {type(document).__name__}")
    if unknown := sorted(document.keys() - FIELDS):
        return refused(f"unknown field {unknown[0]!r} (a line has id, uri and meta)")
    uri, image_id, meta = document.get("uri"), document.get("id"), document.get("meta")
    if not isinstance(uri, str) or not uri:
        return refused("uri is missing or not a string")
    if image_id is not None and (not isinstance(image_id, str) or not image_id):
        return refused("id is not a non-empty string")
    if meta is not None and not isinstance(meta, dict):
        return refused(f"meta is a JSON object, not {type(meta).__name__}")
    merged = {**(default_meta or {}), **(meta or {})} or None
    try:
        check_meta_size(merged, max_meta_bytes)
    except Rejected as e:
        return ManifestLine(number, None, e)
    located = located_uri(uri)
    return ManifestLine(number, ManifestEntry(image_id or located, located, merged))


def located_uri(uri: str) -> str:
    """A URI (object store, http) as it is; a path or file: URI as the absolute path that
    `index add PATH` registers."""
    kind = scheme(uri)
    if kind not in ("", "file"):
        return uri
    return str(Path(uri.removeprefix("file://") if kind == "file" else uri).absolute())


def read_chunks(
    lines: IO[bytes],
    size: int,
    max_meta_bytes: int,
    default_meta: Mapping[str, Any] | None = None,
) -> Iterator[list[ManifestLine]]:
    """The manifest's non-blank lines (of a file opened in binary), parsed, `size` lines of the
    file at a time; a line that is not UTF-8 is refused as such."""
    numbered = enumerate(lines, start=1)
    while chunk := list(islice(numbered, size)):
        yield [
            parse_line(text, number, max_meta_bytes, default_meta)
            if isinstance(text := _decoded(raw), str)
            else ManifestLine(number, None, text)
            for number, raw in chunk
            if raw.strip()
        ]


def _decoded(line: bytes) -> str | Rejected:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError as e:
        return Rejected(Reason.NOT_UTF8, f"not UTF-8: {e}")
