"""What a restart of the stream costs before it reads again, against the Spark session it needs.

    python -m bench.restart --runs 5 --json

A planted corpus is streamed once (`neardup stream --available-now`, which creates the index and
the checkpoint); then, `--runs` times each and in turn:
- session: a fresh interpreter that starts neardup's Spark session and stops it (the baseline:
  what any restart pays);
- restart: the same `neardup stream --available-now` again, with nothing new on the topic (the
  index opened and checked, the topics checked, the query started from the checkpoint, stopped).
Each JSON line gives the median seconds of one kind; `over_session` is the restart's median over
the session's (what neardup adds to Spark's start, the Python interpreter's included).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from streaming.config import Config, load_config
from streaming.local import kafka
from tests.integration.corpus import planted_stream, produce, references
from tests.integration.streams import neardup_command

SESSION = (
    "from streaming.config import load_config\n"
    "from streaming.local.spark import spark_session\n"
    "spark_session(load_config()).stop()\n"
)


def timed(command: list[str], log: Path) -> float:
    """Seconds the command ran (its output kept in log)."""
    began = time.monotonic()
    with log.open("wb") as out:
        subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, check=True, timeout=600)
    return time.monotonic() - began


def stream_command(config: Config, state: Path) -> list[str]:
    checkpoint = str(state / "checkpoint")
    return neardup_command(
        config, "stream", "--available-now", "--checkpoint", checkpoint, log_level="INFO"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--images", type=int, default=16, help="images in the planted corpus")
    parser.add_argument("--json", action="store_true", help="JSON lines only")
    args = parser.parse_args()

    state = Path(tempfile.mkdtemp(prefix="neardup-restart-"))
    config = load_config(
        overrides={
            "index.path": str(state / "index"),
            "kafka.local.state_dir": str(state / "kafka"),
            "kafka.local.port": 19502,
            "kafka.local.controller_port": 19503,
            "kafka.bootstrap_servers": "127.0.0.1:19502",
            "kafka.images_topic": "restart-images",
            "sources.allowed_roots": [str(state)],
        },
        environ={},
    )
    started = kafka.start(config)
    if not args.json:
        print(started, flush=True)
    try:
        images = planted_stream(state / "corpus", count=args.images, seed=7, group_every=4)
        produce(config, config.kafka.images_topic, references(images))
        command = stream_command(config, state)
        first = timed(command, state / "first.log")
        session, restart = [], []
        for n in range(args.runs):
            session.append(timed([sys.executable, "-c", SESSION], state / f"session-{n}.log"))
            restart.append(timed(command, state / f"restart-{n}.log"))
    finally:
        kafka.stop(config)
    rows = [
        {"kind": "first_run", "images": args.images, "seconds": round(first, 2)},
        {"kind": "session", "runs": args.runs, "median_s": round(statistics.median(session), 2)},
        {
            "kind": "restart",
            "runs": args.runs,
            "median_s": round(statistics.median(restart), 2),
            "over_session": round(statistics.median(restart) / statistics.median(session), 2),
        },
    ]
    for row in rows:
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
