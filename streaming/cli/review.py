"""`neardup review`: the review page over the stream's alerts."""

from __future__ import annotations

import argparse

from streaming.config import Config


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "review",
        help="open the review page over the alerts",
        description=(
            "Serve a page where people review duplicate alerts: both images side by side (or "
            "overlaid, or diffed), the distance, bank, metas and Kafka positions, filters, and "
            "keys j/k to move, y/n to decide, u to undo. Each decision is one Delta commit in the "
            "`decisions` table beside the index; a pair judged not a duplicate raises no alert "
            "again from the stream's next micro-batch. Listens on 127.0.0.1 unless --host says "
            "otherwise; any other address requires a token (review.token, else one is generated "
            "and printed in the URL)."
        ),
    )
    parser.add_argument("--host", help="address to listen on (default: review.host, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="default: review.port (8000)")
    parser.add_argument(
        "--source",
        choices=("auto", "matches", "topic"),
        help="the alerts' source (default: review.source; today the alerts topic)",
    )
    parser.add_argument("--topic", help="the alerts topic (default: kafka.alerts_topic)")
    parser.add_argument("--reviewer", help="name written in each decision (default: your user)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, config: Config) -> int:
    config = config.replace(
        **{
            f"review.{key}": value
            for key, value in {
                "host": args.host,
                "port": args.port,
                "source": args.source,
                "reviewer": args.reviewer,
            }.items()
            if value is not None
        }
    )
    from streaming.cli import quiet_clients
    from streaming.index.decisions import DecisionLog
    from streaming.review.alerts import open_source
    from streaming.review.app import alerts_app
    from streaming.review.security import access_token
    from streaming.review.serve import serve

    quiet_clients()
    token = access_token(config.review.token, config.review.host)
    source = open_source(config, args.topic or config.kafka.alerts_topic)
    decisions = DecisionLog(f"{config.index.path.rstrip('/')}/decisions")
    serve(alerts_app(config, source, decisions, token), config, token)
    return 0
