"""The Spark session: Delta and the Kafka connector from the locally resolved jars, never
downloaded.

What can be checked before the JVM starts is checked first, so that a missing setup or master ends
the command in one message instead of Spark's start-up log: Java and the jars (SETUP_INCOMPLETE),
a spark:// master that does not answer (SPARK_UNREACHABLE). Once the session is up, a standalone
master must give it an executor within spark.executor_timeout_s (NO_WORKERS), or the job would
wait for resources forever.
"""

from __future__ import annotations

import logging
import os
import sys
import time

from pyspark.sql import SparkSession

from streaming.config import Config
from streaming.errors import ExitCode, NeardupError
from streaming.local.jars import jars, java
from streaming.local.processes import LOOPBACK, port_open
from streaming.storage import spark_hadoop_conf

STANDALONE = "spark://"
STANDALONE_PORT = 7077
# The loggers that report a failed task, write or query with its whole stack trace (Utils: its
# "Aborting task"); the failure reaches neardup as an exception, which the CLI reports in one
# message. They log as usual at --log-level DEBUG.
FAILURE_REPORTERS = (
    "org.apache.spark.executor.Executor",
    "org.apache.spark.scheduler.TaskSetManager",
    "org.apache.spark.util.Utils",
    "org.apache.spark.sql.execution.datasources.FileFormatWriter",
    "org.apache.spark.sql.delta.files.DeltaFileFormatWriter",
    "org.apache.spark.sql.execution.streaming.runtime.MicroBatchExecution",
    "org.apache.hadoop.mapreduce.lib.output.FileOutputCommitter",
)
# Kafka's client logs a WARN each time it fails to reach a broker: every second of an outage.
# The first is kept, then one a minute (docs/operators.md).
RECONNECT_WARNINGS = "org.apache.kafka.clients.NetworkClient"
RECONNECT_WARNINGS_PER_S = 1 / 60

log = logging.getLogger(__name__)


def spark_session(config: Config) -> SparkSession:
    """The process's session, created on first use from config.spark; later calls return the same
    one."""
    spark_jars = jars("spark")
    java()  # spark-submit runs the same one: JAVA_HOME's, else the first on PATH
    check_master(config)
    # Executors must run this interpreter (the venv's), or they start a python without pandas.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if on_loopback(config.spark.master):
        # Spark binds its UI (which asks no credentials) and its ports to every interface unless
        # told otherwise; a user's own SPARK_LOCAL_IP wins.
        os.environ.setdefault("SPARK_LOCAL_IP", LOOPBACK)
    builder = (
        SparkSession.builder.master(config.spark.master)
        .appName(config.spark.app_name)
        .config("spark.jars", ",".join(str(j) for j in spark_jars))
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config(
            "spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog"
        )
        .config("spark.sql.shuffle.partitions", str(config.spark.shuffle_partitions))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.databricks.delta.snapshotPartitions", "2")
    )
    # S3A from [s3] (s3:// included); the user's own [spark.conf] wins.
    for key, value in {**spark_hadoop_conf(config.s3), **config.spark.conf}.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    if not log.isEnabledFor(logging.DEBUG):
        _quiet(session, FAILURE_REPORTERS)
        _rate_limit(session, RECONNECT_WARNINGS, RECONNECT_WARNINGS_PER_S)
    wait_for_executor(session, config)
    return session


def on_loopback(master: str) -> bool:
    """Whether the master runs on this machine alone: local[...], or spark:// masters on the
    loopback address (`neardup cluster start`'s)."""
    if not master.startswith(STANDALONE):
        return master.startswith("local")
    return {host for host, _ in _addresses(master)} <= {LOOPBACK, "localhost"}


def check_master(config: Config) -> None:
    """A spark:// master (or each of an HA list) must accept a connection within
    spark.connect_timeout_s: Spark's own client retries for a minute, logging each attempt."""
    master = config.spark.master
    if not master.startswith(STANDALONE):
        return
    timeout_s = config.spark.connect_timeout_s
    if not any(port_open(port, host, timeout_s) for host, port in _addresses(master)):
        raise NeardupError(
            f"no Spark master answers at {master} (spark.master)\n"
            "start one with `neardup cluster start`, or set spark.master "
            "(local[2] runs Spark in this process)",
            ExitCode.SPARK_UNREACHABLE,
        )


def wait_for_executor(session: SparkSession, config: Config) -> None:
    """A standalone master queues an application until a worker has its cores and memory free,
    however long that takes: give it spark.executor_timeout_s to start one executor."""
    context = session.sparkContext
    dynamic = context.getConf().get("spark.dynamicAllocation.enabled", "false") == "true"
    if not config.spark.master.startswith(STANDALONE) or dynamic:
        return
    # The status tracker lists the driver too; pyspark's wrapper has no executor list.
    tracker = context._jsc.sc().statusTracker()
    deadline = time.monotonic() + config.spark.executor_timeout_s
    while len(tracker.getExecutorInfos()) < 2:
        if time.monotonic() > deadline:
            session.stop()
            raise NeardupError(
                f"the Spark master at {config.spark.master} gave this job no executor in "
                f"{config.spark.executor_timeout_s} s (spark.executor_timeout_s): no worker "
                "has its cores and memory free\n"
                "start workers (`neardup cluster start`), or free or add cores; the master's web "
                "UI lists its workers",
                ExitCode.NO_WORKERS,
            )
        time.sleep(0.2)


def _addresses(master: str) -> list[tuple[str, int]]:
    """(host, port) of each master a spark:// URL lists (an HA list has several)."""
    return [_host_port(a) for a in master.removeprefix(STANDALONE).split(",")]


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.strip().rstrip("/").rpartition(":")
    return (host, int(port)) if host and port.isdigit() else (address.strip(), STANDALONE_PORT)


def _quiet(session: SparkSession, loggers: tuple[str, ...]) -> None:
    jvm = session.sparkContext._jvm
    assert jvm is not None  # a live session has its gateway
    configurator = jvm.org.apache.logging.log4j.core.config.Configurator
    for name in loggers:
        configurator.setLevel(name, jvm.org.apache.logging.log4j.Level.OFF)


def _rate_limit(session: SparkSession, logger: str, per_s: float) -> None:
    """The logger's warnings, the first kept, then at most per_s a second (log4j's BurstFilter);
    its errors all pass."""
    jvm = session.sparkContext._jvm
    assert jvm is not None  # a live session has its gateway
    log4j = jvm.org.apache.logging.log4j
    burst = (
        log4j.core.filter.BurstFilter.newBuilder()
        .setLevel(log4j.Level.WARN)
        .setRate(per_s)
        .setMaxBurst(1)
        .build()
    )
    context = log4j.LogManager.getContext(False)
    config = log4j.core.config.LoggerConfig(logger, log4j.Level.WARN, True)
    config.addFilter(burst)
    context.getConfiguration().addLogger(logger, config)
    context.updateLoggers()
