"""The stream's neighbours failing under it, for real: the broker stopped mid-stream (and started
again, or never), and `neardup index add` committing while the stream registers. The stream runs as
`neardup stream --trigger 1s` in its own process, as an operator runs it."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from streaming.config import Config
from streaming.local import kafka

from .corpus import (
    Message,
    distinct_images,
    expected_alerts,
    near_duplicate,
    planted_stream,
    produce,
    references,
)
from .streams import (
    QUICK_TIMEOUTS,
    fresh,
    index_ids,
    neardup_command,
    read_topic,
    run_available_now,
    wait_for,
)

pytestmark = pytest.mark.slow


def stream_process(
    config: Config, log: Path, restarts: int, backoff: int = 2
) -> subprocess.Popen[bytes]:
    command = neardup_command(
        config,
        f"--set=kafka.security={json.dumps(QUICK_TIMEOUTS)}",
        f"--set=stream.restarts={restarts}",
        f"--set=stream.restart_backoff={backoff}",
        "stream",
        "--trigger",
        "1s",
        "--max-offsets-per-trigger",
        "10",
        "--checkpoint",
        config.stream.checkpoint,
        log_level="INFO",
    )
    with log.open("wb") as out:  # a file, not a pipe nobody reads
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen[bytes]) -> int:
    """Ctrl-C, as an operator stops the stream (the query stops between micro-batches)."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            return process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait()


def missing_files(folder: Path, count: int) -> list[Message]:
    """References to files that do not exist: each must end as a dead letter."""
    return references([folder / f"gone-{i}.jpg" for i in range(count)])


def test_a_broker_outage_loses_nothing_and_alerts_as_an_uninterrupted_run(spark, topics, tmp_path):
    paths = planted_stream(tmp_path / "images", count=30, seed=41, group_every=5)
    config = fresh(topics, tmp_path / "run")
    before = references(paths[:10])
    # bad messages among good ones (a micro-batch of only bad ones is another test's)
    after = [*references(paths[10:20]), *missing_files(tmp_path, 3), *references(paths[20:])]
    produce(config, config.kafka.images_topic, before)
    log = tmp_path / "stream.log"
    started = time.monotonic()
    stream = stream_process(config, log, restarts=8)
    try:
        wait_for(lambda: len(index_ids(config)) == 10, 600, "registration of the first 10")
        kafka.stop(config)
        try:
            # Down until the query has failed and the stream restarted it (the first restart meets
            # no broker either); the broker comes back while the stream keeps trying.
            wait_for(lambda: "restart 2 of 8" in log.read_text(), 600, "second restart")
        finally:
            kafka.start(config)
        produce(config, config.kafka.images_topic, after)
        wait_for(lambda: len(index_ids(config)) == len(paths), 600, "registration of all")
        wait_for(lambda: len(read_topic(config, config.kafka.dlq_topic)) >= 3, 120, "dead letters")
    finally:
        code = stop(stream)
    ran_s, text = time.monotonic() - started, log.read_text()
    assert code == 0, text[-3000:]
    assert "restart 1 of 8 in 2 s from the checkpoint: the Kafka broker is out of reach" in text
    # Kafka's client warns of each failed reconnect, every second: the first kept, then 1/min.
    assert 1 <= text.count("WARN NetworkClient") <= 2 + ran_s / 60

    # Nothing lost, nothing twice: every message is a registered image or a dead letter.
    assert Counter(index_ids(config)) == Counter(str(p) for p in paths)
    dead = {record["original"]["key"] for record in read_topic(config, config.kafka.dlq_topic)}
    assert dead == {message.key for message in after[10:13]}
    # The alert ids of the same topic streamed without interruption (a dry run: it registers
    # nothing, and alerts to the dry-run topic).
    baseline = fresh(topics, tmp_path / "baseline")
    run_available_now(spark, baseline, dry_run=True)
    expected = {a["alert_id"] for a in read_topic(baseline, baseline.kafka.dry_run_alerts_topic)}
    assert len(expected) >= 4
    assert {a["alert_id"] for a in read_topic(config, config.kafka.alerts_topic)} == expected


def test_an_outage_past_the_restarts_ends_with_its_exit_code_and_says_why(topics, tmp_path):
    paths = distinct_images(tmp_path / "images", count=4, seed=42)
    config = fresh(topics, tmp_path)
    produce(config, config.kafka.images_topic, references(paths))
    log = tmp_path / "stream.log"
    stream = stream_process(config, log, restarts=1, backoff=1)
    try:
        wait_for(lambda: "INFO neardup.stream: streaming" in log.read_text(), 600, "query start")
        kafka.stop(config)
        # the broker never comes back: the failure, one restart that fails, then the exit
        code = stream.wait(timeout=600)
    finally:
        stream.kill()
        kafka.start(config)
    text = log.read_text()
    assert code == 60, text[-3000:]  # ExitCode.RESTARTS_EXHAUSTED
    assert "restart 1 of 1 in 1 s from the checkpoint: the Kafka broker is out of reach" in text
    assert "stream.restarts = 1 allows no more restarts" in text
    assert "Traceback" not in text.split("restart 1 of 1", 1)[1]


def test_index_add_commits_while_the_stream_registers(topics, tmp_path):
    """A bank registered by `neardup index add` while the stream commits micro-batches: both
    commits land, an id both register (a file that is in the bank and on the stream) has one row,
    and images produced after the bank is in alert against it."""
    stream_paths = planted_stream(tmp_path / "stream", count=30, seed=43, group_every=5)
    bank = distinct_images(tmp_path / "bank", count=8, seed=44)
    shared = stream_paths[20:24]  # on the stream and in the bank: the same id (the path)
    config = fresh(topics, tmp_path / "run")
    produce(config, config.kafka.images_topic, references(stream_paths[:10]))
    log = tmp_path / "stream.log"
    stream = stream_process(config, log, restarts=2)
    try:
        wait_for(lambda: len(index_ids(config)) >= 5, 600, "first registrations")
        produce(config, config.kafka.images_topic, references(stream_paths[10:]))
        added = subprocess.run(
            neardup_command(
                config, "index", "add", str(tmp_path / "bank"), *map(str, shared), "--bank", "known"
            ),
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert added.returncode == 0, added.stderr[-3000:]
        # after the bank's commit: near-duplicates of bank images
        later = [near_duplicate(path, edit) for edit, path in enumerate(bank[:3])]
        produce(config, config.kafka.images_topic, references(later))
        everything = {str(p) for p in [*stream_paths, *bank, *later]}
        wait_for(lambda: set(index_ids(config)) >= everything, 600, "registration of all")
    finally:
        code = stop(stream)
    assert code == 0, log.read_text()[-3000:]
    ids = index_ids(config)
    assert Counter(ids) == Counter(everything)  # one row per id, the shared ones included
    alerts = read_topic(config, config.kafka.alerts_topic)
    against_bank = {(a["image_id"], a["match_id"]) for a in alerts if a["bank"] == "known"}
    planted = {pair for pair in expected_alerts([*bank, *later], config) if Path(pair[0]) in later}
    assert planted and planted <= against_bank
