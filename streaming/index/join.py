"""The join lookup (index.lookup = "join"): Spark's equi-join of the probes with the bands table
(match.match_index). No driver memory, but every lookup reads the whole bands table. Only this
lookup needs the bands table, so a stream that looks up in memory does not write it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from deltalake import DeltaTable

from streaming.index.followed import committed_at
from streaming.index.lookup import Pairs
from streaming.index.match import match_index
from streaming.index.table import HashIndex


class JoinLookup:
    writes_bands = True

    def __init__(self, index: HashIndex) -> None:
        self.index = index
        # once per query: after a run with index.lookup = memory, some have none
        index.complete_bands()
        # the log, followed before each Spark read: that read sees this version or a later one
        self.log = DeltaTable(index.images_path, storage_options=index.storage_options)
        self._looked_up = False

    def near(self, ids: Sequence[str], hashes: Sequence[Sequence[int]], threshold: int) -> Pairs:
        if not ids:
            return {}
        self.log.update_incremental()
        self._looked_up = True
        queries = self.index.spark.createDataFrame(
            list(zip(ids, hashes, strict=True)), "id STRING, hash ARRAY<BIGINT>"
        )
        found = (
            match_index(queries, self.index, threshold)
            .select("query_id", "match_id", "distance")
            .collect()
        )
        return {(row["query_id"], row["match_id"]): row["distance"] for row in found}

    def committed_at(self) -> datetime | None:
        return committed_at(self.log) if self._looked_up else None

    def rows(self, ids: Collection[str], columns: Sequence[str]) -> dict[str, dict]:
        """The `images` rows of these ids, by a scan of the table filtered on them."""
        return {row["id"]: row.asDict() for row in self.index.lookup(ids, columns)}
