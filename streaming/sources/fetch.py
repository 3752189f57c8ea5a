"""Reading references concurrently: an event loop on a thread of its own runs up to
sources.max_in_flight fetches ahead of the caller, who hashes meanwhile and gets the results in
the references' order. At most max_in_flight images are held, fetched or being fetched.

Closing cancels the fetches in flight and ends the thread promptly, whoever closes and whenever:
a consumer that stops early (a cancelled Spark task, a limit), the garbage collector on any
thread, the interpreter's exit (docs/sources.md, "Lifetime of a fetcher")."""

from __future__ import annotations

import asyncio
import atexit
import sys
import threading
import weakref
from collections import deque
from collections.abc import Coroutine, Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import timedelta
from itertools import islice
from typing import TYPE_CHECKING, Any, TypeVar

from streaming.config import Config
from streaming.errors import Rejected
from streaming.sources.http import Backoff, HttpReader
from streaming.sources.policy import Location, Policy
from streaming.sources.stores import read_object
from streaming.storage import open_store

if TYPE_CHECKING:
    from obstore.store import ClientConfig, ObjectStore, RetryConfig

T = TypeVar("T")

# How long close() waits for the cancelled fetches and the http session to wind up, then for the
# thread to end: cancelled fetches end at once, so this bounds a misbehaving client only.
CLOSE_WAIT_S = 5.0


@dataclass(frozen=True)
class Inline:
    """Base64 content of a message, decoded when its turn comes (not the whole batch at once)."""

    content: str


# What a reference asks for: a place to fetch, content to decode, or why neither.
Read = Location | Inline | Rejected


class Fetcher:
    """The fetching side of one task; a context manager, since it owns a thread."""

    def __init__(self, config: Config) -> None:
        sources = config.sources
        self.policy = Policy.from_config(sources)
        self._config = config
        self._max_in_flight = sources.max_in_flight
        timeout = timedelta(milliseconds=sources.timeout_ms)
        self._client_options: ClientConfig = {
            "timeout": timeout,
            "connect_timeout": min(timeout, timedelta(seconds=5)),
        }
        backoff = Backoff(sources.retries)
        self._retry_config: RetryConfig = {
            "max_retries": sources.retries,
            "backoff": {
                "init_backoff": timedelta(seconds=backoff.initial_s),
                "max_backoff": timedelta(seconds=backoff.max_s),
                "base": backoff.base,
            },
            "retry_timeout": (sources.retries + 1) * timeout + timedelta(seconds=backoff.max_s),
        }
        self._stores: dict[str, ObjectStore] = {}
        self._closed = False
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="neardup-fetch", daemon=True)
        self._thread.start()
        self._http = self._call(self._open_http(sources.retries, timeout.total_seconds()))
        _open_fetchers.add(self)

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Cancel the fetches in flight, close the clients, end the thread; idempotent, and
        never waits longer than about 2 x CLOSE_WAIT_S."""
        if self._closed:
            return
        self._closed = True
        if sys.is_finalizing():
            return  # the daemon thread is gone at interpreter exit: nothing would answer a wait
        if threading.current_thread() is self._thread:
            # Closed from the loop's own thread (the garbage collector runs on any thread): the
            # loop cannot wait for itself, so it winds up once this callback returns.
            self._loop.create_task(self._shut_down()).add_done_callback(self._stop_loop)
            return
        shutdown = asyncio.run_coroutine_threadsafe(self._shut_down(), self._loop)
        try:
            shutdown.result(timeout=CLOSE_WAIT_S)
        except TimeoutError:
            shutdown.cancel()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=CLOSE_WAIT_S)

    def _run(self) -> None:
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()

    async def _shut_down(self) -> None:
        """Cancel every fetch still running (its connection is closed), then the http session."""
        fetches = asyncio.all_tasks() - {asyncio.current_task()}
        for fetch in fetches:
            fetch.cancel()
        if fetches:
            await asyncio.wait(fetches, timeout=CLOSE_WAIT_S / 2)
        await self._http.close()

    def _stop_loop(self, _: object) -> None:
        self._loop.stop()

    def admit(self, uri: str | None, content: str | None) -> Read:
        """What to read for a reference (exactly one of uri and content is set), or why not."""
        if content is not None:
            return Inline(content)
        assert uri is not None
        try:
            return self.policy.locate(uri)
        except Rejected as e:
            return e

    def read(self, uri: str | None, content: str | None) -> bytes:
        """One reference's bytes; raises Rejected."""
        outcome = next(self.read_all([self.admit(uri, content)]))
        if isinstance(outcome, Rejected):
            raise outcome
        return outcome

    def read_all(self, reads: Iterable[Read]) -> Iterator[bytes | Rejected]:
        """Each read's bytes or refusal, in order, fetching up to max_in_flight ahead."""
        reads = iter(reads)
        pending = deque(self._start(read) for read in islice(reads, self._max_in_flight))
        try:
            while pending:
                outcome = pending.popleft().result()
                pending.extend(self._start(read) for read in islice(reads, 1))
                yield outcome
        finally:
            for future in pending:  # the caller stopped early: nothing is left running
                future.cancel()

    def _start(self, read: Read) -> Future[bytes | Rejected]:
        if isinstance(read, Location):
            return asyncio.run_coroutine_threadsafe(self._fetch(read), self._loop)
        known: Future[bytes | Rejected] = Future()
        known.set_result(self._decode(read) if isinstance(read, Inline) else read)
        return known

    def _decode(self, inline: Inline) -> bytes | Rejected:
        try:
            return self.policy.decode(inline.content)
        except Rejected as e:
            return e

    async def _fetch(self, location: Location) -> bytes | Rejected:
        try:
            if location.kind == "http":
                return await self._http.read(location)
            return await read_object(self._store(location), location, self.policy.max_bytes)
        except Rejected as e:
            return e

    def _store(self, location: Location) -> ObjectStore:
        store = self._stores.get(location.store)
        if store is None:
            store = open_store(
                self._config, location.store, self._client_options, self._retry_config
            )
            self._stores[location.store] = store
        return store

    async def _open_http(self, retries: int, timeout_s: float) -> HttpReader:
        return HttpReader(self.policy, retries, timeout_s)

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()


_open_fetchers: weakref.WeakSet[Fetcher] = weakref.WeakSet()


@atexit.register
def _close_open_fetchers() -> None:
    """Fetchers still open at exit (an ingest generator left suspended) close while their
    threads still run: after atexit, the interpreter stops its daemon threads."""
    for fetcher in list(_open_fetchers):
        fetcher.close()
