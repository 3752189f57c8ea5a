"""A followed Delta table (index/followed.py), with delta-rs alone: the commit time of the version
a reader holds, which index_lag_s measures from."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

from streaming.index.followed import committed_at, quoted, read


def test_committed_at_is_the_time_of_the_version_the_reader_holds(tmp_path):
    path = str(tmp_path / "images")
    before = datetime.now(UTC)
    write_deltalake(path, pa.table({"id": ["a"]}))
    reader = DeltaTable(path)
    first = committed_at(reader)
    write_deltalake(path, pa.table({"id": ["b"]}), mode="append")
    assert committed_at(reader) == first  # not followed yet: still version 0
    reader.update_incremental()
    second = committed_at(reader)
    assert first is not None and second is not None
    assert before - timedelta(seconds=1) <= first <= second <= datetime.now(UTC)
    assert [c["timestamp"] for c in DeltaTable(path).history()] == [
        round(t.timestamp() * 1000) for t in (second, first)
    ]


def test_read_selects_filters_and_gives_plain_types_of_the_version_held(tmp_path):
    path = str(tmp_path / "matches")
    write_deltalake(path, pa.table({"by": ["o'brien", "x", "o'brien"], "batch": [1, 2, 3]}))
    reader = DeltaTable(path)
    write_deltalake(path, pa.table({"by": ["o'brien"], "batch": [0]}), mode="append")
    name = "o'brien"
    rows = read(reader, ["batch"], f"by = '{quoted(name)}' AND batch < 3")
    assert rows.to_pylist() == [{"batch": 1}]
    assert read(reader).schema == pa.schema({"by": pa.string(), "batch": pa.int64()})


def test_read_leaves_no_arrow_thread_behind_to_abort_the_exit(tmp_path):
    """Arrow's dataset reader started an I/O thread pool, which aborted about one short
    command in a hundred at exit ("terminate called without an active exception"). delta-rs's
    runtime may add threads of its own (named tokio-*); Arrow's carry the process's name."""
    path = str(tmp_path / "banks")
    write_deltalake(path, pa.table({"bank": ["a", None]}))
    script = f"""
        import os
        from deltalake import DeltaTable
        from streaming.index.followed import read

        def threads():
            return {{t: open(f"/proc/self/task/{{t}}/comm").read().strip()
                    for t in os.listdir("/proc/self/task")}}

        table = DeltaTable({path!r})
        before = threads()
        for _ in range(3):
            read(table, ["bank"], "bank IS NOT NULL")
        added = [name for tid, name in threads().items() if tid not in before]
        print(",".join(name for name in added if not name.startswith("tokio")))
    """
    ran = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, check=True
    )
    assert ran.stdout.strip() == ""
