"""A micro-batch's lookup in the Delta index: which indexed images lie within the threshold of its hashes.

Two ways with one answer (the pairs within the threshold in the index's latest snapshot, each once):
- ResidentLookup keeps the primary hashes of the `images` table on the driver as SortedBands and
  brings them to the table's latest snapshot before every lookup. Delta appends only add files, so
  that reads just the files added since the last lookup; when files went away (OPTIMIZE, DELETE,
  an overwrite) it reads the table again.
- JoinLookup is Spark's equi-join of the probes with the bands table (match.match_index): no driver
  memory, but every lookup reads the whole bands table. Only this way needs the bands table, so a
  stream that looks up in memory does not write it (one Delta commit per micro-batch instead of two).
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import unquote, urlparse

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from streaming.hashing import hash_bits
from streaming.imageframe import hash_column
from streaming.index import HashIndex
from streaming.match import match_index
from streaming.pairs import as_words
from streaming.sorted_bands import SortedBands

Pairs = dict[tuple[str, str], int]  # (query id, indexed id) -> distance


class ResidentLookup:
    def __init__(self, index: HashIndex) -> None:
        self.index = index
        self.column = hash_column(index.primary)
        self.words = hash_bits(index.primary, index.hash_size) // 64
        self.files: set[str] = set()
        self.bands = SortedBands(index.plan)

    def refresh(self) -> None:
        """Bring the resident hashes to the latest snapshot of `images`."""
        files = set(self.index.images().inputFiles())
        if not self.files <= files:
            self.files, self.bands = set(), SortedBands(self.index.plan)
        added = sorted(files - self.files)
        if added:
            ids, words = self._read(added)
            self.bands.add(ids, words)
            self.files.update(added)

    def near(self, ids: Sequence[str], hashes: Sequence[Sequence[int]], threshold: int) -> Pairs:
        self.refresh()
        if not ids:
            return {}
        found = self.bands.search(as_words(hashes), threshold)
        return {(ids[row], match): apart for row, match, apart in found if match != ids[row]}

    def _read(self, files: list[str]) -> tuple[pa.Array, np.ndarray]:
        """The ids and primary hashes (n x words uint64) of the rows in these Parquet files of `images`."""
        if all(urlparse(file).scheme in ("", "file") for file in files):
            # Read here, without a Spark job: a micro-batch's own append is one small file.
            table = ds.dataset([unquote(urlparse(file).path) for file in files], format="parquet")
            table = table.to_table(columns=["id", self.column])
        else:  # a store only Spark's file systems are configured for
            table = self.index.spark.read.parquet(*files).select("id", self.column).toArrow()
        hashes = table[self.column].combine_chunks()
        table = table.filter(pc.equal(pc.list_value_length(hashes), self.words))
        flat = table[self.column].combine_chunks().flatten().to_numpy()
        words = flat.astype(np.int64).view(np.uint64).reshape(-1, self.words)
        return table["id"].combine_chunks(), words


class JoinLookup:
    def __init__(self, index: HashIndex) -> None:
        self.index = index
        index.complete_bands()  # once per query: after a run with index.lookup = memory, some have none

    def near(self, ids: Sequence[str], hashes: Sequence[Sequence[int]], threshold: int) -> Pairs:
        if not ids:
            return {}
        queries = self.index.spark.createDataFrame(list(zip(ids, hashes, strict=True)), "id STRING, hash ARRAY<BIGINT>")
        found = match_index(queries, self.index, threshold).select("query_id", "match_id", "distance").collect()
        return {(row["query_id"], row["match_id"]): row["distance"] for row in found}


def open_lookup(index: HashIndex, kind: str) -> ResidentLookup | JoinLookup:
    """index.lookup of the configuration: "memory" or "join"."""
    return ResidentLookup(index) if kind == "memory" else JoinLookup(index)
