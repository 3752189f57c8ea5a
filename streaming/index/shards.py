"""The executor side of the sharded lookup: one shard of the `images` table's primary hashes, kept
as SortedBands segments in files on the executor's local disk and mapped into memory by the
Python worker that runs the shard's task.

A shard holds the rows of the row groups assigned to it (a stable hash of file name and row group),
so a table read once is read once in all, and every query visits every shard. Files rather than a
worker's own memory, because Spark gives a task to any idle Python worker of the executor and stops
workers left idle for a minute (docs/matching.md): mapped files are shared by the executor's
workers, outlive them, and stay in the page cache. A shard follows the Delta log like the resident
lookup: the files added since the version it holds are read, a file gone means reading it anew.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import uuid
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from streaming.index.bands import BandPlan
from streaming.index.crops import CROPS_COLUMN, entries
from streaming.index.followed import plain_table
from streaming.index.sorted_bands import Segment, SortedBands, due_for_merge

FOLDER = "neardup-shards"
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class ShardSpec:
    """What every shard of one lookup shares: the table, its hash column and the band plan."""

    table: str  # the `images` table's path or URI
    column: str  # its primary hash column, ARRAY<BIGINT>
    words: int  # 64-bit words per hash; rows with another count are not banded
    plan: BandPlan
    shards: int
    crops: bool = False  # each row's stored crops are entries too (index/crops.py)

    @property
    def key(self) -> str:
        """The folder name of this lookup's shards: another table, plan, count or choice of crops
        is another one."""
        parts = [self.table, self.column, self.words, repr(self.plan), self.shards]
        text = json.dumps([*parts, *(["crops"] if self.crops else [])])
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ShardAnswer:
    """What a shard returns to the driver for one lookup."""

    pairs: list[tuple[int, str, int, str]]  # (query row, stored id, distance, file holding it)
    # Query rows whose id's fingerprint the shard holds: indexed, or (rarely) a collision.
    known: list[int]
    rows: int  # hashes the shard holds
    bytes: int  # the shard's files on disk
    read: int  # rows read from the table to bring the shard to the version asked
    loaded_s: float  # seconds that took
    searched_s: float  # seconds the search took after it (the kernel, and the pairs' ids)


# Rows of a row group dealt out as one piece: a table of a few large row groups (after OPTIMIZE)
# still spreads over the shards, and a row group is read by at most rows / PIECE_ROWS of them.
PIECE_ROWS = 1 << 20


def owner(file: str, row_group: int, piece: int, shards: int) -> int:
    """The shard of a piece of a row group: stable across processes, restarts and appends."""
    return zlib.crc32(f"{PurePosixPath(file).name}/{row_group}/{piece}".encode()) % shards


@dataclass(frozen=True)
class Stored:
    """A segment with what the shard needs beside its bands: which file each row came from, and the
    sorted fingerprints of its ids."""

    segment: Segment
    files: tuple[str, ...]
    file_ends: np.ndarray  # row count up to and including each file
    fingerprints: np.ndarray  # sorted uint64

    @classmethod
    def build(
        cls,
        plan: BandPlan,
        ids: pa.Array,
        words: np.ndarray,
        files: Sequence[str],
        ends: np.ndarray,
    ) -> Stored:
        return cls(Segment.build(plan, ids, words), tuple(files), ends, np.sort(fingerprints(ids)))

    def merged(self, plan: BandPlan, newer: Stored) -> Stored:
        return Stored.build(
            plan,
            pa.concat_arrays([self.segment.ids, newer.segment.ids]),
            np.concatenate([self.segment.words, newer.segment.words]),
            self.files + newer.files,
            np.concatenate([self.file_ends, newer.file_ends + len(self.segment.ids)]),
        )

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True)
        segment = self.segment
        with pa.OSFile(str(folder / "ids.arrow"), "wb") as sink:
            table = pa.table({"id": segment.ids})
            with pa.ipc.new_file(sink, table.schema) as writer:
                writer.write_table(table)
        arrays = {"words": segment.words, "file_ends": self.file_ends, "fps": self.fingerprints}
        for band in range(len(segment.band_words)):
            arrays |= {
                f"band_words{band}": segment.band_words[band],
                f"rows{band}": segment.rows[band],
                f"starts{band}": segment.starts[band],
            }
        for name, array in arrays.items():
            np.save(folder / f"{name}.npy", array)
        meta = {"files": self.files, "prefix_bits": segment.prefix_bits}
        (folder / "meta.json").write_text(json.dumps(meta))

    @classmethod
    def load(cls, folder: Path) -> Stored:
        """The segment's arrays mapped, not read: pages come in as lookups touch them."""
        meta = json.loads((folder / "meta.json").read_text())

        def array(name: str) -> np.ndarray:
            # copy-on-write, never written: the pages are still shared, and the kernel sees the
            # writable arrays it was compiled for (a read-only one would compile it again)
            return np.load(folder / f"{name}.npy", mmap_mode="c")

        ids = pa.ipc.open_file(pa.memory_map(str(folder / "ids.arrow"))).read_all()["id"]
        bands = range(len(meta["prefix_bits"]))
        segment = Segment(
            ids.combine_chunks(),
            array("words"),
            tuple(array(f"band_words{b}") for b in bands),
            tuple(array(f"rows{b}") for b in bands),
            tuple(array(f"starts{b}") for b in bands),
            tuple(meta["prefix_bits"]),
        )
        return cls(segment, tuple(meta["files"]), array("file_ends"), array("fps"))


class Shard:
    """One shard's folder: the manifest (Delta version, files read, segments) and the segments."""

    # Segments already mapped by this process, by folder: a lookup maps only what is new.
    _mapped: dict[Path, Stored] = {}  # noqa: RUF012 (one per process, on purpose)

    def __init__(self, spec: ShardSpec, shard: int, root: Path) -> None:
        self.spec = spec
        self.shard = shard
        self.folder = root / FOLDER / spec.key / str(shard)
        self.read = 0  # rows read from the table by the last `at`

    def at(self, version: int, files: Sequence[str]) -> list[Stored]:
        """The shard's segments at this version of the table (its files), read or built here."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with self._locked():
            manifest = self._manifest()
            if manifest["version"] != version:
                manifest = self._refresh(manifest, version, files)
            # Let go of segments another process merged away: their pages and disk go with them.
            current = {self.folder / name for name in manifest["segments"]}
            for folder in [f for f in Shard._mapped if f.parent == self.folder]:
                if folder not in current:
                    del Shard._mapped[folder]
            return [self._open(name) for name in manifest["segments"]]

    def disk_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.folder.rglob("*") if f.is_file())

    def _refresh(self, manifest: dict, version: int, files: Sequence[str]) -> dict:
        read = manifest["files"]
        if not set(read) <= set(files):  # a file went away (OPTIMIZE, DELETE): read the table anew
            read, manifest = [], {"version": None, "files": [], "segments": []}
        done = set(read)
        added = [file for file in files if file not in done]
        stored = [self._open(name) for name in manifest["segments"]]
        names = list(manifest["segments"])
        rows = self._read(added)
        if rows is not None:
            self.read = len(rows[0])
            stored.append(Stored.build(self.spec.plan, *rows))
            names.append(self._save(stored[-1]))
            while len(stored) > 1 and due_for_merge(stored[-2].segment, stored[-1].segment):
                newer, older = stored.pop(), stored.pop()
                names[-2:] = []
                stored.append(older.merged(self.spec.plan, newer))
                names.append(self._save(stored[-1]))
        manifest = {"version": version, "files": [*read, *added], "segments": names}
        partial = self.folder / f"{MANIFEST}.partial"
        partial.write_text(json.dumps(manifest))
        os.replace(partial, self.folder / MANIFEST)
        # Workers that mapped a dropped segment keep their pages until they let go of it.
        for entry in self.folder.iterdir():
            if entry.is_dir() and entry.name not in names:
                shutil.rmtree(entry)
                Shard._mapped.pop(entry, None)
        return manifest

    def _read(
        self, files: Sequence[str]
    ) -> tuple[pa.Array, np.ndarray, list[str], np.ndarray] | None:
        """(ids, words, files, entry ends per file) of this shard's row groups of these files, rows
        with a hash of the plan's width only, each stored crop one more entry (crops.entries)."""
        ids: list[pa.Array] = []
        words: list[np.ndarray] = []
        held: list[str] = []
        ends: list[int] = []
        total = 0
        for file in files:
            filesystem, path = pafs.FileSystem.from_uri(_uri(file))
            parquet = pq.ParquetFile(path, filesystem=filesystem)
            pieces = {
                group: owned
                for group in range(parquet.metadata.num_row_groups)
                if (owned := self._owned(file, group, parquet.metadata.row_group(group).num_rows))
            }
            if not pieces:
                continue
            wanted = ["id", self.spec.column, *([CROPS_COLUMN] if self.spec.crops else [])]
            # a file written before the crops column has none
            columns = [c for c in wanted if c in parquet.schema_arrow.names]
            groups = plain_table(parquet.read_row_groups(list(pieces), columns=columns))
            sizes = [parquet.metadata.row_group(group).num_rows for group in pieces]
            starts = np.cumsum([0, *sizes[:-1]]).tolist()
            table = pa.concat_tables(
                groups.slice(start + piece * PIECE_ROWS, min(PIECE_ROWS, size - piece * PIECE_ROWS))
                for start, size, owned in zip(starts, sizes, pieces.values(), strict=True)
                for piece in owned
            )
            keys, found = entries(table, self.spec.column, self.spec.words, self.spec.crops)
            if not len(keys):
                continue
            ids.append(keys)
            words.append(found)
            total += len(keys)
            held.append(file)
            ends.append(total)
        if not ids:
            return None
        return pa.concat_arrays(ids), np.concatenate(words), held, np.array(ends, np.int64)

    def _owned(self, file: str, group: int, rows: int) -> list[int]:
        """The pieces of a row group that this shard holds."""
        shards = self.spec.shards
        pieces = range(-(-rows // PIECE_ROWS))
        return [piece for piece in pieces if owner(file, group, piece, shards) == self.shard]

    def _manifest(self) -> dict:
        try:
            return json.loads((self.folder / MANIFEST).read_text())
        except FileNotFoundError:
            return {"version": None, "files": [], "segments": []}

    def _save(self, stored: Stored) -> str:
        name = uuid.uuid4().hex
        stored.save(self.folder / name)
        Shard._mapped[self.folder / name] = stored
        return name

    def _open(self, name: str) -> Stored:
        folder = self.folder / name
        if folder not in Shard._mapped:
            Shard._mapped[folder] = Stored.load(folder)
        return Shard._mapped[folder]

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """One process at a time brings a shard up to date; the others then map what it wrote."""
        with (self.folder / ".lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def search_shard(
    spec: ShardSpec,
    shard: int,
    version: int,
    files: Sequence[str],
    queries: np.ndarray,
    query_fingerprints: np.ndarray,
    threshold: int,
) -> ShardAnswer:
    """A shard's task: brought to `version`, its pairs within threshold of the queries."""
    import time

    from pyspark import SparkFiles

    started = time.perf_counter()
    held = Shard(spec, shard, Path(SparkFiles.getRootDirectory()))
    stored = held.at(version, files)
    searching = time.perf_counter()
    bands = SortedBands.of(spec.plan, [s.segment for s in stored])
    pairs: list[tuple[int, str, int, str]] = []
    for part, (segment, query_rows, stored_rows, distances) in zip(
        stored, bands.matches(queries, threshold), strict=True
    ):
        ids = segment.ids.take(pa.array(stored_rows)).to_pylist()
        holding = np.searchsorted(part.file_ends, stored_rows, side="right")
        pairs += zip(
            query_rows.tolist(),
            ids,
            distances.tolist(),
            [part.files[i] for i in holding.tolist()],
            strict=True,
        )
    known = np.zeros(len(queries), bool)
    for part in stored:
        spots = np.searchsorted(part.fingerprints, query_fingerprints)
        spots = np.minimum(spots, len(part.fingerprints) - 1)
        known |= part.fingerprints[spots] == query_fingerprints
    rows = sum(len(s.segment.ids) for s in stored)
    known_rows = np.flatnonzero(known).tolist()
    searched = time.perf_counter() - searching
    return ShardAnswer(
        pairs, known_rows, rows, held.disk_bytes(), held.read, searching - started, searched
    )


# Ids fingerprinted at once: bounds the temporary per-byte arrays.
FINGERPRINT_CHUNK = 1 << 18
_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)


def fingerprints(ids: pa.Array | Sequence[str]) -> np.ndarray:
    """A 64-bit fingerprint of each id (a polynomial hash of its UTF-8 bytes, then mixed): equal ids
    give equal fingerprints; different ids rarely do, and a match is confirmed on the table."""
    ids = pc.cast(pa.array(ids, pa.string()), pa.large_binary())
    found = [
        _fingerprint_chunk(ids.slice(start, FINGERPRINT_CHUNK))
        for start in range(0, len(ids), FINGERPRINT_CHUNK)
    ]
    return np.concatenate(found) if found else np.zeros(0, np.uint64)


def _fingerprint_chunk(ids: pa.LargeBinaryArray) -> np.ndarray:
    offsets = np.frombuffer(ids.buffers()[1], np.int64)[ids.offset : ids.offset + len(ids) + 1]
    lengths = np.diff(offsets)
    buffer = ids.buffers()[2]
    data = np.frombuffer(buffer, np.uint8) if buffer is not None else np.zeros(0, np.uint8)
    data = data[offsets[0] : offsets[-1]].astype(np.uint64)
    position = np.arange(len(data)) - np.repeat(offsets[:-1] - offsets[0], lengths)
    powers = np.cumprod(np.full(int(lengths.max(initial=0)) + 1, _MULTIPLIER, np.uint64))
    terms = (data + np.uint64(1)) * powers[position]
    sums = np.zeros(len(ids), np.uint64)
    filled = lengths > 0
    if filled.any():
        sums[filled] = np.add.reduceat(terms, (offsets[:-1] - offsets[0])[filled])
    return _mix(sums ^ lengths.astype(np.uint64))


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: every input bit moves about half the output bits."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _uri(file: str) -> str:
    return file if "://" in file else f"file://{file}"
