"""Which ids each Parquet file of `images` holds, as the resident lookup records them."""

import pyarrow as pa

from streaming.index.resident import _ids_per_file


def test_ids_are_grouped_per_file_across_batches() -> None:
    batches = [
        pa.record_batch({"id": ["a", "b"], "file": ["f1", "f1"]}),
        pa.record_batch({"id": ["c", "d", "e"], "file": ["f2", "f1", "f2"]}),
        pa.record_batch({"id": ["f"], "file": ["f3"]}),
    ]
    found = _ids_per_file(["f1", "f2", "f3", "empty"], pa.Table.from_batches(batches))
    assert {file: ids.to_pylist() for file, ids in found.items()} == {
        "f1": ["a", "b", "d"],
        "f2": ["c", "e"],
        "f3": ["f"],
        "empty": [],
    }
