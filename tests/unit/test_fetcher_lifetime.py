"""A Fetcher's lifetime: closing it with reads in flight cancels them and ends its thread at once,
whoever stops early (a consumer of the ingest generator, the interpreter's exit). The reads in
flight go to a real server that accepts connections and never answers."""

from __future__ import annotations

import subprocess
import sys
import threading
from concurrent.futures import CancelledError
from pathlib import Path

import pytest

from streaming.hashing import HashSpec
from streaming.sources import Fetcher
from streaming.stream.ingest import ingest
from tests.stalled import STALLED, WAIT_S, kafka_batches, sources_config, stalled_server


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
from tests.stalled import kafka_batches, sources_config

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
