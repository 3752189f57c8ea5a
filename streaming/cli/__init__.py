"""`neardup`: the command line. Each subcommand lives in a module of this package with
`add_parser(subparsers)` and `run(args, config) -> exit code`; none imports pyspark until it runs.
A NeardupError raised anywhere below ends the command with its message on stderr and its exit code
(streaming.errors.ExitCode), its traceback logged at DEBUG only.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from streaming import __version__
from streaming.config import load_config
from streaming.errors import ConfigError, ExitCode, NeardupError

log = logging.getLogger("neardup")

COMMANDS = (
    *("kafka", "s3", "produce", "stream", "alerts", "review", "hash", "evaluate", "index", "dedup"),
    *("bank", "matches", "cluster"),
)

DESCRIPTION = """\
neardup finds near-duplicate images in a stream: image references arrive on Kafka, each image is
hashed once (imagehash's hashes and PDQ), matched against a Delta Lake index of known hashes by
multi-index hashing (bands held on the driver or in shards on the executors, or joined in Spark:
index.lookup), and duplicate alerts are published back to Kafka.

Configuration: conf/local.toml holds the embedded defaults; --config FILE layers a TOML file over
it, NEARDUP_<SECTION>_<KEY> variables override both (e.g. NEARDUP_KAFKA_BOOTSTRAP_SERVERS), and
--set section.key=value or a command's own flags override everything.
"""

EXAMPLES = """\
examples:
  neardup kafka start                       # the local KRaft broker on 127.0.0.1:9092
  neardup produce photos/                   # one reference per image to topic `images`
  neardup stream --available-now            # hash, match, alert, register; exit when caught up
  neardup alerts --from-beginning --pretty  # read the duplicate alerts
  neardup hash --types phash,dhash a.jpg    # hashes as JSON lines, no Spark
  neardup evaluate labelled/ --truth-from-folders  # precision/recall per hash and threshold
  neardup dedup photos/ --output pairs.jsonl --report dup.html
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="neardup",
        description=DESCRIPTION,
        epilog=f"{EXAMPLES}\n{exit_codes()}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"neardup {__version__}")
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=os.environ.get("NEARDUP_CONFIG"),
        help="TOML file layered over conf/local.toml (default: $NEARDUP_CONFIG)",
    )
    parser.add_argument(
        "--set",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        dest="settings",
        help="override one configuration key, e.g. --set hashing.threshold=8 (repeatable)",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="default: INFO; DEBUG adds the traceback of an error, and the Kafka and Spark "
        "clients' own logs",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"streaming.cli.{name}").add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    quiet_clients(debug=args.log_level == "DEBUG")
    try:
        config = load_config(args.config, overrides=_settings(parser, args.settings))
    except ConfigError as e:
        parser.error(f"invalid configuration: {e}")
    try:
        return args.func(args, config)
    except ConfigError as e:
        parser.error(f"invalid configuration: {e}")
    except NeardupError as e:
        log.debug("neardup %s failed", args.command, exc_info=True)
        print(f"neardup: {e.message}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED


def exit_codes() -> str:
    """The epilog's table of exit codes, from ExitCode."""
    width = max(len(code.name) for code in ExitCode)
    rows = [f"  {code.value:>3}  {code.name:<{width}}  {code.meaning}" for code in ExitCode]
    return "\n".join(["exit codes (docs/operators.md says what to do for each):", *rows])


def quiet_clients(debug: bool = False) -> None:
    """kafka-python and py4j log every connection at INFO and every failure with its traceback;
    the failures that matter reach neardup as exceptions, reported in one message. Their logs are
    for --log-level DEBUG."""
    if not debug:
        for name in ("kafka", "py4j"):
            logging.getLogger(name).setLevel(logging.CRITICAL)


def _settings(parser: argparse.ArgumentParser, settings: list[str]) -> dict[str, object]:
    import json

    overrides: dict[str, object] = {}
    for setting in settings:
        key, sep, value = setting.partition("=")
        if not sep:
            parser.error(f"--set {setting!r}: expected KEY=VALUE")
        try:
            overrides[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key.strip()] = value
    return overrides


if __name__ == "__main__":
    sys.exit(main())
