"""The foreachBatch function of the streaming job: it moves a micro-batch's data in and out, and
leaves every decision to decision.py.

A micro-batch is small (maxOffsetsPerTrigger bounds it), so once hashed its rows are collected to
the driver. Each Spark action costs a fixed fraction of a second on any cluster, so the collect is
the batch's one Spark job (with the join lookup's when index.lookup = join): the two Delta commits
(images, matches, each skipped when there is nothing to write) are delta-rs commits from the
driver (index/table.py), and alerts and dead letters go to Kafka from the driver's producer
(sinks.py). Steps, in the order that makes a
batch run again after a crash give the same result and write nothing twice (docs/streaming.md):
1. collect: the batch DataFrame is read once, so hashing runs once;
2. look up the batch's hashes and ids in the index, decide;
3. publish the alerts (those flood control lets through) and dead letters (at-least-once,
   deterministic keys);
4. register the new images in Delta, idempotently per (app id, batch id);
5. append the alerts, sent or held back, to the `matches` log, idempotently per (app id, batch
   id) likewise.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from streaming.config import Config
from streaming.hashing.types import EXTRA_COLUMNS
from streaming.imageframe import crops_column, hash_column, stored_crops_column
from streaming.index.banks import BankTable
from streaming.index.crops import CROPS_COLUMN, stored_crops
from streaming.index.decisions import ReviewedPairs
from streaming.index.followed import FollowedTable, quoted, read
from streaming.index.lookup import open_lookup
from streaming.index.table import HashIndex
from streaming.stream.decision import (
    POSITION,
    Batch,
    candidates,
    decide,
    indexed_columns,
    wanted_ids,
)
from streaming.stream.failpoints import crash_point
from streaming.stream.failures import storage_errors
from streaming.stream.flood import LOGGED_COLUMNS, FloodGate, Throttled
from streaming.stream.policies import Policies
from streaming.stream.progress import BatchStats
from streaming.stream.records import Row, as_json, match_row
from streaming.stream.sinks import KafkaSink

if TYPE_CHECKING:
    from streaming.stream.job import StreamOptions


class MicroBatch:
    """One call per micro-batch, on the driver."""

    def __init__(
        self,
        config: Config,
        options: StreamOptions,
        index: HashIndex,
        alerts_topic: str,
        app_id: str,
    ) -> None:
        self.config = config
        self.dry_run = options.dry_run
        self.index = index
        self.lookup = open_lookup(index, config.index)
        self.alerts_topic = alerts_topic
        self.kafka = KafkaSink(config)
        self.register_mode = "none" if options.dry_run else options.register  # all | unique | none
        self.app_id = app_id
        self.stats: dict[int, BatchStats] = {}
        self.index_size: int | None = None
        # what reviewers decided (neardup review), read again when the table's version moves
        self.reviewed = ReviewedPairs(f"{config.index.path.rstrip('/')}/decisions")
        self.banked: Mapping[str, str] = {}  # the bank memberships already applied
        # the banks' policies (neardup bank), read again when the table's version moves
        self.banks = BankTable(config.index.path, index.storage_options)
        limit = config.alerts.flood_limit
        self.flood = None if limit is None else FloodGate(limit, self.logged_matches)

    def __call__(self, frame: DataFrame, batch_id: int) -> None:
        hashing = self.config.hashing
        watch = Stopwatch()
        batch = Batch.of(row.asDict() for row in frame.collect())
        watch.lap("hash")
        reviewed = self.reviewed.current()
        if reviewed.bank_members != self.banked and not self.dry_run:
            self.index.join_banks(reviewed.bank_members)
            self.banked = reviewed.bank_members
        found = candidates(batch, hashing, self.lookup.near)
        indexed = self.lookup.rows(wanted_ids(batch, found), indexed_columns(hashing))
        seen = self.lookup.committed_at()
        decision = decide(
            batch,
            found,
            indexed,
            hashing,
            self.register_mode,
            datetime.now(UTC),
            suppressed=reviewed.suppressed,
            policies=Policies(hashing.threshold, self.banks.policies()),
        )
        alerts = (
            Throttled(decision.alerts, [], {})
            if self.flood is None
            else self.flood(decision.alerts, batch_id)
        )
        watch.lap("match")
        self.kafka.send(
            [(self.alerts_topic, a["alert_id"], as_json(a)) for a in alerts.sent]
            + [
                (self.config.kafka.dlq_topic, d["dead_letter_id"], as_json(d))
                for d in decision.dead_letters
            ],
        )
        watch.lap("publish")
        crash_point("after_alerts", batch_id)
        self.register(decision.registrations, batch_id)
        crash_point("after_register", batch_id)
        self.log_matches(alerts.sent + alerts.held, batch_id)
        # The Delta commits are done, the checkpoint's is not.
        crash_point("after_matches", batch_id)
        self.index_size = (
            self.index.size()
            if self.index_size is None
            else self.index_size + len(decision.registrations)
        )
        watch.lap("register")
        self.stats[batch_id] = BatchStats(
            alerts=len(alerts.sent),
            held=len(alerts.held),
            allowed=len(decision.allowed),
            dead_letters=len(decision.dead_letters),
            registered=len(decision.registrations),
            index_size=self.index_size,
            index_lag_s=None if seen is None else (datetime.now(UTC) - seen).total_seconds(),
            seconds=watch.laps,
        )

    def close(self) -> None:
        """Once the query stopped."""
        self.kafka.close()

    def index_storage(self) -> AbstractContextManager[None]:
        """A full disk or a refused write while committing to the index, named as index.path's
        (delta-rs's errors do not always quote the path)."""
        return storage_errors({"index.path": self.config.index.path})

    def register(self, rows: list[Row], batch_id: int) -> None:
        """Append the rows to the index as version `batch_id` of this query's writer."""
        now = datetime.now(UTC)
        with self.index_storage():
            self.index.append_rows(
                [index_row(row, self.config, self.app_id, batch_id, now) for row in rows],
                self.app_id,
                batch_id,
                with_bands=self.lookup.writes_bands,
                checked=True,  # by the lookup, against our own rows
            )

    def logged_matches(self, before_batch: int) -> list[dict]:
        """This writer's `matches` rows of the batches before `before_batch` (flood control's
        history: stream/flood.py)."""
        table = FollowedTable(self.index.matches_path, self.index.storage_options).latest()
        if table is None:
            return []
        mine = f"written_by = '{quoted(self.app_id)}' AND batch_id < {before_batch}"
        return read(table, [*LOGGED_COLUMNS, "batch_id"], mine).to_pylist()

    def log_matches(self, alerts: list[dict], batch_id: int) -> None:
        """Append the alerts to the `matches` table as version `batch_id` of this query's writer
        (the table is created by its first rows)."""
        if self.dry_run:
            return
        rows = [match_row(alert, self.app_id, batch_id) for alert in alerts]
        with self.index_storage():
            self.index.log_matches(rows, self.app_id, batch_id)


class Stopwatch:
    """Seconds spent in each named step, for the progress line."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, step: str) -> None:
        now = time.perf_counter()
        self.laps[step] = now - self._last
        self._last = now


def ingested_columns(config: Config) -> tuple[str, ...]:
    """The `images` columns an ingested row carries."""
    return (
        "id",
        "bank",
        "uri",
        "meta",
        *(hash_column(t) for t in config.hashing.types),
        *EXTRA_COLUMNS,
        *("source_topic", *POSITION),
    )


def index_columns(config: Config) -> list[Column | str]:
    """The `images` columns of an ingested row, in Spark."""
    return [
        *ingested_columns(config),
        stored_crops_column(config.hashing).alias(CROPS_COLUMN),
        F.lit(config.hashing.hash_size).alias("hash_size"),
    ]


def index_row(
    row: Row, config: Config, app_id: str, batch_id: int, now: datetime
) -> dict[str, Any]:
    """The `images` row of an ingested row, registered by this writer's micro-batch."""
    hashing = config.hashing
    return {
        **{name: row.get(name) for name in ingested_columns(config)},
        CROPS_COLUMN: stored_crops(row.get(crops_column(hashing.primary)), hashing.crops),
        "hash_size": hashing.hash_size,
        "registered_by": app_id,
        "batch_id": batch_id,
        "registered_at": now,
    }
