"""The resident lookup (index.lookup = "memory"): the primary hashes of the `images` table held on
the driver as SortedBands, brought to the table's latest snapshot before every lookup.

delta-rs (the `deltalake` package) follows the table's log, on a local file system or an object
store alike: a refresh reads the commits since the last one (milliseconds) and, since Delta
appends only add files, just the Parquet files they added; when files went away (OPTIMIZE,
DELETE, an overwrite) it reads the table again. It reads the Parquet files itself, so it refuses
tables with deletion vectors or column mapping, which change what those files mean; neardup never
enables either.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pa_fs
from deltalake import DeltaTable
from deltalake.fs import DeltaStorageHandler
from pyspark.sql.types import TimestampType

from streaming.hashing import hash_type
from streaming.imageframe import hash_column
from streaming.index.crops import CROPS_COLUMN, entries
from streaming.index.followed import committed_at, plain_schema
from streaming.index.lookup import Pairs
from streaming.index.pairs import as_words
from streaming.index.sorted_bands import SortedBands
from streaming.index.table import HashIndex

# Reader features that change what a table's Parquet files mean.
UNREADABLE_FEATURES = frozenset({"deletionVectors", "columnMapping"})


class ResidentLookup:
    writes_bands = False  # the stream's registrations need no bands table: they are cut in memory

    def __init__(self, index: HashIndex) -> None:
        self.index = index
        self.column = hash_column(index.primary)
        self.words = hash_type(index.primary).words(index.hash_size)
        self.table = DeltaTable(index.images_path, storage_options=index.storage_options)
        self._reset()

    def _reset(self) -> None:
        features = set(self.table.protocol().reader_features or ())
        if features & UNREADABLE_FEATURES:
            raise ValueError(
                f"{self.index.images_path} uses deletion vectors or column mapping, which "
                'index.lookup = memory cannot read: use index.lookup = "join"'
            )
        # Each file of the snapshot read so far (its path in the table) -> its rows' ids.
        self.files: dict[str, pa.Array] = {}
        self.bands = SortedBands(self.index.plan)
        self.version: int | None = None  # the Delta version read last

    def refresh(self) -> None:
        """Bring the resident hashes to the latest snapshot of `images`."""
        self.table.update_incremental()
        if self.table.version() == self.version:
            return
        actions = self.table.get_add_actions(flatten=True)
        sizes = dict(
            zip(
                actions.column("path").to_pylist(),
                actions.column("size_bytes").to_pylist(),
                strict=True,
            )
        )
        if not self.files.keys() <= sizes.keys():
            self._reset()
        self.version = self.table.version()
        added = [file for file in sizes if file not in self.files]
        if not added:
            return
        columns = ["id", self.column, *([CROPS_COLUMN] if self.index.crops else [])]
        table = self._read({file: sizes[file] for file in added}, columns)
        self.files.update(_ids_per_file(added, table))
        # rows without a hash are not banded; with crops, each crop is one more entry
        self.bands.add(*entries(table, self.column, self.words, self.index.crops))

    def near(self, ids: Sequence[str], hashes: Sequence[Sequence[int]], threshold: int) -> Pairs:
        self.refresh()
        if not ids:
            return {}
        found = self.bands.search(as_words(hashes, self.words), threshold)
        return {(ids[row], match): apart for row, match, apart in found if match != ids[row]}

    def committed_at(self) -> datetime | None:
        return None if self.version is None else committed_at(self.table)

    def rows(self, ids: Collection[str], columns: Sequence[str]) -> dict[str, dict]:
        """The `images` rows of these ids in the snapshot of the last lookup, as Spark would collect
        them, read from just the files that hold them."""
        wanted = pa.array(sorted(ids), pa.string())
        if not self.files or not len(wanted):
            return {}
        files, ids_per_file = list(self.files), list(self.files.values())
        hits = pc.is_in(pa.chunked_array(ids_per_file, pa.string()), value_set=wanted)
        ends = np.cumsum([len(ids) for ids in ids_per_file])
        holding = [
            files[i]
            for i in np.unique(np.searchsorted(ends, np.flatnonzero(hits.to_numpy()), side="right"))
        ]
        if not holding:
            return {}
        return {
            row["id"]: row
            for row in _collected(
                self._read(dict.fromkeys(holding), columns, wanted).drop_columns(["file"])
            )
        }

    def _read(
        self, files: dict[str, int | None], columns: Sequence[str], ids: pa.Array | None = None
    ) -> pa.Table:
        """These columns of the rows (of these ids) of these Parquet files of `images` (path in
        the table -> size when known), with each row's `file`, through delta-rs's store."""
        known = {file: size for file, size in files.items() if size is not None}
        store = DeltaStorageHandler(
            self.table.table_uri, self.index.storage_options, known_sizes=known or None
        )
        dataset = ds.dataset(
            list(files),
            schema=plain_schema(self.table, columns),
            format="parquet",
            filesystem=pa_fs.PyFileSystem(store),
        )
        # a file of delta-rs's MERGE holds string views: compared as plain strings
        where = None if ids is None else pc.field("id").cast(pa.string()).isin(ids)
        return dataset.to_table(columns=[*columns, "__filename"], filter=where).rename_columns(
            [*columns, "file"]
        )


def _ids_per_file(files: list[str], table: pa.Table) -> dict[str, pa.Array]:
    """The ids of the rows read from each file (none for a file without rows)."""
    found: dict[str, list[pa.Array]] = {}
    # batch by batch: a file's name repeats on each of its rows, and tens of millions of them
    # overflow one string array (2 GB); a scan's batch holds the rows of one file
    for batch in table.select(["file", "id"]).to_batches():
        names = batch["file"].dictionary_encode()
        codes = names.indices.to_numpy(zero_copy_only=False)
        for code, name in enumerate(names.dictionary.to_pylist()):
            rows = np.flatnonzero(codes == code)
            ids = batch["id"] if len(rows) == len(batch) else batch["id"].take(pa.array(rows))
            found.setdefault(name, []).append(ids)
    return {
        file: pa.concat_arrays(found[file]) if file in found else pa.array([], pa.string())
        for file in files
    }


def _collected(table: pa.Table) -> list[dict]:
    """Rows as DataFrame.collect() gives them: timestamps as TimestampType makes them (naive, local
    time)."""
    stamps = [field for field in table.schema if pa.types.is_timestamp(field.type)]
    micros = {
        field.name: pc.cast(table[field.name], pa.timestamp("us", field.type.tz), safe=False).cast(
            pa.int64()
        )
        for field in stamps
    }
    rows = table.drop_columns([field.name for field in stamps]).to_pylist()
    for name, values in micros.items():
        for row, value in zip(rows, values.to_pylist(), strict=True):
            row[name] = None if value is None else TimestampType().fromInternal(value)
    return rows
