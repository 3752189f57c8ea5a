"""`neardup alerts`: print duplicate alerts from Kafka as JSON lines."""

from __future__ import annotations

import argparse
import json

from streaming.config import Config


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "alerts",
        help="print duplicate alerts as JSON lines",
        description=(
            "Read the alerts topic and print each alert (schemas/duplicate_alert.schema.json) as a "
            "JSON line. Delivery is at-least-once: use --unique to drop repeats by alert_id."
        ),
    )
    parser.add_argument(
        "--from-beginning", action="store_true", help="read the topic from its first offset"
    )
    parser.add_argument("--max", type=int, metavar="N", help="stop after N alerts")
    parser.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="stop after S seconds without a new alert (default: 10)",
    )
    parser.add_argument("--pretty", action="store_true", help="indented JSON")
    parser.add_argument("--unique", action="store_true", help="print each alert_id once")
    parser.add_argument("--dry-run", action="store_true", help="read the dry-run alerts topic")
    parser.add_argument("--topic", help="default: kafka.alerts_topic")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, config: Config) -> int:
    from streaming import kafka_io

    topic = args.topic or (
        config.kafka.dry_run_alerts_topic if args.dry_run else config.kafka.alerts_topic
    )
    seen: set[str] = set()
    for _key, alert in kafka_io.consume_json(
        config, topic, args.from_beginning, args.timeout, args.max
    ):
        if args.unique:
            if alert.get("alert_id") in seen:
                continue
            seen.add(alert.get("alert_id"))
        print(json.dumps(alert, indent=2 if args.pretty else None), flush=True)
    return 0
