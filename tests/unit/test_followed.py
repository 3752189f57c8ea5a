"""A followed Delta table (index/followed.py), with delta-rs alone: the commit time of the version
a reader holds, which index_lag_s measures from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

from streaming.index.followed import committed_at


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
