"""End-to-end figures of the streaming job on the local broker and Spark, next to the hash kernels'
rate.

    python -m bench.stream --images 3000 --batch 1000 --rate 4 --seconds 30 --json

Four measurements in one run (--measures picks some), on the same JPEGs (bench/photos.py: 2-4 MP,
each unlike the others unless --near-duplicate-corpus) and the same cores:
- kernel: images/s of streaming.hashing alone, one process per core (the ceiling);
- throughput: the job over a preloaded topic in micro-batches of --batch images, steady state (the
  micro-batches after the first); --duplicates of the messages repeat an earlier image under a new
  id;
- latency: produce -> alert, with a 1 s trigger and images arriving at a fixed rate, each a
  duplicate of an image registered before, so every one of them alerts;
- fixed cost: micro-batches of one image each (--single-batches of them), the seconds of Spark's
  own phases (the query progress's durationMs) next to the job's steps: what a batch costs
  whatever its size;
- spark floor: the same one-record micro-batches through Spark alone (the job's Kafka source and
  checkpoint, a Python worker's identity mapInPandas, one collect in foreachBatch): what any
  Python job of this shape pays per batch, under the fixed cost;
- hash ceiling: the throughput run's images through the job's source and hashing and one collect,
  nothing else: the most the job could reach if matching and writing cost nothing.
Each result carries the median seconds of the job's steps per micro-batch (the progress line's).

    python -m bench.stream --images 400 --batch 100 --dihedral --json

compares hashing.dihedral off and on instead: the kernel rate and the throughput run of each, and
the ratios of hashing time (kernels; the job's hash step) and lookup time (the job's match step).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import statistics
import tempfile
import time
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from bench.photos import jpeg_corpus
from streaming import kafka_io
from streaming.config import Config, load_config
from streaming.hashing import hash_images
from streaming.local import kafka
from streaming.local.spark import spark_session
from streaming.stream.ingest import ingest, ingested_schema
from streaming.stream.job import StreamOptions, hash_spec, image_records, start_stream
from streaming.stream.progress import BatchStats, progress_listener

CORES = 2
MEASURES = ("kernel", "fixed_cost", "spark_floor", "hash_ceiling", "throughput", "latency")
RELATIVE = ("hash_ceiling", "throughput")  # given as shares of the kernel rate too
# Spark's phases of a micro-batch (StreamingQueryProgress.durationMs); triggerExecution holds the
# others, addBatch is the job's foreachBatch.
SPARK_PHASES = (
    "latestOffset",
    "getBatch",
    "queryPlanning",
    "walCommit",
    "addBatch",
    "commitOffsets",
    "triggerExecution",
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=1200, help="JPEGs in the throughput stream")
    parser.add_argument(
        "--batch", type=int, default=300, help="maxOffsetsPerTrigger of the throughput run"
    )
    parser.add_argument(
        "--rate", type=float, default=8.0, help="images/s offered in the latency run"
    )
    parser.add_argument("--seconds", type=float, default=45.0, help="length of the latency run")
    parser.add_argument(
        "--duplicates",
        type=float,
        default=0.05,
        help="share of throughput messages that repeat an earlier image",
    )
    parser.add_argument(
        "--near-duplicate-corpus",
        action="store_true",
        help=(
            "the corpus of bench.hashing instead (16 photos varied: most images alert against "
            "dozens of others)"
        ),
    )
    parser.add_argument(
        "--single-batches",
        type=int,
        default=12,
        help="one-image micro-batches of the fixed-cost run (the first is not counted)",
    )
    parser.add_argument(
        "--measures",
        default=",".join(MEASURES),
        help=f"comma-separated, among {', '.join(MEASURES)} ({' and '.join(RELATIVE)} need kernel)",
    )
    parser.add_argument(
        "--dihedral",
        action="store_true",
        help="compare hashing.dihedral off and on (kernel rate, throughput) instead",
    )
    parser.add_argument(
        "--port", type=int, default=19392, help="the bench broker's port (the controller's: +1)"
    )
    parser.add_argument("--json", action="store_true", help="JSON lines only")
    args = parser.parse_args()
    measures = args.measures.split(",")
    relative = set(RELATIVE) & set(measures)
    if set(measures) - set(MEASURES) or (relative and "kernel" not in measures):
        needs = f"{' and '.join(RELATIVE)} need kernel"
        parser.error(f"--measures takes some of {', '.join(MEASURES)}; {needs}")

    state = Path(tempfile.mkdtemp(prefix="neardup-bench-"))
    config = bench_config(state, args.port)
    files = jpeg_corpus(count=args.images, distinct=not args.near_duplicate_corpus)
    started = kafka.start(config)
    if not args.json:
        print(started, flush=True)
    try:
        spark = spark_session(config)
        if args.dihedral:
            for result in dihedral_costs(spark, config, files, state, args.batch, args.duplicates):
                print(json.dumps(result), flush=True)
            return
        runs = {
            "kernel": lambda: kernel_rate(files, config),
            "fixed_cost": lambda: fixed_cost(spark, config, files, state, args.single_batches),
            "spark_floor": lambda: spark_floor(spark, config, state, args.single_batches),
            "hash_ceiling": lambda: hash_ceiling(spark, config, files, state, args.batch),
            "throughput": lambda: throughput(
                spark, config, files, state, args.batch, args.duplicates
            ),
            "latency": lambda: latency(spark, config, files, state, args.rate, args.seconds),
        }
        results = {measure: runs[measure]() for measure in MEASURES if measure in measures}
        for measure in RELATIVE:
            if measure in results:
                share = results[measure]["images_per_s"] / results["kernel"]["images_per_s"]
                results[measure]["share_of_kernel_rate"] = round(share, 3)
        for result in results.values():
            print(json.dumps(result), flush=True)
    finally:
        kafka.stop(config)


def dihedral_costs(
    spark, config: Config, files: list[Path], state: Path, batch: int, duplicates: float
) -> list[dict]:
    """The kernel rate and the throughput run with hashing.dihedral off, then on, then the on/off
    ratios of the hashing time (kernels alone; the job's hash step) and of the lookup time (the
    job's match step: the variants' lookup, the rows of the matches, the decision)."""
    results = []
    for dihedral in (False, True):
        turned = config.replace(**{"hashing.dihedral": dihedral})
        name = f"dihedral-{'on' if dihedral else 'off'}"
        for result in (
            kernel_rate(files, turned),
            throughput(spark, turned, files, state, batch, duplicates, name),
        ):
            results.append({**result, "dihedral": dihedral})
    kernel_off, run_off, kernel_on, run_on = results
    steps_off, steps_on = run_off["step_seconds_median"], run_on["step_seconds_median"]
    results.append(
        {
            "measure": "dihedral_ratio",
            "kernel_hashing": round(kernel_off["images_per_s"] / kernel_on["images_per_s"], 3),
            "job_hash_step": round(steps_on["hash"] / steps_off["hash"], 3),
            "job_match_step": round(steps_on["match"] / steps_off["match"], 3),
            "goal": "hashing <= 1.3, lookup <= 2",
        }
    )
    return results


def bench_config(state: Path, port: int = 19392) -> Config:
    return load_config(
        overrides={
            "kafka.local.state_dir": str(state / "kafka"),
            "kafka.local.port": port,
            "kafka.local.controller_port": port + 1,
            "kafka.bootstrap_servers": f"127.0.0.1:{port}",
            "spark.master": f"local[{CORES}]",
            "sources.allowed_roots": ["/"],
        }
    )


def _hash_files(args: tuple[list[str], object]) -> int:
    paths, spec = args
    return len(hash_images([Path(p).read_bytes() for p in paths], spec))


def kernel_rate(files: list[Path], config: Config) -> dict:
    """The same kernels and files, one worker process per core, as Spark's Python workers run
    them."""
    spec = hash_spec(config)
    # into the page cache, where the stream after it finds them: both time hashing, not the disk
    for path in files:
        path.read_bytes()
    chunks = [([str(p) for p in files[i::CORES]], spec) for i in range(CORES)]
    # Spawned, not forked: a fork inherits this process's BLAS thread pool, started before
    # OMP_NUM_THREADS was set, and two workers with two BLAS threads each run at half speed on two
    # cores.
    with ProcessPoolExecutor(CORES, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(_hash_files, [([str(files[0])], spec)] * CORES))  # warm the workers
        started = time.perf_counter()
        hashed = sum(pool.map(_hash_files, chunks))
        elapsed = time.perf_counter() - started
    return {
        "measure": "kernel",
        "cores": CORES,
        "images": hashed,
        "images_per_s": round(hashed / elapsed, 1),
    }


def produce(config: Config, topic: str, messages: list[tuple[str, Path]]) -> None:
    """One image reference per (id, file)."""
    kafka_io.ensure_topics(config, [topic])
    producer = kafka_io.producer(config)
    for image_id, path in messages:
        producer.send(topic, key=image_id, value={"id": image_id, "uri": str(path)})
    producer.flush()
    producer.close()


def with_duplicates(files: list[Path], share: float) -> list[tuple[str, Path]]:
    """Each file once, and after every 1/share-th one a new id for a random earlier file (an exact
    duplicate)."""
    rng = random.Random(len(files))
    every = round(1 / share) if share > 0 else len(files) + 1
    messages = []
    for n, path in enumerate(files):
        messages.append((str(path), path))
        if n and n % every == 0:
            messages.append((f"{path}#copy", files[rng.randrange(n)]))
    return messages


def run_config(config: Config, state: Path, name: str) -> Config:
    return config.replace(
        **{
            "kafka.images_topic": f"bench-{name}-images",
            "kafka.alerts_topic": f"bench-{name}-duplicates",
            "kafka.dlq_topic": f"bench-{name}-dlq",
            "index.path": str(state / name / "index"),
            "stream.checkpoint": str(state / name / "checkpoint"),
        }
    )


def throughput(
    spark,
    config: Config,
    files: list[Path],
    state: Path,
    batch: int,
    duplicates: float,
    name: str = "throughput",
) -> dict:
    run = run_config(config, state, name)
    produce(run, run.kafka.images_topic, with_duplicates(files, duplicates))
    query = start_stream(
        spark,
        run,
        StreamOptions.from_config(run, available_now=True, max_offsets_per_trigger=batch),
    )
    stats = progress_listener(spark).queries[str(query.id)]
    query.awaitTermination()
    # the first batch warms up; the last, partial one pays a full batch's fixed cost
    steady = [p for p in query.recentProgress if p["numInputRows"] == batch][1:]
    rows = sum(p["numInputRows"] for p in steady)
    seconds = sum(p["batchDuration"] for p in steady) / 1000
    return {
        "measure": "throughput",
        "images": rows,
        "micro_batch": batch,
        "batches": len(steady),
        "images_per_s": round(rows / seconds, 1),
        "batch_seconds_median": round(
            statistics.median(p["batchDuration"] for p in steady) / 1000, 2
        ),
        "alerts": sum(stats[p["batchId"]].alerts for p in steady if p["batchId"] in stats),
        # milliseconds: a match step of some 30 ms rounds to a ratio of 1.0-2.0 at two digits
        "step_seconds_median": step_medians(stats, [p["batchId"] for p in steady], digits=3),
    }


def fixed_cost(spark, config: Config, files: list[Path], state: Path, batches: int) -> dict:
    """Micro-batches of one image each, a copy of an indexed image under a new id: each batch reads
    one offset, hashes one image, publishes one alert and registers one row."""
    run = run_config(config, state, "fixed")
    originals = files[: batches + 1]
    produce(run, run.kafka.images_topic, [(str(path), path) for path in originals])
    start_stream(spark, run, StreamOptions.from_config(run, available_now=True)).awaitTermination()
    copies = [(f"{path}#again", path) for path in originals]
    produce(run, run.kafka.images_topic, copies)
    query = start_stream(
        spark,
        run,
        StreamOptions.from_config(run, available_now=True, max_offsets_per_trigger=1),
    )
    stats = progress_listener(spark).queries[str(query.id)]
    query.awaitTermination()
    # the first batch warms up (the lookup's first read, Python workers)
    timed = [p for p in query.recentProgress if p["numInputRows"] > 0][1:]
    return {
        "measure": "fixed_cost",
        **phase_medians(timed),
        "step_seconds_median": step_medians(stats, [p["batchId"] for p in timed], digits=3),
    }


def spark_floor(spark, config: Config, state: Path, batches: int) -> dict:
    """One-record micro-batches through Spark alone: the job's Kafka source, a Python worker's
    identity mapInPandas and one collect."""
    run = run_config(config, state, "floor")
    produce(run, run.kafka.images_topic, [(str(i), Path(f"{i}.jpg")) for i in range(batches + 1)])
    timed = collect_only(spark, run, 1, lambda frames: frames, None)[1:]
    return {"measure": "spark_floor", **phase_medians(timed)}


def hash_ceiling(spark, config: Config, files: list[Path], state: Path, batch: int) -> dict:
    """The throughput run's messages through the job's Kafka source and hashing (its mapInPandas)
    and one collect, nothing else: the rate the job would reach if matching, publishing and
    registering cost nothing."""
    run = run_config(config, state, "ceiling")
    produce(run, run.kafka.images_topic, [(str(path), path) for path in files])
    spec = hash_spec(run)
    steady = [
        p
        for p in collect_only(spark, run, batch, ingest(run, spec), ingested_schema(spec))
        if p["numInputRows"] == batch
    ][1:]
    seconds = sum(p["batchDuration"] for p in steady) / 1000
    return {
        "measure": "hash_ceiling",
        "images": sum(p["numInputRows"] for p in steady),
        "micro_batch": batch,
        "images_per_s": round(sum(p["numInputRows"] for p in steady) / seconds, 1),
        **phase_medians(steady),
    }


def collect_only(spark, run: Config, batch: int, transform, schema) -> list[dict]:
    """The progress of a query over the job's source (run's images topic, micro-batches of `batch`
    records) that maps them with `transform` in mapInPandas (to `schema`; None: the records') and
    collects."""
    options = StreamOptions.from_config(run, available_now=True, max_offsets_per_trigger=batch)
    records = image_records(spark, run, options)
    query = (
        records.mapInPandas(transform, schema or records.schema)
        .writeStream.option("checkpointLocation", run.stream.checkpoint)
        .foreachBatch(lambda frame, _: frame.collect())
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination()
    return [p for p in query.recentProgress if p["numInputRows"] > 0]


def phase_medians(timed: list[dict]) -> dict:
    """The median seconds of each micro-batch and of Spark's phases in it."""
    return {
        "batches": len(timed),
        "batch_seconds_median": round(
            statistics.median(p["batchDuration"] for p in timed) / 1000, 3
        ),
        "spark_seconds_median": {
            phase: round(statistics.median(p["durationMs"].get(phase, 0) for p in timed) / 1000, 3)
            for phase in SPARK_PHASES
        },
    }


def latency(
    spark, config: Config, files: list[Path], state: Path, rate: float, seconds: float
) -> dict:
    run = run_config(config, state, "latency")
    originals = files[: max(int(rate * seconds), 1)]
    produce(run, run.kafka.images_topic, [(str(path), path) for path in originals])
    query = start_stream(
        spark,
        run,
        StreamOptions.from_config(run, trigger="1 second", max_offsets_per_trigger=10_000),
    )
    stats = progress_listener(spark).queries[str(query.id)]
    _wait_for_index(query, len(originals))
    first_timed = max(stats, default=-1) + 1

    producer = kafka_io.producer(run)
    sent: dict[str, float] = {}
    started = time.monotonic()
    for n, path in enumerate(originals):
        time.sleep(max(0.0, started + n / rate - time.monotonic()))
        image_id = f"{path}#again"
        sent[image_id] = time.time()
        producer.send(
            run.kafka.images_topic, key=image_id, value={"id": image_id, "uri": str(path)}
        )
    producer.flush()
    producer.close()

    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        run.kafka.alerts_topic,
        auto_offset_reset="earliest",
        consumer_timeout_ms=15_000,
        **kafka_io.client_options(run),
    )
    delays = {}
    for record in consumer:
        alert = json.loads(record.value)
        if alert["image_id"] in sent:
            delays.setdefault(alert["image_id"], record.timestamp / 1000 - sent[alert["image_id"]])
        if len(delays) == len(sent):
            break
    consumer.close()
    query.stop()
    ordered = sorted(delays.values())
    return {
        "measure": "latency",
        "trigger": "1s",
        "rate_images_per_s": rate,
        "images": len(sent),
        "alerted": len(delays),
        "p50_s": round(ordered[len(ordered) // 2], 2) if ordered else None,
        "p95_s": round(ordered[int(len(ordered) * 0.95) - 1], 2) if ordered else None,
        "step_seconds_median": step_medians(stats, [b for b in list(stats) if b >= first_timed]),
    }


def step_medians(
    stats: Mapping[int, BatchStats], batch_ids: list[int], digits: int = 2
) -> dict[str, float]:
    """The median seconds of each step of the job's micro-batches (the progress line's
    breakdown)."""
    timed = [stats[b].seconds for b in batch_ids if b in stats]
    return {
        step: round(statistics.median(t[step] for t in timed), digits)
        for step in (timed[0] if timed else {})
    }


def _wait_for_index(query, images: int, timeout_s: float = 600) -> None:
    """Until the query has taken in the warm-up images (they are then in the index)."""
    deadline = time.monotonic() + timeout_s
    while (
        sum(p["numInputRows"] for p in query.recentProgress) < images
        and time.monotonic() < deadline
    ):
        time.sleep(0.5)
    time.sleep(2)


if __name__ == "__main__":
    # For the kernel's workers and Spark's Python workers.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
