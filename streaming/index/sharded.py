"""The sharded lookup (index.lookup = "sharded"): the primary hashes of `images` held on the
executors in shards (shards.py), the driver holding only the Delta log's file list.

A lookup is one Spark job of one task per shard. Its tasks carry the micro-batch's hashes, not their
probes (some 3,600 per query at the default plan): each shard is brought to the table's latest
version, probes its own sorted bands and sends back the pairs within the threshold. Each task runs
on a small cached partition of its shard's, so Spark's locality keeps a shard on the executor that
built it; when that executor is lost the partition is computed again elsewhere and the shard is
read there from the table, with the same answer.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime

import pyarrow as pa
from deltalake import DeltaTable
from pyspark.sql import functions as F

from streaming.hashing import hash_type
from streaming.imageframe import hash_column
from streaming.index.crops import split_entry
from streaming.index.followed import committed_at
from streaming.index.lookup import Pairs, on_file_system
from streaming.index.pairs import as_words
from streaming.index.shards import ShardAnswer, ShardSpec, fingerprints, search_shard
from streaming.index.table import HashIndex, table_schema


class ShardedLookup:
    writes_bands = False  # the shards read `images`

    def __init__(self, index: HashIndex, shards: int = 0) -> None:
        if not on_file_system(index.images_path):
            raise ValueError(
                f"{index.images_path}: the shards read the table by path (a local or shared file "
                'system); on an object store use index.lookup = "memory" or "join"'
            )
        self.index = index
        context = index.spark.sparkContext
        count = shards or context.defaultParallelism
        self.spec = ShardSpec(
            table=index.images_path,
            column=hash_column(index.primary),
            words=hash_type(index.primary).words(index.hash_size),
            plan=index.plan,
            shards=count,
            crops=index.crops,
        )
        # Computed once and cached where its tasks ran: each later task of a shard prefers that
        # executor, so shards spread over the executors and stay there.
        self.anchors = context.parallelize(range(count), count).cache()
        self.anchors.count()
        self.log = DeltaTable(index.images_path)
        settings = self.log.metadata().configuration
        if (
            settings.get("delta.enableDeletionVectors") == "true"
            or settings.get("delta.columnMapping.mode", "none") != "none"
        ):
            raise ValueError(
                f"{index.images_path} uses deletion vectors or column mapping, which the shards "
                'cannot read: use index.lookup = "join"'
            )
        self.answers: list[ShardAnswer] = []
        self._looked_up = False  # whether a lookup read the log yet
        self._files: dict[str, str] = {}  # id -> file holding its row, of the last lookup's pairs
        self._unconfirmed: set[str] = set()  # ids whose fingerprint a shard knows, unmatched

    def near(self, ids: Sequence[str], hashes: Sequence[Sequence[int]], threshold: int) -> Pairs:
        if not ids:
            self.answers, self._files, self._unconfirmed = [], {}, set()
            return {}
        self.log.update_incremental()
        self._looked_up = True
        version, files = self.log.version(), self.log.file_uris()
        spec, marks = self.spec, fingerprints(ids)
        queries = as_words(hashes, spec.words)

        def task(shard: int, anchor: Iterable[int]) -> list[ShardAnswer]:
            drained(anchor)
            return [search_shard(spec, shard, version, files, queries, marks, threshold)]

        self.answers = self.anchors.mapPartitionsWithIndex(task).collect()
        found: Pairs = {}
        self._files = {}
        matched_self = set()
        for answer in self.answers:
            for row, match, apart, file in answer.pairs:
                self._files[split_entry(match)[0]] = file  # a crop's row is its image's
                if match == ids[row]:
                    matched_self.add(match)
                else:
                    found[ids[row], match] = apart
        known = {ids[row] for answer in self.answers for row in answer.known}
        self._unconfirmed = known - matched_self
        return found

    def committed_at(self) -> datetime | None:
        return committed_at(self.log) if self._looked_up else None

    def rows(self, ids: Collection[str], columns: Sequence[str]) -> dict[str, dict]:
        """The `images` rows of these ids: read from the files the last lookup found them in; ids it
        did not match but whose fingerprint is known (an id sent again with another image) by a
        filtered scan; the others are not indexed."""
        wanted = set(ids)
        holding = sorted({self._files[i] for i in wanted if i in self._files})
        found: dict[str, dict] = {}
        if holding:
            keep = pa.array(sorted(wanted & self._files.keys()), pa.string())
            found = {row["id"]: row for row in self._read(holding, columns, keep)}
        rest = (wanted & self._unconfirmed) - found.keys()
        found |= {row["id"]: row.asDict() for row in self.index.lookup(rest, columns)}
        return found

    def _read(self, files: list[str], columns: Sequence[str], ids: pa.Array) -> list[dict]:
        """These columns of the rows of these ids in these Parquet files of `images`."""
        # the table's schema: a file older than a column reads NULL there (ADDED_COLUMNS)
        images = self.index.spark.read.schema(table_schema("images"))
        frame = images.parquet(*files).where(F.col("id").isin(ids.to_pylist()))
        return [row.asDict() for row in frame.select(*columns).collect()]


def drained(anchor: Iterable[int]) -> None:
    """Read a task's input to its end: a Python worker that left input unread exits after the task
    (a new one, importing numpy and pyarrow again, costs about a second)."""
    for _ in anchor:
        pass
