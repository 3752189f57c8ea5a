"""`neardup index add|stats|optimize`: the Delta hash index outside the stream."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from streaming.cli.metadata import add_meta_argument, meta_object
from streaming.config import Config
from streaming.errors import ConfigError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "index",
        help="bulk-register known images, show or optimize the Delta index",
        description="The Delta index (index.path): a per-image table and a bands table.",
    )
    parser.add_argument("--index-path", help="default: index.path")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser(
        "add",
        help="register images of files or folders as a bank of known images",
        description="A Spark batch job: hash every image under PATHs, or named by a --manifest, "
        "and register it with --bank. Images match these as soon as they are registered, whatever "
        "their time. Running it twice registers nothing twice (ids are the absolute paths, or the "
        "manifest's ids).",
    )
    add.add_argument("paths", nargs="*", metavar="PATH")
    add.add_argument(
        "--bank", required=True, help="name of the bank, e.g. known-abuse or catalogue"
    )
    add.add_argument(
        "--manifest",
        type=Path,
        metavar="FILE.jsonl",
        help='one JSON object a line: {"uri": PATH_OR_URI, "id": optional, "meta": optional '
        "object}, read in chunks (millions of lines); a bad line is reported with its number and "
        "skipped, the others are registered",
    )
    add_meta_argument(add, "every image of this call (under a manifest line's own meta)")
    stats = actions.add_parser(
        "stats", help="size and layout of the index, and the lookup a stream would use (why)"
    )
    stats.add_argument("--json", action="store_true", help="one JSON object")
    actions.add_parser(
        "optimize", help="compact files and Z-order the bands by value (run it on a schedule)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, config: Config) -> int:
    if args.index_path:
        config = config.replace(**{"index.path": args.index_path})
    if args.action == "add":
        check_add(args)
    from streaming.batch.bulk import register_files, register_manifest
    from streaming.local.spark import spark_session
    from streaming.stream.job import open_index

    spark = spark_session(config)
    index = open_index(spark, config)
    if args.action == "add":
        meta = meta_object(args.meta)
        if args.manifest is not None:
            added, failed = register_manifest(spark, config, index, args.manifest, args.bank, meta)
        else:
            added, failed = register_files(spark, config, index, args.paths, args.bank, meta)
        print(
            f"registered {added} new images in bank {args.bank!r}; {len(failed)} refused or could "
            "not be hashed"
        )
        for path, code, message in failed:
            print(f"  {path}: {code} ({message})")
    elif args.action == "stats":
        from streaming.index.lookup import choose_lookup

        kind, why = choose_lookup(index, config.index)
        stats = {**index.stats(), "lookup": {"kind": kind, "why": why}}
        print(json.dumps(stats) if args.json else "\n".join(f"{k}: {v}" for k, v in stats.items()))
    else:
        index.optimize()
        print(f"optimized {index.images_path} and {index.bands_path}")
    return 0


def check_add(args: argparse.Namespace) -> None:
    """Refuse an `index add` without its images before a JVM starts."""
    if bool(args.paths) == (args.manifest is not None):
        raise ConfigError("index add takes PATHs or --manifest FILE.jsonl (one of the two)")
    if args.manifest is not None and not args.manifest.is_file():
        raise ConfigError(f"--manifest {args.manifest}: no such file")
