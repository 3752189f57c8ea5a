"""`neardup matches`: the match log (index.path/matches), one row per alert the stream published
or held back (flood control)."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

from streaming.config import Config
from streaming.errors import ExitCode, NeardupError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "matches",
        help="print the match log: every alert the stream published or held back, from the Delta "
        "table",
        description="The Delta table index.path/matches (schemas/delta/matches.sql), read without "
        "a JVM, oldest detection first. Any Delta reader can query it too.",
    )
    parser.add_argument(
        "--since", type=since, help="only matches detected at or after this ISO time (UTC if bare)"
    )
    parser.add_argument("--bank", help="only matches against this bank")
    parser.add_argument("--json", action="store_true", help="one JSON object a line")
    parser.set_defaults(func=run)


def since(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def run(args: argparse.Namespace, config: Config) -> int:
    from streaming.index.followed import FollowedTable, read
    from streaming.storage import delta_storage_options

    path = f"{config.index.path.rstrip('/')}/matches"
    table = FollowedTable(path, delta_storage_options(config, path)).latest()
    if table is None:
        raise NeardupError(f"{path}: no match log yet (the stream writes it)", ExitCode.USAGE)
    rows = read(table).to_pylist()
    rows = [
        row
        for row in rows
        if (args.since is None or row["detected_at"] >= args.since)
        and (args.bank is None or row["bank"] == args.bank)
    ]
    for row in sorted(rows, key=lambda row: (row["detected_at"], row["alert_id"])):
        if args.json:
            print(json.dumps(row, default=lambda value: value.isoformat()))
        else:
            print(
                f"{row['detected_at']:%Y-%m-%d %H:%M:%S} {row['image_id']} ~ {row['match_id']} "
                f"({row['hash_type']} {row['distance']}, bank {row['bank'] or '-'})"
                + (" held back" if row.get("sent") is False else "")
            )
    return 0
