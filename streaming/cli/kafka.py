"""`neardup kafka start|stop|status`: the embedded single-node KRaft broker."""

from __future__ import annotations

import argparse

from streaming.config import Config


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "kafka",
        help="start, stop or check the local Kafka broker",
        description=(
            "A real single-node Kafka broker (KRaft, broker and controller in one process) on "
            "127.0.0.1, from the jars `make setup` resolved. Data and logs live in "
            "kafka.local.state_dir."
        ),
    )
    parser.add_argument("action", choices=("start", "stop", "status"))
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, config: Config) -> int:
    from streaming.local import kafka

    if args.action == "status":
        message = kafka.status(config)
        print(message)
        return 0 if kafka.running_pid(config) is not None else 3
    try:
        print(kafka.start(config) if args.action == "start" else kafka.stop(config))
    except kafka.BrokerError as e:
        print(f"error: {e}")
        return 1
    return 0
