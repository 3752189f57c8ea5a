"""`neardup s3 start|stop|status|upload`: the embedded S3-compatible server (s3proxy)."""

from __future__ import annotations

import argparse
import sys

from streaming.config import Config
from streaming.errors import ExitCode


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "s3",
        help="start, stop or check the local S3 server; upload images to S3",
        description=(
            "A real S3-compatible server (s3proxy, from the jars `make setup` resolved) on "
            "127.0.0.1:s3.local.port, accepting the credentials of [s3]; objects are files under "
            "s3.local.state_dir, each bucket of s3.local.buckets a folder. `--config "
            "conf/s3-local.toml` points [s3] at it. `upload DIR s3://bucket/prefix/` copies the "
            "image files under DIR to any S3 store [s3] names."
        ),
    )
    parser.add_argument("action", choices=("start", "stop", "status", "upload"))
    parser.add_argument("paths", nargs="*", metavar="PATH", help="upload: image files or folders")
    parser.add_argument("--to", metavar="s3://BUCKET/PREFIX/", help="upload: where to")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, config: Config) -> int:
    from streaming.local import s3

    # A NeardupError (port taken, no credentials, the server exited) ends the command in main.
    if args.action == "status":
        print(s3.status(config))
        return ExitCode.OK if s3.running_pid(config) is not None else ExitCode.NOT_RUNNING
    if args.action == "upload":
        return upload(config, args.paths, args.to)
    print(s3.start(config) if args.action == "start" else s3.stop(config))
    return ExitCode.OK


def upload(config: Config, paths: list[str], target: str | None) -> int:
    """Copy image files to s3://bucket/prefix/, keeping their paths below each folder given."""
    from pathlib import Path

    import obstore

    from streaming.cli.produce import image_files
    from streaming.storage import open_store

    if not paths or not target or not target.startswith("s3://"):
        print("usage: neardup s3 upload PATH... --to s3://BUCKET/PREFIX/", file=sys.stderr)
        return ExitCode.USAGE
    bucket, _, prefix = target[len("s3://") :].partition("/")
    store = open_store(config, f"s3://{bucket}")
    sent = 0
    for name in paths:
        given = Path(name).absolute()
        base = given if given.is_dir() else given.parent
        for path in image_files([name]):
            key = f"{prefix.rstrip('/')}/{path.relative_to(base).as_posix()}".lstrip("/")
            obstore.put(store, key, path.read_bytes())
            sent += 1
    print(f"uploaded {sent} files to s3://{bucket}/{prefix}", file=sys.stderr)
    return ExitCode.OK if sent else ExitCode.FAILED
