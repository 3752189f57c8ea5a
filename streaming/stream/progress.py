"""One log line per micro-batch: input rows, rate, duration, alerts sent and held back (flood
control), images an allow bank silenced, dead letters, images registered, the index's size and
freshness (index_lag_s: the age of the newest commit the lookup read), and the seconds of each
step of the job's foreachBatch."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pyspark.sql import SparkSession
from pyspark.sql.streaming import StreamingQueryListener
from pyspark.sql.streaming.listener import (
    QueryIdleEvent,
    QueryProgressEvent,
    QueryStartedEvent,
    QueryTerminatedEvent,
)

log = logging.getLogger("neardup.progress")


@dataclass(frozen=True)
class BatchStats:
    """What the job's foreachBatch learnt about a micro-batch, which Spark's own progress does not
    know."""

    alerts: int  # sent
    held: int  # held back by flood control
    allowed: int  # images an allow bank silenced
    dead_letters: int
    registered: int  # images added to the index
    index_size: int
    # the age of the newest index commit this batch's lookup read (None: it read none)
    index_lag_s: float | None
    # per step of the micro-batch (hash, match, publish, register), in order
    seconds: Mapping[str, float]


class ProgressListener(StreamingQueryListener):
    """Joins Spark's progress events (on the driver) with the job's BatchStats of the same query and
    batch."""

    def __init__(self) -> None:
        self.queries: dict[str, Mapping[int, BatchStats]] = {}
        self.on_terminated: dict[str, Callable[[], None]] = {}

    def track(
        self,
        query_id: str,
        stats: Mapping[int, BatchStats],
        on_terminated: Callable[[], None] | None = None,
    ) -> None:
        """Join the query's progress with its stats; call on_terminated once it stopped."""
        self.queries[query_id] = stats
        if on_terminated is not None:
            self.on_terminated[query_id] = on_terminated

    def onQueryStarted(self, event: QueryStartedEvent) -> None:
        log.info("query %s started (run %s)", event.name or event.id, event.runId)

    def onQueryProgress(self, event: QueryProgressEvent) -> None:
        progress = event.progress
        stats = self.queries.get(str(progress.id), {}).get(progress.batchId)
        if progress.numInputRows == 0 and stats is None:
            return
        line = (
            f"batch {progress.batchId}: {progress.numInputRows} images in "
            f"{progress.batchDuration / 1000:.1f} s "
            f"({progress.processedRowsPerSecond:.1f}/s)"
        )
        if stats is not None:
            steps = ", ".join(f"{step} {seconds:.1f} s" for step, seconds in stats.seconds.items())
            line += (
                f", {stats.alerts} alerts, {stats.held} held back, {stats.allowed} allowed, "
                f"{stats.dead_letters} dead letters, "
                f"{stats.registered} registered, index {stats.index_size} images"
            )
            if stats.index_lag_s is not None:
                line += f", index_lag_s {stats.index_lag_s:.1f}"
            line += f" ({steps})"
        log.info(line)

    def onQueryIdle(self, event: QueryIdleEvent) -> None:
        pass

    def onQueryTerminated(self, event: QueryTerminatedEvent) -> None:
        self.queries.pop(str(event.id), None)
        self.on_terminated.pop(str(event.id), lambda: None)()
        if event.exception:
            # The failure also reaches whoever awaits the query (the CLI reports it in one
            # message); its whole text, with the Java and Python stacks, is for DEBUG.
            log.error("query %s failed", event.id)
            log.debug("query %s failed: %s", event.id, event.exception)
        else:
            log.info("query %s stopped", event.id)


_listener: ProgressListener | None = None


def progress_listener(spark: SparkSession) -> ProgressListener:
    """The process's listener, added to the session once (a process has one session)."""
    global _listener
    if _listener is None:
        _listener = ProgressListener()
        spark.streams.addListener(_listener)
    return _listener
