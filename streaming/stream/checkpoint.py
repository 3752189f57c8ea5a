"""The check made before a query starts from a checkpoint: that it is this query's.

Spark keeps each micro-batch's source offsets in the checkpoint's offsets/<batch id> file: a version
line, the batch's metadata, then one line per source, for Kafka {"topic": {"partition": offset}}.
A checkpoint of another topic would resume the images topic at offsets that are not its own, so
it is refused, as is a folder that holds files but no checkpoint; nothing is written either way.
"""

from __future__ import annotations

import json

from pyspark.sql import SparkSession

from streaming.errors import ExitCode, NeardupError
from streaming.hadoopfs import list_folder, read_text


def check_checkpoint(spark: SparkSession, path: str, topic: str) -> None:
    """Raise FOREIGN_CHECKPOINT unless `path` is missing, empty, or a checkpoint of `topic`."""
    try:
        names = list_folder(spark, path)
    except NotADirectoryError:
        raise foreign(path, "is a file, not a checkpoint folder") from None
    if not names:
        return
    if "metadata" not in names:
        raise foreign(path, "holds files but no Spark checkpoint (no `metadata` file)")
    batches = [int(name) for name in list_folder(spark, f"{path}/offsets") or [] if name.isdigit()]
    if not batches:
        return
    latest = f"{path}/offsets/{max(batches)}"
    try:
        topics = offset_topics(read_text(spark, latest))
    except ValueError as e:
        raise foreign(path, f"has an offsets file Spark did not write ({latest}: {e})") from None
    if topics != {topic}:
        raise foreign(
            path,
            f"belongs to a query of topic {', '.join(sorted(topics))}, not {topic}: use another "
            "--checkpoint for this topic",
        )


def offset_topics(text: str) -> set[str]:
    """The Kafka topics of an offsets file; ValueError if it is not one."""
    lines = text.splitlines()
    if len(lines) < 3 or not lines[0].startswith("v"):
        raise ValueError("expected a version line, the batch metadata and a line per source")
    topics: set[str] = set()
    for line in lines[2:]:
        if line == "-":  # a source without offsets yet
            continue
        offsets = json.loads(line)
        if not isinstance(offsets, dict) or not all(isinstance(p, dict) for p in offsets.values()):
            raise ValueError(f"not the offsets of a Kafka source: {line[:200]}")
        topics.update(offsets)
    return topics


def foreign(path: str, what: str) -> NeardupError:
    return NeardupError(f"checkpoint {path} {what}", ExitCode.FOREIGN_CHECKPOINT)
