"""The `decisions` table (schemas/delta/decisions.sql) beside the index: what reviewers decided on
pairs, one Delta commit per decision, and the pairs the stream must stop alerting.

It is read and written with delta-rs, without Spark: the review page commits a decision in a few
milliseconds without a JVM, and the stream follows the table's version at each micro-batch for the
cost of reading the commits added since the last (docs/review.md). The stream, the one writer of
`images`, applies the bank memberships reviewers chose (delta-rs would write its strings as Arrow
string_view, which the resident lookup's pyarrow kernels refuse).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
from deltalake import write_deltalake

from streaming.errors import ConfigError
from streaming.index.followed import FollowedTable
from streaming.schemas import arrow_schema

VERDICTS = ("duplicate", "not_duplicate")
Pair = tuple[str, str]  # two image ids, the smaller first: a decision holds either way round


def pair_of(image_id: str, match_id: str) -> Pair:
    return (image_id, match_id) if image_id <= match_id else (match_id, image_id)


def standing(rows: Iterable[Mapping[str, Any]]) -> dict[Pair, Mapping[str, Any]]:
    """Each pair's standing decision: its latest one (by decided_at) that no undo took back."""
    rows = list(rows)
    undone = {row["undoes"] for row in rows if row["verdict"] == "undo"}
    states: dict[Pair, Mapping[str, Any]] = {}
    for row in sorted(rows, key=lambda row: (row["decided_at"], row["decision_id"])):
        if row["verdict"] != "undo" and row["decision_id"] not in undone:
            states[pair_of(row["image_id"], row["match_id"])] = row
    return states


def suppressed(states: Mapping[Pair, Mapping[str, Any]]) -> frozenset[Pair]:
    """The pairs judged not duplicates: the stream raises no alert for them."""
    return frozenset(pair for pair, row in states.items() if row["verdict"] == "not_duplicate")


def bank_members(states: Mapping[Pair, Mapping[str, Any]]) -> dict[str, str]:
    """Matched image id -> the bank a reviewer put it in, of the pairs judged duplicates."""
    return {
        row["match_id"]: row["bank"]
        for row in states.values()
        if row["verdict"] == "duplicate" and row["bank"]
    }


@dataclass(frozen=True)
class Decision:
    """One row of the table, as the review page makes it."""

    image_id: str
    match_id: str
    verdict: str  # duplicate | not_duplicate | undo
    reviewer: str
    alert_id: str | None = None
    bank: str | None = None
    undoes: str | None = None

    def row(self) -> dict[str, Any]:
        return {
            "decision_id": secrets.token_hex(16),
            **self.__dict__,
            "decided_at": datetime.now(UTC),
        }


def is_local(path: str) -> bool:
    """Whether the table is on this machine's file system: the only place delta-rs is pointed at
    (on object storage it would go looking for credentials of its own, Spark's are not its)."""
    return urlsplit(path).scheme in ("", "file")


class DecisionLog(FollowedTable):
    """The table at `path` (index.path/decisions), on a local file system; created by the first
    decision's writer."""

    def __init__(self, path: str) -> None:
        if not is_local(path):
            raise ConfigError(
                f"{path}: the decisions table needs index.path on a local file system for now"
            )
        super().__init__(path)

    def append(self, decision: Decision) -> dict[str, Any]:
        """Commit one decision (one Delta commit; the table is created if missing); returns its
        row."""
        row = decision.row()
        batch = pa.Table.from_pylist([row], schema=arrow_schema("decisions"))
        write_deltalake(self.path, batch, mode="append")
        return row


@dataclass(frozen=True)
class Reviewed:
    """What the stream takes from the decisions."""

    suppressed: frozenset[Pair] = frozenset()  # pairs that raise no alert
    bank_members: Mapping[str, str] = field(default_factory=dict)  # image id -> bank to join


class ReviewedPairs:
    """The stream's view of the table, read again only when its version moved."""

    def __init__(self, path: str) -> None:
        # An index on object storage has no review page yet (DecisionLog): nothing to read.
        self.log = DecisionLog(path) if is_local(path) else None
        self.seen_version: int | None = None
        self.reviewed = Reviewed()

    def current(self) -> Reviewed:
        if self.log is None:
            return self.reviewed
        version = self.log.version()
        if version != self.seen_version:
            states = standing(self.log.rows())
            self.reviewed = Reviewed(suppressed(states), bank_members(states))
            self.seen_version = version
        return self.reviewed
