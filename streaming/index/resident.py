"""The resident lookup (index.lookup = "memory"): the primary hashes of the `images` table held on
the driver as SortedBands, brought to the table's latest snapshot before every lookup.

Delta appends only add files, so a refresh reads just the files added since the last lookup; when
files went away (OPTIMIZE, DELETE, an overwrite) it reads the table again. It reads the snapshot's
Parquet files itself (pyarrow on a local file system, Spark elsewhere), so it refuses tables with
deletion vectors or column mapping, which change what those files mean; neardup never enables
either.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from delta.tables import DeltaTable
from pyspark.sql import functions as F
from pyspark.sql.types import TimestampType

from streaming.hashing import hash_bits
from streaming.imageframe import hash_column
from streaming.index.lookup import Pairs
from streaming.index.pairs import as_words
from streaming.index.sorted_bands import SortedBands
from streaming.index.table import HashIndex


class ResidentLookup:
    writes_bands = False  # the stream's registrations need no bands table: they are cut in memory

    def __init__(self, index: HashIndex) -> None:
        self.index = index
        self.column = hash_column(index.primary)
        self.words = hash_bits(index.primary, index.hash_size) // 64
        properties = (
            DeltaTable.forPath(index.spark, index.images_path).detail().first()["properties"]
        )
        vectors = properties.get("delta.enableDeletionVectors") == "true"
        if vectors or properties.get("delta.columnMapping.mode", "none") != "none":
            raise ValueError(
                f"{index.images_path} uses deletion vectors or column mapping, which index.lookup "
                "= memory cannot "
                'read: use index.lookup = "join"'
            )
        self._reset()

    def _reset(self) -> None:
        # Each file of the snapshot read so far (a path on a local file system, else a URI) -> its
        # rows' ids.
        self.files: dict[str, pa.Array] = {}
        self.bands = SortedBands(self.index.plan)
        self.version: int | None = None  # the last Delta version read, when the log is local

    def refresh(self) -> None:
        """Bring the resident hashes to the latest snapshot of `images`."""
        log = (
            Path(_file_key(self.index.images_path)) / "_delta_log"
            if _local([self.index.images_path])
            else None
        )
        appended = _appended(log, self.version) if log and self.version is not None else None
        # the first read, a commit that did more than append, or a log not on this machine
        if appended is None:
            # Version first, then files: a commit in between is read twice, and its files are known
            # the second time.
            version = _latest_version(log) if log else None
            files = self.index.images().inputFiles()
            files = [_file_key(file) for file in files] if _local(files) else files
            if not self.files.keys() <= set(files):
                self._reset()
            self.version = version
        else:
            self.version, files = appended
        added = [file for file in dict.fromkeys(files) if file not in self.files]
        if not added:
            return
        table = self._read(added, ["id", self.column])
        self.files.update(_ids_per_file(added, table))
        hashes = table[self.column].combine_chunks()
        # rows without one are not banded
        table = table.filter(pc.equal(pc.list_value_length(hashes), self.words))
        flat = table[self.column].combine_chunks().flatten().to_numpy()
        self.bands.add(
            table["id"].combine_chunks(),
            flat.astype(np.int64).view(np.uint64).reshape(-1, self.words),
        )

    def near(self, ids: Sequence[str], hashes: Sequence[Sequence[int]], threshold: int) -> Pairs:
        self.refresh()
        if not ids:
            return {}
        found = self.bands.search(as_words(hashes, self.words), threshold)
        return {(ids[row], match): apart for row, match, apart in found if match != ids[row]}

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
            for row in _collected(self._read(holding, columns, wanted).drop_columns(["file"]))
        }

    def _read(
        self, files: list[str], columns: Sequence[str], ids: pa.Array | None = None
    ) -> pa.Table:
        """These columns of the rows (of these ids) of these Parquet files of `images`, with each
        row's `file`."""
        if _local(files):
            # Read here, without a Spark job: a micro-batch's own append is one small file.
            dataset = ds.dataset([_file_key(file) for file in files], format="parquet")
            where = None if ids is None else pc.field("id").isin(ids)
            return dataset.to_table(columns=[*columns, "__filename"], filter=where).rename_columns(
                [*columns, "file"]
            )
        # A store only Spark's file systems are configured for.
        frame = self.index.spark.read.parquet(*files)
        frame = frame if ids is None else frame.where(F.col("id").isin(ids.to_pylist()))
        table = frame.select(*columns, F.col("_metadata.file_path").alias("file")).toArrow()
        return table.set_column(
            len(columns), "file", pa.array([_file_key(f) for f in table["file"].to_pylist()])
        )


def _latest_version(log: Path) -> int | None:
    """The newest commit in a Delta log on this machine's file system."""
    return max(
        (int(entry.stem) for entry in log.glob("*.json") if entry.stem.isdigit()), default=None
    )


def _appended(log: Path, version: int) -> tuple[int, list[str]] | None:
    """(newest version, files added) of the commits after `version` when all they did was add files:
    reading the small commit files here spares the Delta snapshot Spark would plan (a good part
    of a second). None when a commit did anything else (removed files: OPTIMIZE, DELETE; changed
    the schema or protocol)."""
    added = []
    while (commit := log / f"{version + 1:020d}.json").exists():
        for line in commit.read_text().splitlines():
            action = json.loads(line)
            if action.keys() & {"remove", "metaData", "protocol", "cdc"}:
                return None
            if "add" in action:
                # relative to the table and URL-encoded, or an absolute URI
                path = action["add"]["path"]
                added.append(
                    _file_key(path) if urlparse(path).scheme else str(log.parent / unquote(path))
                )
        version += 1
    return version, added


def _local(files: list[str]) -> bool:
    return all(urlparse(file).scheme in ("", "file") for file in files)


def _file_key(uri: str) -> str:
    """A file's path, the same whether it comes from the Delta snapshot or from a row's metadata."""
    return unquote(urlparse(uri).path)


def _ids_per_file(files: list[str], table: pa.Table) -> dict[str, pa.Array]:
    """The ids of the rows read from each file (none for a file without rows)."""
    names = table["file"].combine_chunks().dictionary_encode()
    codes = names.indices.to_numpy()
    ids = table["id"].combine_chunks().take(pa.array(np.argsort(codes, kind="stable")))
    counts = np.bincount(codes, minlength=len(names.dictionary))
    starts = np.cumsum(counts) - counts
    per_key = {
        key: ids.slice(start, count)
        for key, start, count in zip(
            names.dictionary.to_pylist(), starts.tolist(), counts.tolist(), strict=True
        )
    }
    return {file: per_key.get(_file_key(file), pa.array([], pa.string())) for file in files}


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
