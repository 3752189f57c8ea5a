"""Driver commits with delta-rs (streaming/index/commits.py) on a real Delta table."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

from streaming.index.commits import DriverWriter, arrow_rows
from streaming.schemas import arrow_schema

# the NOT NULL columns of a `matches` row
LOGGED = {
    "image_id": "i",
    "match_id": "m",
    "hash_type": "phash",
    "distance": 2,
    "threshold": 10,
    "distances": "{}",
    "detected_at": datetime(2026, 11, 30, tzinfo=UTC),
    "written_by": "stream-a",
    "batch_id": 0,
}


def test_an_append_adds_the_columns_a_match_log_lacks_and_runs_each_version_once(tmp_path):
    path = str(tmp_path / "matches")
    full = arrow_schema("matches")
    older = pa.schema([f for f in full if f.name not in ("sent", "suppressed", "transform")])
    write_deltalake(path, arrow_rows([{**LOGGED, "alert_id": "old"}], older), mode="append")
    writer = DriverWriter(path, "stream-a")
    row = {**LOGGED, "alert_id": "new", "sent": False, "suppressed": 3, "transform": "rot90"}
    writer.append(arrow_rows([row], full), version=7)
    writer.append(arrow_rows([row], full), version=7)  # the batch run again after a crash

    table = DeltaTable(path)
    assert {"sent", "suppressed", "transform"} <= set(pa.schema(table.schema().to_arrow()).names)
    rows = {r["alert_id"]: r for r in table.to_pyarrow_table().to_pylist()}
    assert len(rows) == 2 and rows["old"]["sent"] is rows["old"]["transform"] is None
    assert (rows["new"]["sent"], rows["new"]["suppressed"]) == (False, 3)
    assert rows["new"]["transform"] == "rot90"
    assert table.transaction_version("stream-a") == 7
