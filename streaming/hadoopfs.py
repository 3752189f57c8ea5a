"""Folders and small files on any file system Spark is configured for (local, HDFS, s3a, abfs),
read on the driver through Hadoop's FileSystem: what the index and checkpoint checks look at before
a query writes anything. No Spark job runs.
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import SparkSession


def list_folder(spark: SparkSession, path: str) -> list[str] | None:
    """The names in a folder; None when nothing is there. NotADirectoryError for a file."""
    fs, hadoop_path = _resolve(spark, path)
    if not fs.exists(hadoop_path):
        return None
    if not fs.getFileStatus(hadoop_path).isDirectory():
        raise NotADirectoryError(path)
    return sorted(status.getPath().getName() for status in fs.listStatus(hadoop_path))


def read_text(spark: SparkSession, path: str) -> str:
    """A small file's text (UTF-8, invalid bytes replaced)."""
    fs, hadoop_path = _resolve(spark, path)
    stream = fs.open(hadoop_path)
    try:
        data = _jvm(spark).org.apache.commons.io.IOUtils.toByteArray(stream)
    finally:
        stream.close()
    return bytes(data).decode("utf-8", "replace")


def _resolve(spark: SparkSession, path: str) -> tuple[Any, Any]:
    hadoop_path = _jvm(spark).org.apache.hadoop.fs.Path(path)
    return hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), hadoop_path


def _jvm(spark: SparkSession) -> Any:
    jvm = spark.sparkContext._jvm
    assert jvm is not None  # a live session has its gateway
    return jvm
