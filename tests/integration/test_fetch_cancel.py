"""A Spark task cancelled while its Python worker waits on reads in flight: the job ends, and no
Python worker is left reading (every connection to the server that never answers is closed)."""

from __future__ import annotations

import threading

import pandas as pd
import pytest
from pyspark.sql.types import (
    BinaryType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from streaming.hashing import HashSpec
from streaming.stream.ingest import ingest, ingested_schema
from tests.stalled import STALLED, WAIT_S, kafka_batches, sources_config, stalled_server

KAFKA_SCHEMA = StructType(
    [
        StructField("key", BinaryType()),
        StructField("value", BinaryType()),
        StructField("topic", StringType()),
        StructField("partition", IntegerType()),
        StructField("offset", LongType()),
        StructField("timestamp", TimestampType()),
    ]
)


@pytest.mark.slow
def test_a_task_cancelled_mid_batch_leaves_no_python_worker_reading(spark, tmp_path):
    spec = HashSpec(types=("phash",))
    with stalled_server() as server:
        config = sources_config(tmp_path, server.port)
        records = pd.concat(kafka_batches(tmp_path, server.port), ignore_index=True)
        frame = spark.createDataFrame(records, KAFKA_SCHEMA).coalesce(1)
        hashed = frame.mapInPandas(ingest(config, spec), ingested_schema(spec))
        failures: list[Exception] = []

        def run() -> None:
            spark.sparkContext.setJobGroup("stalled", "reads that never end", True)
            try:
                hashed.collect()
            except Exception as e:  # the cancellation
                failures.append(e)

        job = threading.Thread(target=run)
        job.start()
        server.wait_for(STALLED)  # the task's worker waits on its reads
        spark.sparkContext.cancelJobGroup("stalled")
        job.join(WAIT_S)
        assert not job.is_alive(), "the cancelled job does not end"
        assert failures, "the job was not cancelled"
        assert all(server.closed_by_client(c) for c in server.connections)
