"""Shared fixtures: one configuration, one Spark session and one Kafka broker per test run."""

from __future__ import annotations

import pytest

from streaming.config import Config, load_config


@pytest.fixture(scope="session")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """The embedded defaults with state under a temporary folder, so runs never share a table."""
    state = tmp_path_factory.mktemp("state")
    return load_config(
        overrides={
            "index.path": str(state / "index"),
            "stream.checkpoint": str(state / "checkpoints"),
            "spark.master": "local[2]",
        },
        environ={},
    )


@pytest.fixture(scope="session")
def spark(config: Config):
    from streaming.local.spark import spark_session

    session = spark_session(config)
    yield session
    session.stop()
