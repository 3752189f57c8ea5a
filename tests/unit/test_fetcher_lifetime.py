"""A Fetcher's lifetime: closing it with reads in flight cancels them and ends its thread at once,
whoever stops early (a consumer of the ingest generator, the interpreter's exit). The reads in
flight go to a real server that accepts connections and never answers."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import CancelledError
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from streaming.config import Config, load_config
from streaming.hashing import HashSpec
from streaming.sources import Fetcher
from streaming.stream.ingest import ingest

WAIT_S = 30  # a hang fails the test after this long instead of hanging the suite
STALLED = 3  # reads in flight when the consumer stops


class StalledServer:
    """A TCP server on loopback that takes every connection and never answers."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:  # closed
                return
            self.connections.append(connection)

    def wait_for(self, count: int) -> None:
        for _ in range(WAIT_S * 20):
            if len(self.connections) >= count:
                return
            threading.Event().wait(0.05)
        raise AssertionError(f"{len(self.connections)} connections, not {count}")

    def closed_by_client(self, connection: socket.socket) -> bool:
        """Whether the client closed the connection (reads the request, then expects its end)."""
        connection.settimeout(WAIT_S)
        try:
            while connection.recv(65536):
                pass
        except TimeoutError:
            return False
        return True

    def close(self) -> None:
        self.listener.close()
        for connection in self.connections:
            connection.close()


@contextmanager
def stalled_server() -> Iterator[StalledServer]:
    server = StalledServer()
    try:
        yield server
    finally:
        server.close()


def sources_config(root: Path, port: int) -> Config:
    return load_config(
        environ={},
        overrides={
            "sources.allowed_roots": [str(root), f"http://127.0.0.1:{port}/"],
            "sources.allowed_networks": ["127.0.0.1/32"],
            "sources.timeout_ms": 600_000,  # the stalled reads stay in flight
            "sources.retries": 0,
        },
    )


def kafka_batches(root: Path, port: int) -> list[pd.DataFrame]:
    """A batch of one file, then one of STALLED reads of the stalled server: the first batch's
    frame comes out while the second's reads are in flight."""
    photo = root / "photo.png"
    cv2.imwrite(str(photo), np.random.default_rng(0).integers(0, 256, (64, 64, 3), np.uint8))
    uris = [[str(photo)], [f"http://127.0.0.1:{port}/{n}.jpg" for n in range(STALLED)]]
    return [
        pd.DataFrame(
            {
                "key": [b"k"] * len(batch),
                "value": [json.dumps({"id": uri, "uri": uri}).encode() for uri in batch],
                "topic": "images",
                "partition": 0,
                "offset": range(len(batch)),
                "timestamp": pd.Timestamp("2026-12-01"),
            }
        )
        for batch in uris
    ]


def fetch_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "neardup-fetch"}


def test_an_ingest_stopped_mid_stream_cancels_its_reads_and_ends_its_thread(tmp_path):
    before = fetch_threads()
    with stalled_server() as server:
        config = sources_config(tmp_path, server.port)
        frames = ingest(config, HashSpec(types=("phash",)))(
            iter(kafka_batches(tmp_path, server.port))
        )
        (first,) = next(frames)["id"]
        assert first.endswith("photo.png")
        server.wait_for(STALLED)
        assert fetch_threads() - before
        closing = threading.Thread(target=frames.close)  # the consumer stops: a cancelled task
        closing.start()
        closing.join(WAIT_S)
        assert not closing.is_alive(), "closing the ingest hangs on its reads in flight"
        assert not fetch_threads() - before
        assert all(server.closed_by_client(c) for c in server.connections)


EXIT_WITH_A_SUSPENDED_INGEST = """
import sys
from pathlib import Path

from streaming.hashing import HashSpec
from streaming.stream.ingest import ingest
from tests.unit.test_fetcher_lifetime import kafka_batches, sources_config

root, port = Path(sys.argv[1]), int(sys.argv[2])
frames = ingest(sources_config(root, port), HashSpec(types=("phash",)))
suspended = frames(iter(kafka_batches(root, port)))
next(suspended)
print("suspended", flush=True)
"""


def test_a_process_that_exits_with_an_ingest_suspended_exits_at_once(tmp_path):
    """A Python worker that ends with the generator still holding reads (a task given up): the
    fetcher closes at exit, its http session too, and the process does not hang."""
    with stalled_server() as server:
        try:
            done = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    EXIT_WITH_A_SUSPENDED_INGEST,
                    str(tmp_path),
                    str(server.port),
                ],
                capture_output=True,
                text=True,
                timeout=WAIT_S * 2,
                cwd=Path(__file__).parents[2],
            )
        except subprocess.TimeoutExpired:
            pytest.fail("the process hangs at exit with an ingest suspended")
        assert done.returncode == 0, done.stderr
        assert done.stdout == "suspended\n"
        assert "Unclosed" not in done.stderr, done.stderr


def test_a_fetcher_closed_on_its_own_thread_ends_without_waiting_for_itself(tmp_path):
    """The garbage collector may finalise an abandoned ingest on the fetch thread, which then
    closes its own fetcher: the loop cannot wait for itself."""
    before = fetch_threads()
    with stalled_server() as server:
        fetcher = Fetcher(sources_config(tmp_path, server.port))
        reads = fetcher.read_all([fetcher.admit(f"http://127.0.0.1:{server.port}/a.jpg", None)])
        outcome: list[object] = []

        def wait_for_the_read() -> None:
            try:
                outcome.extend(reads)
            except CancelledError as e:
                outcome.append(e)

        waiting = threading.Thread(target=wait_for_the_read)
        waiting.start()  # a read in flight, waited for by another thread
        server.wait_for(1)
        fetcher._loop.call_soon_threadsafe(fetcher.close)  # as a collection there would
        for thread in fetch_threads() - before:
            thread.join(WAIT_S)
        assert not fetch_threads() - before
        assert server.closed_by_client(server.connections[0])
        waiting.join(WAIT_S)
        assert [type(o) for o in outcome] == [CancelledError]  # the read was given up
