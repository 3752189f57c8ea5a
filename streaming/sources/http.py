"""Reading http(s) URLs through aiohttp, with the checks an object-store client cannot make:
redirects followed one at a time and only inside the allowed roots, every address a host
resolves to checked at connection time (so a DNS answer cannot be swapped after the check), and
a body without Content-Length cut off at max_bytes.

obstore's HTTP store follows redirects to any host and refuses bodies without Content-Length
(docs/sources.md), so http(s) is the one scheme it does not serve here.
"""

from __future__ import annotations

import asyncio
import random
import socket
from dataclasses import dataclass

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from streaming.errors import Reason, Rejected
from streaming.sources.policy import Location, Policy

MAX_REDIRECTS = 5
CHUNK_BYTES = 64 * 1024
REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Answers worth another attempt: throttling, a timeout reported by a gateway, server errors.
RETRIED = frozenset({408, 429})


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter, the same shape as obstore's retries."""

    retries: int
    initial_s: float = 0.1
    base: float = 2.0
    max_s: float = 15.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt number `attempt` (1 = the first retry)."""
        return min(self.max_s, self.initial_s * self.base ** (attempt - 1)) * random.uniform(
            0.5, 1.0
        )


class Retryable(Exception):
    """A failed attempt that another attempt may fix (timeout, reset, 5xx, throttling)."""


class GuardedResolver(AbstractResolver):
    """The system resolver, refusing a host when any of its addresses is not allowed."""

    def __init__(self, policy: Policy) -> None:
        self._policy = policy
        self._resolver = aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._resolver.resolve(host, port, family)
        for entry in found:
            self._policy.check_address(host, entry["host"])
        return found

    async def close(self) -> None:
        await self._resolver.close()


class HttpReader:
    """GETs of admitted http(s) Locations, on the event loop that created it."""

    def __init__(self, policy: Policy, retries: int, timeout_s: float) -> None:
        self._policy = policy
        self._backoff = Backoff(retries)
        connector = aiohttp.TCPConnector(resolver=GuardedResolver(policy), limit=0)
        # trust_env=False: no proxy from the environment, which would resolve hosts unchecked.
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=timeout_s),
            trust_env=False,
            # Images are sent as stored: a decompressed chunk could outgrow max_bytes at once.
            headers={"Accept-Encoding": "identity"},
            auto_decompress=False,
        )

    async def close(self) -> None:
        await self._session.close()

    async def read(self, location: Location) -> bytes:
        last = ""
        for attempt in range(self._backoff.retries + 1):
            if attempt:
                await asyncio.sleep(self._backoff.delay(attempt))
            try:
                return await self._read_once(location)
            except Retryable as e:
                last = str(e)
            except (TimeoutError, aiohttp.ClientError, OSError) as e:
                last = _describe(e)
        raise Rejected(
            Reason.FETCH_FAILED,
            f"cannot fetch {location.uri}: {last} (after {self._backoff.retries} retries)",
        )

    async def _read_once(self, location: Location) -> bytes:
        for _ in range(MAX_REDIRECTS + 1):
            self._policy.check_literal(location)
            async with self._session.get(location.path, allow_redirects=False) as response:
                status = response.status
                if status in REDIRECTS:
                    location = self._policy.redirect(location, response.headers.get("Location"))
                    continue
                if status == 200:
                    return await _body(response, location, self._policy.max_bytes)
                if status in (404, 410):
                    raise Rejected(Reason.MISSING_FILE, f"{location.uri}: HTTP {status}")
                if status in (401, 403):
                    raise Rejected(Reason.FORBIDDEN, f"{location.uri}: HTTP {status}")
                if status >= 500 or status in RETRIED:
                    raise Retryable(f"HTTP {status} from {location.path}")
                raise Rejected(Reason.FETCH_FAILED, f"{location.uri}: HTTP {status}")
        raise Rejected(Reason.FETCH_FAILED, f"{location.uri}: more than {MAX_REDIRECTS} redirects")


async def _body(response: aiohttp.ClientResponse, location: Location, max_bytes: int) -> bytes:
    """The body, never more than max_bytes of it: leaving early closes the connection."""
    declared = response.content_length
    if declared is not None and declared > max_bytes:
        raise Rejected(
            Reason.TOO_MANY_BYTES,
            f"{location.uri} has {declared} bytes, over sources.max_bytes = {max_bytes}",
        )
    body = bytearray()
    async for chunk in response.content.iter_chunked(CHUNK_BYTES):
        body += chunk
        if len(body) > max_bytes:
            raise Rejected(
                Reason.TOO_MANY_BYTES,
                f"{location.uri} has more than sources.max_bytes = {max_bytes} bytes",
            )
    return bytes(body)


def _describe(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "timed out (sources.timeout_ms)"
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
