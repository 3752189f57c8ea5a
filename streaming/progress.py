"""One log line per micro-batch: input rows, rate, duration, alerts, dead letters, index size."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from pyspark.sql.streaming import StreamingQueryListener

log = logging.getLogger("neardup.progress")


@dataclass(frozen=True)
class BatchStats:
    """What the job's foreachBatch learnt about a micro-batch, which Spark's own progress does not know."""

    alerts: int
    dead_letters: int
    index_size: int


class ProgressListener(StreamingQueryListener):
    """Joins Spark's progress events (on the driver) with the job's BatchStats of the same batch id."""

    def __init__(self, stats: Mapping[int, BatchStats]) -> None:
        self.stats = stats

    def onQueryStarted(self, event) -> None:
        log.info("query %s started (run %s)", event.name or event.id, event.runId)

    def onQueryProgress(self, event) -> None:
        progress = event.progress
        if progress.numInputRows == 0 and progress.batchId not in self.stats:
            return
        line = (
            f"batch {progress.batchId}: {progress.numInputRows} images in {progress.batchDuration / 1000:.1f} s "
            f"({progress.processedRowsPerSecond:.1f}/s)"
        )
        stats = self.stats.get(progress.batchId)
        if stats is not None:
            line += f", {stats.alerts} alerts, {stats.dead_letters} dead letters, index {stats.index_size} images"
        log.info(line)

    def onQueryIdle(self, event) -> None:
        pass

    def onQueryTerminated(self, event) -> None:
        if event.exception:
            log.error("query %s failed: %s", event.id, event.exception)
        else:
            log.info("query %s stopped", event.id)
