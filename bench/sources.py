"""Images per second of the stream's ingest (fetch + decode + hash, the mapInPandas function of
one task) when the images come from the local S3 server with latency added per request, against
the same JPEGs read from local files, on the same cores in the same run.

    python -m bench.sources --json
    python -m bench.sources --json --clients      # and obstore vs fsspec/s3fs, fetching alone

The latency comes from a delaying TCP proxy in front of the S3 server (its own process): every
request waits latency_ms before it is forwarded, as a remote store's round trip would make it.
One line per (source, latency, max_in_flight):
{"source": "file"|"s3", "latency_ms", "max_in_flight", "images_per_s", "share_of_file_rate"};
each S3 setting is run --repeats times alternately with the file baseline and compared with the
file runs next to it (best of each), so a machine whose load changes meanwhile skews it less.
With --clients, one line per (client, latency) of the fetches alone (no hashing), 32 at once:
{"client", "latency_ms", "objects_per_s", "cpu_ms_per_object"}; the CPU time is what a fetch
takes from the hashing on the same cores.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import socket
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from bench.photos import jpeg_corpus
from streaming.config import Config, load_config
from streaming.local import s3
from streaming.stream.ingest import ingest
from streaming.stream.job import hash_spec
from tests.integration.corpus import kafka_records

BUCKET = "bench"
CLIENT_CONCURRENCY = 32


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=60, help="JPEGs per run")
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
    files = jpeg_corpus(args.images, min_pixels=args.min_pixels)

    with tempfile.TemporaryDirectory(prefix="bench-sources-") as state:
        config = _config(Path(state), files[0].parent)
        s3.start(config)
        try:
            _upload(config, files)
            results = _ingest_table(config, files, latencies, in_flight, args.repeats)
            if args.clients:
                results += _client_table(config, files, latencies)
        finally:
            s3.stop(config)
    for result in results:
        print(json.dumps(result) if args.json else _plain(result))


def _ingest_table(
    config: Config, files: list[Path], latencies: list[int], in_flight: list[int], repeats: int
) -> list[dict[str, Any]]:
    """Each S3 setting timed alternately with the file baseline, `repeats` times each, so that a
    share compares runs minutes apart at most on a machine whose load changes; best runs kept."""
    paths, objects = [str(f) for f in files], [f"s3://{BUCKET}/{f.name}" for f in files]
    file_rates: list[float] = []
    results = []
    for latency in latencies:
        with _delaying_proxy(config.s3.local.port, latency) as port:
            via_proxy = config.replace(**{"s3.endpoint_url": f"http://127.0.0.1:{port}"})
            for flight in in_flight:
                tuned = via_proxy.replace(**{"sources.max_in_flight": flight})
                here, rate = [], 0.0
                for _ in range(repeats):
                    here.append(_images_per_s(config, paths))
                    rate = max(rate, _images_per_s(tuned, objects))
                file_rates += here
                results.append(_row("s3", latency, flight, rate, max(here)))
    best = max(file_rates)
    return [_row("file", 0, config.sources.max_in_flight, best, best), *results]


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


def _client_table(config: Config, files: list[Path], latencies: list[int]) -> list[dict[str, Any]]:
    """The fetches alone, CLIENT_CONCURRENCY at once, by each candidate client."""
    results = []
    for latency in latencies:
        with _delaying_proxy(config.s3.local.port, latency) as port:
            endpoint = f"http://127.0.0.1:{port}"
            for client, fetch_all in _clients(config, endpoint).items():
                keys = [f.name for f in files]
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


def _config(state: Path, images: Path) -> Config:
    port = _free_port()
    return load_config(
        overrides={
            "s3.endpoint_url": f"http://127.0.0.1:{port}",
            "s3.region": "us-east-1",
            "s3.path_style": True,
            "s3.access_key_id": "bench",
            "s3.secret_access_key": "bench-secret",
            "s3.local.port": port,
            "s3.local.state_dir": str(state),
            "s3.local.buckets": [BUCKET],
            "sources.allowed_roots": [str(images), f"s3://{BUCKET}/"],
        },
        environ={},
    )


def _upload(config: Config, files: list[Path]) -> None:
    import obstore

    from streaming.storage import open_store

    store = open_store(config, f"s3://{BUCKET}")
    for path in files:
        obstore.put(store, path.name, path.read_bytes())


@contextlib.contextmanager
def _delaying_proxy(upstream: int, latency_ms: int) -> Iterator[int]:
    """A TCP proxy on a free port in front of 127.0.0.1:upstream, in a process of its own, that
    holds every request latency_ms before forwarding it; yields its port."""
    port = _free_port()
    process = multiprocessing.get_context("spawn").Process(
        target=_serve_proxy, args=(port, upstream, latency_ms / 1000), daemon=True
    )
    process.start()
    try:
        deadline = time.monotonic() + 30
        while not _answers(port):
            if time.monotonic() > deadline:
                raise RuntimeError("the delaying proxy did not start")
            time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.join()


def _answers(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _serve_proxy(port: int, upstream: int, delay_s: float) -> None:
    async def pipe(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float
    ) -> None:
        try:
            while data := await reader.read(1 << 16):
                if delay:
                    await asyncio.sleep(delay)
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", upstream)
        await asyncio.gather(pipe(client_r, server_w, delay_s), pipe(server_r, client_w, 0))

    async def serve() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _plain(result: dict[str, Any]) -> str:
    return "  ".join(f"{key}={value}" for key, value in result.items())


if __name__ == "__main__":
    main()
