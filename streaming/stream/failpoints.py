"""Crash points for the fault tests: NEARDUP_CRASH_AT=<point>:<batch id> kills the driver with
SIGKILL, like `kill -9`, when the job reaches that point of that micro-batch. Unset, it costs one
dict lookup."""

from __future__ import annotations

import os
import signal

VARIABLE = "NEARDUP_CRASH_AT"


def crash_point(point: str, batch_id: int) -> None:
    if os.environ.get(VARIABLE) == f"{point}:{batch_id}":
        os.kill(os.getpid(), signal.SIGKILL)
