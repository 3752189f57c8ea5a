"""Freshness (docs/banks.md): a bank member added while the stream runs is matched from the next
micro-batch, and the progress and `index stats` report index_lag_s."""

from __future__ import annotations

from deltalake import DeltaTable

from streaming.batch.bulk import register_files
from streaming.config import Config
from streaming.stream.job import StreamOptions, open_index, start_stream
from streaming.stream.progress import progress_listener

from .corpus import distinct_images, near_duplicate, produce, references
from .streams import alert_pairs, fresh, index_ids, read_topic, wait_for


def logged(config: Config) -> list[dict]:
    """The rows of the match log (none before it exists)."""
    path = f"{config.index.path}/matches"
    return DeltaTable(path).to_pyarrow_table().to_pylist() if DeltaTable.is_deltatable(path) else []


def test_a_member_added_to_a_running_stream_alerts_within_two_triggers(spark, topics, tmp_path):
    config = fresh(topics, tmp_path)
    first, member = (
        distinct_images(tmp_path / name, count=1, seed=seed)[0]
        for name, seed in (("first", 93), ("bank", 94))
    )
    copy = near_duplicate(member, 0)
    query = start_stream(spark, config, StreamOptions.from_config(config, trigger="1s"))
    try:
        stats = progress_listener(spark).queries[str(query.id)]
        produce(config, config.kafka.images_topic, references([first]))
        wait_for(lambda: str(first) in index_ids(config), 300, "registration of the first image")
        added, failed = register_files(
            spark, config, open_index(spark, config), [str(member)], "fresh"
        )
        assert (added, failed) == (1, [])
        produce(config, config.kafka.images_topic, references([copy]))
        # the batch running now (if any) started before the copy was sent; the next one reads it
        within = (query.lastProgress or {}).get("batchId", -1) + 2
        # the match log is the micro-batch's last commit, its stats its last step
        wait_for(
            lambda: any(row["batch_id"] in stats for row in logged(config)),
            300,
            "the copy's row in the match log",
        )
    finally:
        query.stop()
    assert query.exception() is None, query.exception()

    assert alert_pairs(read_topic(config, config.kafka.alerts_topic)) == {(str(copy), str(member))}
    (row,) = logged(config)
    assert row["batch_id"] <= within
    lag = stats[row["batch_id"]].index_lag_s
    assert lag is not None and lag >= 0
    assert open_index(spark, config).stats()["index_lag_s"] >= 0
