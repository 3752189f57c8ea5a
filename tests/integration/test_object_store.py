"""The stream with images, index and checkpoint on the local S3 server: the same alerts as from
local files, and an index that stays exactly-once when the driver is killed and restarted from a
checkpoint on S3."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import uuid
from collections import Counter
from pathlib import Path

import obstore
import pytest
from deltalake import DeltaTable

from streaming.config import Config
from streaming.errors import ConfigError
from streaming.index.lookup import open_lookup
from streaming.index.resident import ResidentLookup
from streaming.storage import delta_storage_options, open_store
from streaming.stream.job import open_index

from .corpus import Message, expected_alerts, planted_stream, produce
from .streams import fresh, read_topic, run_available_now
from .test_crash import stream_command

pytestmark = pytest.mark.slow


def upload(config: Config, paths: list[Path], prefix: str) -> dict[Path, str]:
    """Each file copied to s3://images/<prefix>/<name>; file -> its URI."""
    store = open_store(config, "s3://images")
    for path in paths:
        obstore.put(store, f"{prefix}/{path.name}", path.read_bytes())
    return {path: f"s3://images/{prefix}/{path.name}" for path in paths}


def on_s3(config: Config, run: str, prefix: str) -> Config:
    """The config with index and checkpoint under s3://lake/<run>/, reading images under
    s3://images/<prefix>/."""
    return config.replace(
        **{
            "index.path": f"s3://lake/{run}/index",
            "stream.checkpoint": f"s3://lake/{run}/checkpoint",
            "sources.allowed_roots": [f"s3://images/{prefix}/"],
        }
    )


def index_ids(config: Config) -> list[str]:
    path = f"{config.index.path}/images"
    options = delta_storage_options(config, path)
    if not DeltaTable.is_deltatable(path, storage_options=options):
        return []
    return DeltaTable(path, storage_options=options).to_pyarrow_table().column("id").to_pylist()


def alerts_by_id(config: Config) -> dict[str, tuple[str, str]]:
    return {
        a["alert_id"]: (a["image_id"], a["match_id"])
        for a in read_topic(config, config.kafka.alerts_topic)
    }


def test_images_index_and_checkpoint_on_s3_give_the_alerts_of_local_files(
    spark, s3, topics, tmp_path
):
    paths = planted_stream(tmp_path / "images", count=30, seed=13, group_every=5)
    run = uuid.uuid4().hex[:8]
    uris = upload(s3, paths, run)

    def messages(uri_of: dict[Path, str]) -> list[Message]:
        # The same ids both ways, so the same alert ids: only where the bytes are differs.
        return [
            Message(p.name, json.dumps({"id": p.name, "uri": uri_of[p]}).encode()) for p in paths
        ]

    local = fresh(topics, tmp_path)
    produce(local, local.kafka.images_topic, messages({p: str(p) for p in paths}))
    run_available_now(spark, local)

    remote = on_s3(s3, run, run).replace(
        **{
            f"kafka.{topic}": f"{getattr(topics.kafka, topic)}-s3"
            for topic in ("images_topic", "alerts_topic", "dlq_topic")
        }
    )
    produce(remote, remote.kafka.images_topic, messages(uris))
    run_available_now(spark, remote, max_offsets_per_trigger=12)

    expected = {(Path(a).name, Path(b).name) for a, b in expected_alerts(paths, local)}
    local_alerts, remote_alerts = alerts_by_id(local), alerts_by_id(remote)
    assert set(local_alerts.values()) == expected and len(expected) >= 4
    assert remote_alerts == local_alerts
    assert read_topic(remote, remote.kafka.dlq_topic) == []
    assert sorted(index_ids(remote)) == sorted(p.name for p in paths)
    assert obstore.list(open_store(s3, "s3://lake"), f"{run}/checkpoint/commits").collect()

    # Crops with index.lookup = auto on S3: the memory lookup holds them while the index is small;
    # past index.memory_max_images auto would open the join, which holds none, and is refused.
    cropped = remote.replace(**{"hashing.crops": [0.1], "index.lookup": "auto"})
    index = open_index(spark, cropped)
    assert isinstance(open_lookup(index, cropped.index), ResidentLookup)
    with pytest.raises(ConfigError, match=r"^hashing\.crops: the join lookup does not index crops"):
        open_lookup(index, cropped.replace(**{"index.memory_max_images": 3}).index)


def test_index_is_exactly_once_after_kill_9_with_the_checkpoint_on_s3(s3, topics, tmp_path):
    paths = planted_stream(tmp_path / "images", count=24, seed=24, group_every=4)
    run = uuid.uuid4().hex[:8]
    uris = upload(s3, paths, run)
    config = on_s3(topics, run, run)
    produce(
        config,
        config.kafka.images_topic,
        [Message(uri, json.dumps({"id": uri, "uri": uri}).encode()) for uri in uris.values()],
    )
    s3_settings = {
        f"s3.{key}": str(getattr(config.s3, key))
        for key in ("endpoint_url", "region", "access_key_id", "secret_access_key")
    }
    command = stream_command(config, **s3_settings, **{"s3.path_style": "true"})
    command[command.index("--max-offsets-per-trigger") + 1] = "4"
    # SIGKILL at the two worst moments (the alerts sent, the Delta commit done, the checkpoint's
    # commit not); test_crash.py kills at random moments too, on a local checkpoint.
    for n, crash_at in enumerate(("after_register:1", "after_alerts:3")):
        log = tmp_path / f"driver-{n}.log"
        with log.open("wb") as output:
            driver = subprocess.run(
                command,
                env={**os.environ, "NEARDUP_CRASH_AT": crash_at},
                stdout=output,
                stderr=output,
                timeout=900,
            )
        assert driver.returncode == -signal.SIGKILL, log.read_text()[-3000:]
        ids = index_ids(config)
        assert len(ids) == len(set(ids)), f"an image registered twice after a kill at {crash_at}"

    final = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert final.returncode == 0, final.stderr[-3000:]
    assert Counter(index_ids(config)) == Counter(uris.values())
    expected = {(uris[Path(a)], uris[Path(b)]) for a, b in expected_alerts(paths, config)}
    assert set(alerts_by_id(config).values()) == expected
