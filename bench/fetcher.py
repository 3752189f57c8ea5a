"""What a Fetcher's life costs (its thread, event loop, http session, the store's client and first
connection, and its close), against reading the same small image through one Fetcher kept open:
what a Fetcher per Python worker instead of one per micro-batch (mapInPandas call) would save.

    python -m bench.fetcher --json

One line per source (a local file, an object of the local S3 server):
{"source", "cycles", "ms_per_life", "ms_per_read_kept_open", "ms_saved_per_micro_batch",
"cpu_ms_saved_per_micro_batch", "life_over_read"}: a life is `with Fetcher(config) as f:
f.read(uri)`, the baseline the same read through a Fetcher opened once, in the same run.
"""

from __future__ import annotations

import bench.one_thread  # noqa: F401  (before numpy)

# isort: split

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bench.local_s3 import BUCKET, s3_config, upload
from streaming.config import Config
from streaming.local import s3
from streaming.sources import Fetcher


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cycles", type=int, default=50, help="fetchers opened per source")
    parser.add_argument("--json", action="store_true", help="JSON lines only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-fetcher-") as state:
        image = Path(state) / "images" / "photo.png"
        image.parent.mkdir()
        pixels = np.random.default_rng(0).integers(0, 256, (64, 64, 3), np.uint8)
        cv2.imwrite(str(image), pixels)
        config = s3_config(Path(state) / "s3", image.parent)
        s3.start(config)
        try:
            upload(config, [image])
            for source, uri in (("file", str(image)), ("s3", f"s3://{BUCKET}/{image.name}")):
                result = _measure(config, uri, args.cycles)
                print(json.dumps({"source": source, **result}) if args.json else result)
        finally:
            s3.stop(config)


def _measure(config: Config, uri: str, cycles: int) -> dict[str, Any]:
    def life() -> None:
        with Fetcher(config) as fetcher:
            fetcher.read(uri, None)

    with Fetcher(config) as kept:
        kept.read(uri, None)  # the store's client and connection, as a worker's earlier batch
        read_wall, read_cpu = _timed(lambda: kept.read(uri, None), cycles)
    life()  # imports and first-use costs, not timed
    life_wall, life_cpu = _timed(life, cycles)
    return {
        "cycles": cycles,
        "ms_per_life": round(life_wall, 2),
        "ms_per_read_kept_open": round(read_wall, 2),
        "ms_saved_per_micro_batch": round(life_wall - read_wall, 2),
        "cpu_ms_saved_per_micro_batch": round(life_cpu - read_cpu, 2),
        "life_over_read": round(life_wall / read_wall, 1),
    }


def _timed(call: Callable[[], None], cycles: int) -> tuple[float, float]:
    """(wall ms, process CPU ms) per call, the median wall time of `cycles` calls."""
    walls = []
    cpu = time.process_time()
    for _ in range(cycles):
        start = time.perf_counter()
        call()
        walls.append(time.perf_counter() - start)
    used = time.process_time() - cpu
    return 1000 * sorted(walls)[cycles // 2], 1000 * used / cycles


if __name__ == "__main__":
    main()
