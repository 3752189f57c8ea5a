"""Restarts of the streaming query after its neighbours' faults: the query is started again from its
checkpoint, with a growing wait, while the failures are ones a restart can outlive (the broker or
the storage out of reach, a killed Python worker, a lost race for the index), and at most
stream.restarts times within stream.restart_window seconds. Anything else (a bug, a foreign index
or checkpoint, a refused credential) ends the command at once: a restart would only repeat it.

Spark's own Kafka source gives up after about three minutes without a broker (three offset
fetches of 60 s each) and its sink after 60 s (max.block.ms); docs/operators.md has the
measurements and what an operator sees.
"""

from __future__ import annotations

import errno
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from streaming.config import Config
from streaming.errors import ExitCode, NeardupError

log = logging.getLogger("neardup.supervisor")

MAX_WAIT_S = 300.0  # the doubling wait stops growing at five minutes

# What a failure's text shows when a restart can outlive it, and how the log names it. Java classes
# come from Spark's Kafka source and sink, the JVM's sockets and Delta; Python's from kafka-python.
TRANSIENT = (
    (
        re.compile(
            r"org\.apache\.kafka\.common\.errors\.\w*(Timeout|Network|Disconnect|NotAvailable|"
            r"NotLeaderOrFollower)\w*|kafka\.errors\.(NoBrokersAvailable|KafkaTimeoutError|"
            r"KafkaConnectionError|NodeNotReadyError)"
        ),
        "the Kafka broker is out of reach",
    ),
    (
        re.compile(
            r"java\.net\.(Connect|NoRouteToHost|SocketTimeout|UnknownHost)Exception|"
            r"Stale file handle|Transport endpoint is not connected|Input/output error|"
            r"SdkClientException"
        ),
        "the storage is out of reach",
    ),
    (re.compile(r"Python worker exited unexpectedly"), "a Python worker died"),
    (
        re.compile(
            r"Concurrent(Append|DeleteRead)Exception|MetadataChangedException|"
            r"ProtocolChangedException"
        ),
        "other writers kept winning the index commits",
    ),
)
# A NeardupError is a diagnosis already: these codes are the ones a restart can outlive.
TRANSIENT_CODES = {
    ExitCode.BROKER_UNREACHABLE: "the Kafka broker is out of reach",
    ExitCode.STORE_UNREACHABLE: "the storage is out of reach",
}
TRANSIENT_ERRNOS = {
    errno.EIO,
    errno.ENOTCONN,
    errno.ESTALE,
    errno.ECONNREFUSED,
    errno.ECONNRESET,
    errno.ETIMEDOUT,
    errno.EHOSTUNREACH,
    errno.ENETUNREACH,
}


@dataclass(frozen=True)
class RestartPolicy:
    restarts: int  # restarts allowed within `window`
    backoff: float  # seconds before the first restart; each further one waits twice as long
    window: float  # seconds: failures longer ago no longer count

    @classmethod
    def from_config(cls, config: Config) -> RestartPolicy:
        stream = config.stream
        return cls(stream.restarts, stream.restart_backoff, stream.restart_window)


@dataclass(frozen=True)
class Restart:
    attempt: int  # 1 for the first restart within the window
    wait: float  # seconds


def next_restart(policy: RestartPolicy, failures: Sequence[float]) -> Restart | None:
    """The restart after the last of `failures` (their times in seconds, oldest first), or None when
    the failures within the window of the last one outnumber the restarts allowed."""
    attempt = sum(1 for at in failures if failures[-1] - at < policy.window)
    if attempt > policy.restarts:
        return None
    return Restart(attempt, min(policy.backoff * 2 ** (attempt - 1), MAX_WAIT_S))


def transient_cause(failure: BaseException) -> str | None:
    """What made the query fail, in one line, when a restart can outlive it; None otherwise."""
    for error in _chain(failure):
        if isinstance(error, NeardupError):
            kind = TRANSIENT_CODES.get(error.exit_code)
            return f"{kind}: {_line(error.message)}" if kind else None
        if isinstance(error, OSError) and error.errno in TRANSIENT_ERRNOS:
            return f"the storage is out of reach: {_line(str(error))}"
    return diagnose(failure_text(failure))


def diagnose(text: str) -> str | None:
    """'<what is out of reach>: <the line of the failure that shows it>', or None."""
    for pattern, kind in TRANSIENT:
        found = pattern.search(text)
        if found:
            start = text.rfind("\n", 0, found.start()) + 1
            end = text.find("\n", found.end())
            return f"{kind}: {_line(text[start : end if end >= 0 else len(text)])}"
    return None


def failure_text(failure: BaseException) -> str:
    """The messages of a failure and its causes, with the JVM's stack trace where there is one (it
    holds the Java causes, and a foreachBatch's Python traceback)."""
    parts = []
    for error in _chain(failure):
        kind = type(error)
        parts.append(f"{kind.__module__}.{kind.__qualname__}: {error}")
        parts.append(str(getattr(error, "_stackTrace", None) or ""))
    return "\n".join(parts)


def supervise(
    run: Callable[[], None],
    policy: RestartPolicy,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Call `run` (start the query and await it) until it returns, again after each transient
    failure as the policy allows. Raises the first other failure, or a NeardupError with
    RESTARTS_EXHAUSTED when restarts run out."""
    failures: list[float] = []
    while True:
        try:
            run()
            return
        except Exception as failure:
            cause = transient_cause(failure)
            if cause is None:
                raise
            failures.append(clock())
            restart = next_restart(policy, failures)
            if restart is None:
                raise NeardupError(
                    f"the stream failed {policy.restarts + 1} times within "
                    f"{policy.window:.0f} s and stream.restarts = {policy.restarts} allows no "
                    f"more restarts; the last time {cause}",
                    ExitCode.RESTARTS_EXHAUSTED,
                ) from failure
            log.warning(
                "restart %d of %d in %.0f s from the checkpoint: %s",
                restart.attempt,
                policy.restarts,
                restart.wait,
                cause,
            )
            sleep(restart.wait)


def _chain(failure: BaseException) -> list[BaseException]:
    """The failure and its causes, outermost first (each once)."""
    chain: list[BaseException] = []
    error: BaseException | None = failure
    while error is not None and error not in chain:
        chain.append(error)
        error = error.__cause__ or error.__context__
    return chain


def _line(text: str, limit: int = 240) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."
