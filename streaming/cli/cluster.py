"""`neardup cluster start|stop|status|submit`: a real Spark standalone cluster (master and workers)
on 127.0.0.1."""

from __future__ import annotations

import argparse
import subprocess

from streaming.config import Config


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "cluster",
        help="start, stop or check a local Spark standalone cluster, or submit a command to it",
        description=(
            "A Spark master and cluster.workers workers (cluster.cores cores, cluster.memory each),"
            " each its own JVM from the pyspark wheel, on 127.0.0.1; logs and pids in "
            "cluster.state_dir. `submit` runs a neardup command through spark-submit as a driver on"
            " it, e.g. `neardup cluster submit stream --available-now`; its paths (index, "
            "checkpoint, sources.allowed_roots) must be absolute."
        ),
    )
    parser.add_argument("action", choices=("start", "stop", "status", "submit"))
    parser.add_argument("--workers", type=int, help="default: cluster.workers")
    parser.add_argument(
        "command", nargs=argparse.REMAINDER, help="for submit: the neardup command and its flags"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, config: Config) -> int:
    from streaming.local import cluster

    if args.workers is not None:
        config = config.replace(**{"cluster.workers": args.workers})
    if args.action == "status":
        print(cluster.status(config))
        return 0 if cluster.is_running(config) else 3
    if args.action == "submit":
        if not args.command:
            print(
                "error: submit needs a neardup command, "
                "e.g. `neardup cluster submit stream --available-now`"
            )
            return 2
        argv, env = cluster.submit_command(config, args.command)
        return subprocess.run(argv, env=env).returncode
    try:
        print(cluster.start(config) if args.action == "start" else cluster.stop(config))
    except cluster.ClusterError as e:
        print(f"error: {e}")
        return 1
    return 0
