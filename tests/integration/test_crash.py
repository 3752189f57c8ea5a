"""Exactly-once index under crashes: the driver killed with SIGKILL at random points and at the
worst one (after the Delta commit, before the checkpoint commit), restarted each time from its
checkpoint."""

from __future__ import annotations

import os
import random
import signal
import subprocess
from collections import Counter

import pytest

from .corpus import expected_alerts, planted_stream, produce, references
from .streams import alert_pairs, fresh, index_ids, neardup_command, read_topic

pytestmark = pytest.mark.slow

BATCH = 6


def stream_command(config, **extra: str) -> list[str]:
    """`neardup stream` of the config's topics and paths, with any extra settings (dotted key ->
    value)."""
    return neardup_command(
        config,
        "stream",
        "--available-now",
        "--checkpoint",
        config.stream.checkpoint,
        "--max-offsets-per-trigger",
        str(BATCH),
        settings=extra,
    )


def test_index_is_exactly_once_and_alerts_complete_after_kill_9(topics, tmp_path):
    paths = planted_stream(tmp_path / "images", count=60, seed=60, group_every=5)
    config = fresh(topics, tmp_path)
    produce(config, config.kafka.images_topic, references(paths))
    command = stream_command(config)
    rng = random.Random(60)
    # Trials: two exact crash points, then kills at random moments of the run.
    trials = [
        {"NEARDUP_CRASH_AT": "after_register:1"},
        {"NEARDUP_CRASH_AT": "after_alerts:3"},
        {"NEARDUP_CRASH_AT": "after_register:4"},
    ]
    trials += [{"kill_after": rng.uniform(4.0, 20.0)} for _ in range(7)]
    outcomes = []
    for n, trial in enumerate(trials):
        env = {**os.environ, **{k: v for k, v in trial.items() if k == "NEARDUP_CRASH_AT"}}
        with (tmp_path / f"driver-{n}.log").open("wb") as log:  # a file, not a pipe nobody reads
            driver = subprocess.Popen(
                command, env=env, start_new_session=True, stdout=log, stderr=log
            )
        try:
            driver.wait(timeout=trial.get("kill_after", 300))
        except subprocess.TimeoutExpired:
            os.killpg(driver.pid, signal.SIGKILL)  # the Python driver and its JVM, like kill -9
            driver.wait()
        outcomes.append(driver.returncode)
        ids = index_ids(config)
        assert len(ids) == len(set(ids)), f"an image registered twice after {trial}"
    assert outcomes[:3] == [-signal.SIGKILL] * 3  # the crash points were reached
    assert -signal.SIGKILL in outcomes[3:]

    final = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stderr[-3000:]
    ids = index_ids(config)
    assert Counter(ids) == Counter({str(p) for p in paths})
    assert alert_pairs(read_topic(config, config.kafka.alerts_topic)) == expected_alerts(
        paths, config
    )
