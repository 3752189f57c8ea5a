"""Shards on a local folder, without Spark: together they hold every row once, follow appends and
rewrites of the table's files, and answer what one SortedBands over all rows answers."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from streaming.index.bands import even, plan_bands
from streaming.index.shards import Shard, ShardSpec, fingerprints
from streaming.index.sorted_bands import SortedBands


def write_file(path, ids: list[str], words: np.ndarray, row_group_size: int) -> str:
    hashes = pa.array(words.view(np.int64).tolist(), pa.list_(pa.int64()))
    pq.write_table(pa.table({"id": ids, "phash": hashes}), path, row_group_size=row_group_size)
    return str(path)


def test_shards_hold_every_row_once_and_follow_the_files(tmp_path, monkeypatch):
    monkeypatch.setattr("streaming.index.shards.PIECE_ROWS", 50)  # pieces of a few row groups
    rng = np.random.default_rng(7)
    words = rng.integers(0, 2**64, (900, 1), dtype=np.uint64)
    ids = [f"s{i}" for i in range(900)]
    spec = ShardSpec("table", "phash", 1, plan_bands(64, 10, 1000), shards=3)
    files = [
        write_file(
            tmp_path / f"part-{n}.parquet",
            ids[n * 300 : n * 300 + 300],
            words[n * 300 :][:300],
            120,
        )
        for n in range(3)
    ]
    queries = words[::9] ^ np.uint64(0b1011)
    everything = SortedBands(spec.plan)
    everything.add(ids, words)
    expected = sorted(everything.search(queries, 10))

    def found(version: int, files: list[str]) -> tuple[list, list[int]]:
        pairs, held = [], []
        for number in range(spec.shards):
            stored = Shard(spec, number, tmp_path / "root").at(version, files)
            held.append(sum(len(part.segment.ids) for part in stored))
            pairs += SortedBands.of(spec.plan, [part.segment for part in stored]).search(
                queries, 10
            )
        return sorted(pairs), held

    pairs, held = found(0, files[:2])  # version 0: two files
    assert sum(held) == 600 and min(held) > 0
    assert pairs == sorted(p for p in expected if int(p[1][1:]) < 600)
    pairs, held = found(1, files)  # an append
    assert (pairs, sum(held)) == (expected, 900)
    merged = write_file(tmp_path / "part-all.parquet", ids, words, 400)  # a rewrite (OPTIMIZE)
    pairs, held = found(2, [merged])
    assert (pairs, sum(held)) == (expected, 900)
    assert len(expected) >= 100


def test_fingerprints_are_equal_for_equal_ids_and_differ_otherwise():
    ids = ["", "a", "b", "ab", "ba", "img-0001.jpg", "img-0001.jpg", "é", "s1" * 300]
    marks = fingerprints(ids)
    assert marks[5] == marks[6]
    assert len(set(marks.tolist())) == len(ids) - 1
    assert (fingerprints(pa.array(ids).slice(5, 3)) == marks[5:8]).all()
    many = fingerprints([f"s{i}" for i in range(200_000)])
    assert len(np.unique(many)) == len(many)


def test_shard_files_of_another_plan_are_not_reused():
    """A plan with other radii probes differently: its shards live in a folder of their own, so a
    lookup never maps files written under another plan."""
    spread, before = plan_bands(64, 10, 10**7), even(64, 10, 3)
    assert spread.bands == before.bands and spread.radii != before.radii
    keys = {ShardSpec("table", "phash", 1, plan, shards=2).key for plan in (spread, before)}
    assert len(keys) == 2
