"""`neardup stream`: the streaming job, Kafka -> hashes -> banded match -> alerts, registered in
Delta."""

from __future__ import annotations

import argparse
import logging

from streaming.config import REGISTER_MODES, Config

log = logging.getLogger("neardup.stream")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "stream",
        help="run the streaming job",
        description=(
            "Consume image references from the images topic, hash each image, match it against the "
            "Delta index and the images before it, publish duplicate alerts, dead-letter bad "
            "messages and register the images. Restarting with the same --checkpoint resumes where "
            "the query stopped; a fresh checkpoint with --starting-offsets earliest replays the "
            "topic and gives the same alerts. When the broker or the storage is out of reach, the "
            "query is restarted from its checkpoint with a growing wait (stream.restarts, "
            "stream.restart_backoff, stream.restart_window); past those it exits with code 60."
        ),
    )
    parser.add_argument("--checkpoint", metavar="DIR", help="default: stream.checkpoint")
    parser.add_argument(
        "--starting-offsets",
        metavar="earliest|latest|JSON",
        help=(
            "for a new checkpoint only; JSON per partition, e.g. '{\"0\": 42}' (default: "
            "stream.starting_offsets)"
        ),
    )
    parser.add_argument(
        "--starting-timestamp",
        type=int,
        metavar="MILLIS",
        help="start at the first offset at or after this Kafka timestamp (new checkpoint only)",
    )
    parser.add_argument(
        "--max-offsets-per-trigger",
        type=int,
        metavar="N",
        help="default: stream.max_offsets_per_trigger",
    )
    when = parser.add_mutually_exclusive_group()
    when.add_argument(
        "--trigger",
        metavar="INTERVAL",
        help="micro-batch interval, e.g. 5s (default: stream.trigger)",
    )
    when.add_argument(
        "--available-now", action="store_true", help="process what is available, then exit"
    )
    parser.add_argument(
        "--register",
        choices=REGISTER_MODES,
        help="which images enter the index (default: stream.register)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="register nothing and send alerts to kafka.dry_run_alerts_topic (for replays)",
    )
    parser.add_argument("--index-path", help="default: index.path")
    parser.add_argument("--bootstrap-servers", help="default: kafka.bootstrap_servers")
    parser.add_argument("--threshold", type=int, help="default: hashing.threshold")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, config: Config) -> int:
    config = config.replace(
        **{
            key: value
            for key, value in {
                "index.path": args.index_path,
                "kafka.bootstrap_servers": args.bootstrap_servers,
                "hashing.threshold": args.threshold,
            }.items()
            if value is not None
        }
    )
    from streaming import kafka_io
    from streaming.local.spark import spark_session
    from streaming.storage import check_reachable
    from streaming.stream.failures import check_writable, storage_errors
    from streaming.stream.job import StreamOptions, start_stream, stream_topics
    from streaming.stream.supervisor import RestartPolicy, supervise

    options = StreamOptions.from_config(
        config,
        checkpoint=args.checkpoint,
        starting_offsets=args.starting_offsets,
        starting_timestamp=args.starting_timestamp,
        max_offsets_per_trigger=args.max_offsets_per_trigger,
        trigger=args.trigger,
        available_now=args.available_now or None,
        register=args.register,
        dry_run=args.dry_run or None,
    )
    paths = {"index.path": config.index.path, "stream.checkpoint": options.checkpoint}
    # What can fail before Spark starts fails first, each in one message (streaming.errors).
    check_writable(paths)
    for path in paths.values():
        check_reachable(config, path)
    kafka_io.ensure_topics(config, stream_topics(config, options))
    spark = spark_session(config)

    def run_query() -> None:
        query = start_stream(spark, config, options)
        log.info(
            "streaming %s -> %s (checkpoint %s, index %s)",
            config.kafka.images_topic,
            config.kafka.alerts_topic,
            options.checkpoint,
            config.index.path,
        )
        try:
            with storage_errors(paths):
                query.awaitTermination()  # raises the query's failure
        except KeyboardInterrupt:
            log.info("stopping")
            query.stop()

    try:
        supervise(run_query, RestartPolicy.from_config(config))
    finally:
        spark.stop()  # delivers the listener's last progress line before the process exits
    return 0
