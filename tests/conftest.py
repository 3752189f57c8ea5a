"""Shared fixtures: one configuration, one Spark session, one Kafka broker and one S3 server per
test run.

The broker is a real KRaft broker and the S3 server a real s3proxy, on free loopback ports with
their data in a temporary folder, so a test run never touches a developer's servers or state. The
configuration points [s3] at the S3 server from the start, so the Spark session's S3A reaches it
whichever test starts the session; the server itself starts with the first test that asks for
`s3`.
"""

from __future__ import annotations

import random
import socket
import uuid
from collections.abc import Iterator

import pytest

from streaming.config import Config, load_config

_handed_out: set[int] = set()


def _free_port() -> int:
    """A loopback port that nothing listens on, below Linux's ephemeral range (32768 and up). A port
    there is also what the kernel gives outgoing connections and servers that bind port 0
    (Spark's, the cluster's), so one picked there can be taken before the broker binds it, as
    happened in CI."""
    while True:
        port = random.randrange(20000, 32000)
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port


@pytest.fixture(scope="session")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """The embedded defaults with state under a temporary folder, so runs never share a table."""
    state = tmp_path_factory.mktemp("state")
    port = _free_port()
    s3_port = _free_port()
    return load_config(
        overrides={
            "index.path": str(state / "index"),
            "stream.checkpoint": str(state / "checkpoints"),
            "spark.master": "local[2]",
            "kafka.bootstrap_servers": f"127.0.0.1:{port}",
            "kafka.local.port": port,
            "kafka.local.controller_port": _free_port(),
            "kafka.local.state_dir": str(state / "kafka"),
            "sources.allowed_roots": [str(tmp_path_factory.getbasetemp())],
            "s3.endpoint_url": f"http://127.0.0.1:{s3_port}",
            "s3.region": "us-east-1",
            "s3.path_style": True,
            "s3.access_key_id": "neardup-test",
            "s3.secret_access_key": "neardup-test-secret",
            "s3.local.port": s3_port,
            "s3.local.state_dir": str(state / "s3"),
            "s3.local.buckets": ["lake", "images"],
        },
        environ={},
    )


@pytest.fixture(scope="session")
def spark(broker: Config):
    """The session; it depends on the broker so that it stops first (its Kafka producers close
    cleanly)."""
    from streaming.local.spark import spark_session

    config = broker
    session = spark_session(config)
    yield session
    session.stop()


@pytest.fixture(scope="session")
def broker(config: Config) -> Iterator[Config]:
    """A running broker for the whole session; yields the config that points at it."""
    from streaming.local import kafka

    kafka.start(config)
    yield config
    kafka.stop(config)


@pytest.fixture(scope="session")
def s3(config: Config) -> Iterator[Config]:
    """A running S3 server (s3proxy) for the whole session, with the buckets `lake` and `images`;
    yields the config, whose [s3] points at it."""
    from streaming.local import s3

    s3.start(config)
    yield config
    s3.stop(config)


@pytest.fixture
def topics(broker: Config) -> Config:
    """The broker's config with topic names of this test's own, so tests never read each other's
    messages."""
    run = uuid.uuid4().hex[:8]
    return broker.replace(
        **{
            "kafka.images_topic": f"images-{run}",
            "kafka.alerts_topic": f"duplicates-{run}",
            "kafka.dlq_topic": f"images-dlq-{run}",
            "kafka.dry_run_alerts_topic": f"duplicates-dry-run-{run}",
        }
    )
