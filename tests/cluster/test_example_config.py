"""conf/cluster.example.toml, the overlay the operator's guide starts from, is a valid
configuration."""

from __future__ import annotations

from streaming import kafka_io
from streaming.config import PROJECT_ROOT, load_config


def test_example_cluster_config_loads_and_secures_spark_kafka_clients():
    config = load_config(PROJECT_ROOT / "conf" / "cluster.example.toml", environ={})
    assert config.spark.master.startswith("spark://")
    assert config.index.path.startswith("s3://") and config.stream.checkpoint.startswith("s3://")
    assert config.s3.region == "eu-west-1" and config.s3.access_key_id is None
    assert kafka_io.spark_options(config)["kafka.security.protocol"] == "SASL_SSL"
    # the overlay leaves what it does not name
    assert config.hashing == load_config(environ={}).hashing
