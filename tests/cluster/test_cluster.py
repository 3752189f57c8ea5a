"""The streaming job on a real Spark standalone cluster (a master and two workers, each its own
JVM), submitted with spark-submit, gives the alerts of the same stream processed in local mode."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from streaming.config import Config
from streaming.local import cluster

from ..conftest import _free_port
from ..integration.corpus import planted_stream, produce, references
from ..integration.streams import alert_pairs, fresh, read_topic, run_available_now
from ..listening import beyond_loopback, listening

WORKERS = 2


@pytest.fixture(scope="module")
def standalone(config: Config, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Config]:
    """A running cluster on free ports for this module; yields the config that points at it."""
    worker_ui = _free_port()
    on_cluster = config.replace(
        **{
            "cluster.master_port": _free_port(),
            "cluster.webui_port": _free_port(),
            "cluster.worker_webui_port": worker_ui,
            "cluster.workers": WORKERS,
            "cluster.state_dir": str(tmp_path_factory.mktemp("cluster")),
        }
    )
    cluster.start(on_cluster)
    yield on_cluster
    cluster.stop(on_cluster)


@pytest.mark.slow
def test_cluster_start_registers_every_worker_and_stop_ends_them(standalone):
    workers = cluster.alive_workers(standalone)
    assert len(workers) == WORKERS
    assert all(w["cores"] == standalone.cluster.cores for w in workers)
    assert cluster.is_running(standalone)
    # The master's and the workers' UIs ask no credentials: they listen on loopback only.
    pids = [int(p.read_text()) for p in Path(standalone.cluster.state_dir).glob("*.pid")]
    assert len(pids) == 1 + WORKERS
    assert all(listening(pid) and not beyond_loopback(pid) for pid in pids)


@pytest.mark.slow
def test_submitted_stream_alerts_equal_local_mode(spark, topics, standalone, tmp_path):
    paths = planted_stream(tmp_path / "images", 24, seed=11, group_every=6)
    produce(topics, topics.kafka.images_topic, references(paths), partitions=WORKERS)

    local = fresh(topics, tmp_path / "local")
    run_available_now(spark, local)
    local_alerts = read_topic(local, local.kafka.alerts_topic)

    submitted = fresh(topics, tmp_path / "submitted").replace(
        **{"kafka.alerts_topic": f"{topics.kafka.alerts_topic}-cluster"},
        cluster=standalone.cluster,
    )
    argv, env = cluster.submit_command(submitted, ["stream", "--available-now"])
    driver_log = tmp_path / "driver.log"
    with driver_log.open("w") as log:
        result = subprocess.run(argv, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=600)
    assert result.returncode == 0, f"spark-submit failed; see {driver_log}"
    cluster_alerts = read_topic(submitted, submitted.kafka.alerts_topic)

    assert local_alerts, "the planted near-duplicates give alerts"
    assert {a["alert_id"] for a in cluster_alerts} == {a["alert_id"] for a in local_alerts}
    assert alert_pairs(cluster_alerts) == alert_pairs(local_alerts)
    # The work ran in executors of both workers, not in the driver: each worker keeps a folder per
    # executor.
    state = Path(standalone.cluster.state_dir)
    executors = {n: list(state.glob(f"work/worker-{n}/app-*/*")) for n in range(1, WORKERS + 1)}
    assert all(executors.values()), executors
