"""The sharded lookup across executor processes: an executor lost between two lookups, and a new
driver, give the same answer as an exhaustive scan."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import pytest

from streaming.config import PROJECT_ROOT
from streaming.index.table import HashIndex

from .test_index import THRESHOLD, hamming, index_rows, planted_hashes, rows

pytestmark = pytest.mark.slow


def run_driver(*args: str) -> list[dict]:
    out = args[2]
    subprocess.run(
        [sys.executable, "-m", "tests.index.sharded_driver", *args],
        cwd=PROJECT_ROOT,
        check=True,
        timeout=600,
    )
    with open(out) as f:
        return json.load(f)


def test_a_lost_executor_and_a_new_driver_give_the_same_pairs(spark, tmp_path):
    stored = planted_hashes(2000, seed=21)
    index = HashIndex(spark, str(tmp_path / "index"), "phash", 8, THRESHOLD, expected_size=1000)
    index.ensure()
    # 16 files: each of the two shards holds some
    index.append(index_rows(rows(spark, stored, "s")).repartition(16), "t", 0)
    queries = [h ^ (1 << 4) for h in stored[::13]] + planted_hashes(30, seed=22)
    (tmp_path / "queries.json").write_text(
        json.dumps([[f"q{i}", [q]] for i, q in enumerate(queries)])
    )
    brute = sorted(
        [f"q{i}", f"s{j}", hamming(q, s)]
        for (i, q), (j, s) in itertools.product(enumerate(queries), enumerate(stored))
        if hamming(q, s) <= THRESHOLD
    )
    index_path, queries_path = str(tmp_path / "index"), str(tmp_path / "queries.json")

    before, after = run_driver(index_path, queries_path, str(tmp_path / "kill.json"), "--kill")
    assert before["pairs"] == after["pairs"] == brute
    assert len(brute) >= len(queries)
    # shard 0 ran in the killed executor, then in another process, which read it from the table
    assert after["placement"]["0"] != before["placement"]["0"]
    assert after["read"][0] == after["rows"][0] > 0
    assert after["read"][1] == 0  # the other shard was kept
    assert sum(before["rows"]) == len(stored)

    # A new driver (a new application, new executors): the shards are read again, same answer.
    (restarted,) = run_driver(index_path, queries_path, str(tmp_path / "restart.json"))
    assert restarted["pairs"] == brute
    assert restarted["read"] == restarted["rows"] and sum(restarted["rows"]) == len(stored)
