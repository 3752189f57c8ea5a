"""Throughput of the streaming job on a real Spark standalone cluster, with one executor core and
with two.

    python -m bench.cluster --workers 1,2 --images 240 --runs 3

One cluster is started with as many 1-core workers as the largest count, and every run is a
spark-submit of `neardup stream --available-now` over the same preloaded topic (bench/photos.py
JPEGs, 2 MP) with a fresh checkpoint and index; `spark.cores.max` = workers x cores caps the run at
that many executors, one per worker. The counts are interleaved run by run, so drift in the
machine's load hits each alike. The rate is read from the job's own progress lines (images and
duration of every micro-batch), the first micro-batch excluded: it starts the Python workers and
creates the index. One JSON line per run, then one summary line per worker count (median of the
runs) and the ratio of the largest count to the smallest.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench.local_s3 import free_port
from bench.photos import jpeg_corpus
from bench.stream import bench_config, produce, run_config
from streaming.config import Config
from streaming.local import cluster, kafka

# The job's progress listener: "batch 3: 60 images in 4.2 s (14.3/s), ...".
PROGRESS = re.compile(r"batch (\d+): (\d+) images in ([\d.]+) s")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts to compare")
    parser.add_argument("--images", type=int, default=240, help="JPEGs in the stream")
    parser.add_argument(
        "--runs", type=int, default=3, help="runs per worker count (the median is reported)"
    )
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]

    state = Path(tempfile.mkdtemp(prefix="neardup-bench-cluster-"))
    config = cluster_config(state, max(counts))
    files = jpeg_corpus(count=args.images)
    kafka.start(config)
    try:
        cluster.start(config)
        topic = run_config(config, state, "stream").kafka.images_topic
        produce(config, topic, files)
        results: dict[int, list[float]] = {n: [] for n in counts}
        for run in range(args.runs):
            for workers in counts:
                result = measure(config, state, workers, run, len(files))
                results[workers].append(result["images_per_s"])
                print(json.dumps(result), flush=True)
        for workers in counts:
            median = statistics.median(results[workers])
            summary = {
                "measure": "median",
                "workers": workers,
                "runs": args.runs,
                "images_per_s": round(median, 1),
            }
            print(json.dumps(summary), flush=True)
        low, high = min(counts), max(counts)
        ratio = statistics.median(results[high]) / statistics.median(results[low])
        print(
            json.dumps({"measure": "ratio", "workers": f"{high}/{low}", "ratio": round(ratio, 2)}),
            flush=True,
        )
    finally:
        cluster.stop(config)
        kafka.stop(config)


def cluster_config(state: Path, workers: int) -> Config:
    """The bench's broker config, plus a cluster of 1-core workers on free ports with its state
    under `state`."""
    return bench_config(state).replace(
        **{
            # one Kafka partition per executor core, so every core gets a task
            "kafka.partitions": workers,
            "cluster.workers": workers,
            "cluster.cores": 1,
            "cluster.master_port": free_port(),
            "cluster.webui_port": free_port(),
            "cluster.worker_webui_port": free_port(),
            "cluster.state_dir": str(state / "cluster"),
        }
    )


def measure(config: Config, state: Path, workers: int, run: int, images: int) -> dict:
    """One spark-submit over the whole topic with a fresh checkpoint and index, capped at `workers`
    executors."""
    submitted = run_config(config, state, "stream").replace(
        **{
            "index.path": str(state / f"run-{run}-{workers}" / "index"),
            "stream.checkpoint": str(state / f"run-{run}-{workers}" / "checkpoint"),
            "stream.max_offsets_per_trigger": max(images // 6, 1),
            "spark.conf": {"spark.cores.max": str(workers * config.cluster.cores)},
        }
    )
    argv, env = cluster.submit_command(submitted, ["stream", "--available-now"])
    log = state / f"run-{run}-{workers}.log"
    started = time.perf_counter()
    with log.open("w") as out:
        code = subprocess.run(argv, env=env, stdout=out, stderr=subprocess.STDOUT).returncode
    wall = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"spark-submit failed with code {code}; see {log}")
    batches = [(int(n), int(rows), float(s)) for n, rows, s in PROGRESS.findall(log.read_text())]
    steady = [(rows, seconds) for n, rows, seconds in batches if n > 0 and rows > 0]
    rows = sum(r for r, _ in steady)
    seconds = sum(s for _, s in steady)
    return {
        "measure": "run",
        "workers": workers,
        "run": run,
        "images": sum(r for _, r, _ in batches),
        "steady_images": rows,
        "images_per_s": round(rows / seconds, 1),
        "micro_batch": submitted.stream.max_offsets_per_trigger,
        "batch_seconds_median": round(statistics.median(s for _, s in steady), 1),
        "wall_s": round(wall, 1),
    }


if __name__ == "__main__":
    main()
