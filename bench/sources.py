"""Images per second of the stream's ingest (fetch + decode + hash, the mapInPandas function of
one task) when the images come from the local S3 server with latency added per request, against
the same JPEGs read from local files, on the same core in the same run.

    python -m bench.sources --json
    python -m bench.sources --json --clients      # and obstore vs fsspec/s3fs, fetching alone

The latency comes from the S3 server itself: s3proxy's latency middleware holds every GET
latency_ms before answering it, each in its own request thread, as a remote store's round trip
would (streaming/local/s3.py), restarted for each latency.

Cores: a remote store's CPU is not the job's. On a cluster the store runs elsewhere and a task's
core does the hashing and the client side of the fetching; here the S3 server (a JVM) would take
the hashing's CPU and charge the latency with it. So the bench pins itself (the ingest: one thread
decodes and hashes, besides the fetch thread's event loop and obstore's runtime threads, whose
CPU stays charged to the hashing core) to one core, and the server's JVM to the others, for the
file baseline and the S3 runs alike. It needs two cores.

Each run reads the corpus --rounds times over in one Arrow batch, since a task of the stream reads
hundreds of images (max_offsets_per_trigger over the topic's partitions): the round trip that
fills the pipeline is paid once per task, not once per 60 images.
One line per (source, latency, max_in_flight):
{"source": "file"|"s3", "latency_ms", "max_in_flight", "images_per_s", "share_of_file_rate"};
each S3 setting is run --repeats times alternately with the file baseline and compared with the
file runs next to it (best of each), so a machine whose load changes meanwhile skews it less.
With --clients, one line per (client, latency) of the fetches alone (no hashing), 32 at once:
{"client", "latency_ms", "objects_per_s", "cpu_ms_per_object"}; the CPU time (of the whole bench
process, so the clients' threads included) is what a fetch takes from the hashing core.
"""

from __future__ import annotations

import bench.one_thread  # noqa: F401  (before numpy)

# isort: split

import argparse
import asyncio
import contextlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from bench.local_s3 import BUCKET, s3_config, upload
from bench.photos import jpeg_corpus
from streaming.config import Config
from streaming.local import s3
from streaming.stream.ingest import ingest
from streaming.stream.job import hash_spec
from tests.integration.corpus import kafka_records

CLIENT_CONCURRENCY = 32


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=60, help="distinct JPEGs")
    parser.add_argument("--rounds", type=int, default=5, help="reads of each JPEG per run")
    parser.add_argument(
        "--min-pixels", type=int, default=2_000_000, help="JPEG size (default 2-3 MP)"
    )
    parser.add_argument("--latencies", default="0,50,100", help="ms added per S3 request")
    parser.add_argument("--in-flight", default="1,8,32", help="sources.max_in_flight values")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each, best kept")
    parser.add_argument("--clients", action="store_true", help="also time the clients alone")
    parser.add_argument("--json", action="store_true", help="JSON lines only")
    args = parser.parse_args()
    latencies = [int(v) for v in args.latencies.split(",")]
    in_flight = [int(v) for v in args.in_flight.split(",")]
    hashing_core, store_cores = _split_cores()
    _pin_process(hashing_core)
    files = jpeg_corpus(args.images, min_pixels=args.min_pixels)
    paths = [str(f) for f in files] * args.rounds
    objects = [f"s3://{BUCKET}/{f.name}" for f in files] * args.rounds

    results: list[dict[str, Any]] = []
    file_rates: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-sources-") as state:
        config = s3_config(Path(state), files[0].parent)
        with _serving(config, 0, store_cores):
            upload(config, files)
        for latency in latencies:
            with _serving(config, latency, store_cores):
                for flight in in_flight:
                    tuned = config.replace(**{"sources.max_in_flight": flight})
                    s3_rate, here = _alternate(config, paths, tuned, objects, args.repeats)
                    file_rates += here
                    results.append(_row("s3", latency, flight, s3_rate, max(here)))
                if args.clients:
                    results += _client_rows(config, files, latency)
    best = max(file_rates)
    results.insert(0, _row("file", 0, config.sources.max_in_flight, best, best))
    for result in results:
        print(json.dumps(result) if args.json else _plain(result))


def _split_cores() -> tuple[set[int], set[int]]:
    """(the core the ingest runs on, the cores the S3 server runs on)."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        raise SystemExit("bench.sources needs two cores: one hashes, the S3 server takes the rest")
    return {cores[0]}, set(cores[1:])


def _pin_process(cores: set[int]) -> None:
    """Every thread of this process onto these cores (those started later inherit it)."""
    for thread in os.listdir("/proc/self/task"):
        with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
            os.sched_setaffinity(int(thread), cores)


@contextlib.contextmanager
def _serving(config: Config, latency_ms: int, cores: set[int]) -> Iterator[None]:
    """The local S3 server, holding each GET latency_ms, its JVM on these cores."""
    own = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cores)  # the server's process inherits this thread's cores
    try:
        s3.start(config, get_latency_ms=latency_ms)
    finally:
        os.sched_setaffinity(0, own)
    try:
        yield
    finally:
        s3.stop(config)


def _alternate(
    config: Config, paths: list[str], tuned: Config, objects: list[str], repeats: int
) -> tuple[float, list[float]]:
    """(best S3 rate, file rates) of `repeats` runs each, alternately, so that a share compares
    runs minutes apart at most on a machine whose load changes."""
    s3_rate, file_rates = 0.0, []
    for _ in range(repeats):
        file_rates.append(_images_per_s(config, paths))
        s3_rate = max(s3_rate, _images_per_s(tuned, objects))
    return s3_rate, file_rates


def _row(source: str, latency: int, flight: int, rate: float, file_rate: float) -> dict[str, Any]:
    return {
        "source": source,
        "latency_ms": latency,
        "max_in_flight": flight,
        "images_per_s": round(rate, 1),
        "share_of_file_rate": round(rate / file_rate, 3),
    }


def _images_per_s(config: Config, uris: list[str]) -> float:
    """The ingest function of one task over one Arrow batch of these references."""
    records = kafka_records(uris)
    start = time.perf_counter()
    frame = pd.concat(ingest(config, hash_spec(config))(iter([records])))
    seconds = time.perf_counter() - start
    failed = frame["error_code"].dropna()
    assert failed.empty, failed.value_counts().to_dict()
    return len(uris) / seconds


def _client_rows(config: Config, files: list[Path], latency: int) -> list[dict[str, Any]]:
    """The fetches alone, CLIENT_CONCURRENCY at once, by each candidate client."""
    results = []
    keys = [f.name for f in files]
    for client, fetch_all in _clients(config, s3.endpoint(config)).items():
        asyncio.run(fetch_all(keys[:4]))  # connections and credentials, not timed
        cpu, start = time.process_time(), time.perf_counter()
        asyncio.run(fetch_all(keys))
        wall, used = time.perf_counter() - start, time.process_time() - cpu
        results.append(
            {
                "client": client,
                "latency_ms": latency,
                "objects_per_s": round(len(keys) / wall, 1),
                "cpu_ms_per_object": round(1000 * used / len(keys), 2),
            }
        )
    return results


def _clients(
    config: Config, endpoint: str
) -> dict[str, Callable[[list[str]], Coroutine[Any, Any, None]]]:
    import obstore
    import s3fs
    from obstore.store import S3Store

    s3config = config.s3
    store = S3Store(
        BUCKET,
        endpoint=endpoint,
        region="us-east-1",
        access_key_id=s3config.access_key_id,
        secret_access_key=s3config.secret_access_key,
        virtual_hosted_style_request=False,
        client_options={"allow_http": True},
    )

    async def with_obstore(keys: list[str]) -> None:
        limit = asyncio.Semaphore(CLIENT_CONCURRENCY)

        async def one(key: str) -> None:
            async with limit:
                await (await obstore.get_async(store, key)).bytes_async()

        await asyncio.gather(*(one(key) for key in keys))

    async def with_s3fs(keys: list[str]) -> None:
        fs = s3fs.S3FileSystem(
            key=s3config.access_key_id,
            secret=s3config.secret_access_key,
            endpoint_url=endpoint,
            client_kwargs={"region_name": "us-east-1"},
            config_kwargs={"s3": {"addressing_style": "path"}},
            asynchronous=True,
            skip_instance_cache=True,
        )
        session = await fs.set_session()
        limit = asyncio.Semaphore(CLIENT_CONCURRENCY)

        async def one(key: str) -> None:
            async with limit:
                await fs._cat_file(f"{BUCKET}/{key}")

        await asyncio.gather(*(one(key) for key in keys))
        await session.close()

    return {"obstore": with_obstore, "s3fs": with_s3fs}


def _plain(result: dict[str, Any]) -> str:
    return "  ".join(f"{key}={value}" for key, value in result.items())


if __name__ == "__main__":
    main()
