"""An index.path or a checkpoint that is not this query's: refused with one line naming the path
and what is wrong, a non-zero exit code, and nothing written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from deltalake import DeltaTable

from streaming import kafka_io
from streaming.errors import ExitCode, NeardupError
from streaming.index.table import HashIndex
from streaming.stream.checkpoint import offset_topics
from streaming.stream.job import StreamOptions, open_index, start_stream

from .corpus import distinct_images, produce, references
from .streams import fresh, run_available_now


def snapshot(folder: Path) -> dict[str, int]:
    """Every file under a folder with its size: equal before and after means nothing written."""
    return {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*") if p.is_file()}


def refused(call, code: ExitCode, *words: str) -> str:
    with pytest.raises(NeardupError) as e:
        call()
    assert e.value.exit_code == code
    assert "\n" not in e.value.message
    for word in words:
        assert word in e.value.message
    return e.value.message


def test_a_plain_folder_of_files_is_not_an_index(spark, config, tmp_path):
    folder = tmp_path / "photos"
    distinct_images(folder, 2, seed=21)
    before = snapshot(folder)
    at = config.replace(**{"index.path": str(folder)})
    refused(lambda: open_index(spark, at), ExitCode.FOREIGN_INDEX, str(folder), "no neardup index")
    assert snapshot(folder) == before


def test_another_delta_table_is_not_an_index(spark, config, tmp_path):
    spark.range(3).write.format("delta").save(str(tmp_path / "index" / "images"))
    before = snapshot(tmp_path / "index")
    at = config.replace(**{"index.path": str(tmp_path / "index")})
    refused(lambda: open_index(spark, at), ExitCode.FOREIGN_INDEX, "images", "without the columns")
    assert snapshot(tmp_path / "index") == before  # no bands table either


def test_a_delta_table_given_as_the_index_folder_is_refused(spark, config, tmp_path):
    spark.range(3).write.format("delta").save(str(tmp_path / "table"))
    at = config.replace(**{"index.path": str(tmp_path / "table")})
    refused(lambda: open_index(spark, at), ExitCode.FOREIGN_INDEX, "is itself a Delta table")


@pytest.mark.parametrize(("primary", "hash_size"), [("dhash", 8), ("phash", 16)])
def test_an_index_of_another_hash_type_or_size_is_refused(
    spark, config, tmp_path, primary, hash_size
):
    path = str(tmp_path / "index")
    HashIndex(spark, path, "phash", 8, 10).ensure()
    before = snapshot(tmp_path / "index")
    other = HashIndex(spark, path, primary, hash_size, 10)
    message = refused(other.ensure, ExitCode.FOREIGN_INDEX, "indexes phash hashes of size 8")
    assert f"{primary} of size {hash_size}" in message
    assert snapshot(tmp_path / "index") == before


def test_an_index_records_its_hash_and_keeps_its_bands_when_the_threshold_changes(spark, tmp_path):
    path = str(tmp_path / "index")
    created = HashIndex(spark, path, "phash", 8, 10)
    created.ensure()
    for table in ("images", "bands"):
        recorded = DeltaTable(f"{path}/{table}").metadata().configuration
        assert recorded["neardup.primary"] == "phash"
        assert recorded["neardup.hashSize"] == "8"
        assert recorded["neardup.bands"] == str(created.plan.bands)
    reopened = HashIndex(spark, path, "phash", 8, 3)  # a threshold that plans fewer, wider bands
    assert reopened.plan.bands != created.plan.bands
    reopened.ensure()
    assert reopened.plan.bands == created.plan.bands
    # radii spread anew for threshold 3: the least sum that finds every pair
    assert sum(reopened.plan.radii) == max(3 - created.plan.bands + 1, 0)


def test_index_stats_on_a_foreign_folder_fails_through_the_cli(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "readme.txt").write_text("not an index")
    done = subprocess.run(
        [sys.executable, "-m", "streaming.cli", "index", "--index-path", str(folder), "stats"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == ExitCode.FOREIGN_INDEX
    assert f"neardup: index {folder} holds files but no neardup index" in done.stderr
    assert "Traceback" not in done.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["readme.txt"]


def test_a_checkpoint_of_another_topic_is_refused_before_anything_is_written(
    spark, topics, tmp_path
):
    config = fresh(topics, tmp_path)
    produce(config, config.kafka.images_topic, references(distinct_images(tmp_path, 1, seed=22)))
    run_available_now(spark, config)
    checkpoint = Path(config.stream.checkpoint)
    before = snapshot(checkpoint)
    other = config.replace(
        **{
            "kafka.images_topic": f"{config.kafka.images_topic}-other",
            "kafka.alerts_topic": f"{config.kafka.alerts_topic}-other",
            "index.path": str(tmp_path / "other-index"),
        }
    )
    options = StreamOptions.from_config(other, available_now=True)
    refused(
        lambda: start_stream(spark, other, options),
        ExitCode.FOREIGN_CHECKPOINT,
        str(checkpoint),
        f"of topic {config.kafka.images_topic}, not {other.kafka.images_topic}",
    )
    assert snapshot(checkpoint) == before
    assert not (tmp_path / "other-index").exists()
    assert other.kafka.alerts_topic not in broker_topics(other)


def broker_topics(config) -> set[str]:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(**kafka_io.client_options(config))
    try:
        return set(admin.list_topics())
    finally:
        admin.close()


def test_a_folder_of_files_is_not_a_checkpoint(spark, topics, tmp_path):
    folder = tmp_path / "photos"
    distinct_images(folder, 1, seed=23)
    config = fresh(topics, tmp_path).replace(**{"stream.checkpoint": str(folder)})
    options = StreamOptions.from_config(config, available_now=True)
    refused(
        lambda: start_stream(spark, config, options),
        ExitCode.FOREIGN_CHECKPOINT,
        str(folder),
        "no Spark checkpoint",
    )


def test_offsets_files_name_their_topics():
    text = 'v1\n{"batchWatermarkMs":0,"batchTimestampMs":1,"conf":{}}\n{"images":{"0":14,"1":3}}\n'
    assert offset_topics(text) == {"images"}
    assert offset_topics('v1\n{}\n-\n{"a":{"0":1}}') == {"a"}
    for damaged in ("", "v1\n{}", "v1\n{}\n[1]", "v1\n{}\n{not json"):
        with pytest.raises(ValueError):
            offset_topics(damaged)
