"""The Spark session: Delta and the Kafka connector from the locally resolved jars, never
downloaded."""

from __future__ import annotations

import os
import sys

from pyspark.sql import SparkSession

from streaming.config import Config
from streaming.local.jars import jars


def spark_session(config: Config) -> SparkSession:
    """The process's session, created on first use from config.spark; later calls return the same
    one."""
    # Executors must run this interpreter (the venv's), or they start a python without pandas.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.master(config.spark.master)
        .appName(config.spark.app_name)
        .config("spark.jars", ",".join(str(j) for j in jars("spark")))
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config(
            "spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog"
        )
        .config("spark.sql.shuffle.partitions", str(config.spark.shuffle_partitions))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.databricks.delta.snapshotPartitions", "2")
    )
    for key, value in config.spark.conf.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    return session
