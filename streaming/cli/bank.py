"""`neardup bank list|show|set|remove`: the banks a team runs (docs/banks.md)."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from streaming.config import Config
from streaming.errors import ExitCode, NeardupError

if TYPE_CHECKING:  # delta-rs is imported when a command runs
    from streaming.index.banks import BankPolicy, BankTable


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bank",
        help="list banks, change their policies (threshold, kind, enabled, labels), remove members",
        description="Each bank's policy is a row of the Delta table index.path/banks; every change "
        "is one Delta commit, applied by a running stream from its next micro-batch.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser(
        "list", help="name, kind, enabled, threshold, members, last change of every bank"
    )
    listing.add_argument("--json", action="store_true", help="one JSON object a line")
    show = actions.add_parser("show", help="one bank, as JSON")
    show.add_argument("name")
    change = actions.add_parser(
        "set",
        help="change a bank's policy (a bank without one is created with the defaults)",
        description="Defaults: kind alert, enabled, threshold hashing.threshold, no labels.",
    )
    change.add_argument("name")
    change.add_argument(
        "--threshold",
        type=int,
        help="primary-hash distance its members match within, at most hashing.threshold",
    )
    change.add_argument(
        "--kind",
        choices=("alert", "allow"),
        help="alert: its members raise alerts; allow: an image near one of them raises none",
    )
    enabled = change.add_mutually_exclusive_group()
    enabled.add_argument("--enable", dest="enabled", action="store_true", default=None)
    enabled.add_argument(
        "--disable", dest="enabled", action="store_false", help="its members match nothing"
    )
    change.add_argument("--labels", help="free labels, comma-separated (empty: none)")
    remove = actions.add_parser(
        "remove",
        help="delete a bank's members from the index (and its policy), or just the --member ids",
    )
    remove.add_argument("name")
    remove.add_argument(
        "--member", action="append", default=[], metavar="ID", help="an id to remove (repeatable)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, config: Config) -> int:
    from streaming.index.banks import BankTable
    from streaming.storage import delta_storage_options

    banks = BankTable(config.index.path, delta_storage_options(config, config.index.path))
    if args.action == "list":
        rows = summaries(config, banks)
        for row in rows:
            print(json.dumps(row, default=str) if args.json else line(row))
    elif args.action == "show":
        print(json.dumps(one(config, banks, args.name), default=str, indent=2))
    elif args.action == "set":
        set_policy(args, config, banks)
        print(line(one(config, banks, args.name)))
    else:
        removed = remove(args, config, banks)
        print(f"removed {removed} members of {args.name!r}")
    return 0


def set_policy(args: argparse.Namespace, config: Config, banks: BankTable) -> BankPolicy:
    changes: dict[str, Any] = {}
    if args.threshold is not None:
        if not 0 <= args.threshold <= config.hashing.threshold:
            raise NeardupError(
                f"--threshold {args.threshold}: a bank's threshold is 0..hashing.threshold "
                f"({config.hashing.threshold}), the farthest the index's bands reach",
                ExitCode.USAGE,
            )
        changes["threshold"] = args.threshold
    if args.kind is not None:
        changes["kind"] = args.kind
    if args.enabled is not None:
        changes["enabled"] = args.enabled
    if args.labels is not None:
        changes["labels"] = tuple(label.strip() for label in args.labels.split(",") if label)
    return banks.set(args.name, **changes)


def remove(args: argparse.Namespace, config: Config, banks: BankTable) -> int:
    """Delete the members (one Delta commit on `images`); without --member the policy too."""
    from streaming.local.spark import spark_session
    from streaming.stream.job import open_index

    index = open_index(spark_session(config), config)
    removed = index.remove_members(args.name, args.member)
    if not args.member:
        banks.remove(args.name)
    return removed


def summaries(config: Config, banks: BankTable) -> list[dict[str, Any]]:
    """Every bank with members or a policy, by name."""
    from streaming.index.banks import BankPolicy, member_counts
    from streaming.storage import delta_storage_options

    images = f"{config.index.path.rstrip('/')}/images"
    counts = member_counts(images, delta_storage_options(config, images))
    policies, changed = banks.policies(), banks.changed_at()
    return [
        summary(policies.get(name) or BankPolicy(name), counts.get(name, 0), changed.get(name))
        for name in sorted({*counts, *policies})
    ]


def one(config: Config, banks: BankTable, name: str) -> dict[str, Any]:
    found = [row for row in summaries(config, banks) if row["name"] == name]
    if not found:
        raise NeardupError(f"no bank {name!r}: neither members nor a policy", ExitCode.USAGE)
    return found[0]


def summary(policy: BankPolicy, members: int, changed_at: object) -> dict[str, Any]:
    return {
        "name": policy.name,
        "kind": policy.kind,
        "enabled": policy.enabled,
        "threshold": policy.threshold,  # None: hashing.threshold
        "labels": list(policy.labels),
        "members": members,
        "changed_at": changed_at,
    }


def line(row: dict[str, Any]) -> str:
    threshold = "global" if row["threshold"] is None else row["threshold"]
    state = "enabled" if row["enabled"] else "disabled"
    labels = ",".join(row["labels"]) or "-"
    return (
        f"{row['name']}: {row['kind']}, {state}, threshold {threshold}, {row['members']} members, "
        f"labels {labels}, changed {row['changed_at'] or 'never'}"
    )
