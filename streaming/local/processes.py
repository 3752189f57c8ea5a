"""Background daemons of the local runtime (the broker, the S3 server, Spark's master and
workers): launch, liveness, readiness, stop, ports."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path

STOP_TIMEOUT_S = 30.0
# Where the local runtime's daemons listen: this machine alone.
LOOPBACK = "127.0.0.1"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours counts as gone
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def terminate(pid: int, timeout_s: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM (the daemon shuts down cleanly), SIGKILL only if it hangs past timeout_s."""
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while alive(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            break
        time.sleep(0.2)
    with contextlib.suppress(ChildProcessError):  # not our child: its parent reaps it
        os.waitpid(pid, 0)


def port_open(port: int, host: str = LOOPBACK, timeout_s: float = 0.5) -> bool:
    """Whether something accepts TCP connections at host:port within timeout_s."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def running_pid(pid_file: Path) -> int | None:
    """The pid recorded in pid_file, if that process is alive."""
    try:
        pid = int(pid_file.read_text())
    except (FileNotFoundError, ValueError):
        return None
    return pid if alive(pid) else None


def launch(
    argv: list[str], log: Path, pid_file: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start a daemon that outlives the CLI that started it (`stop` ends it), its output appended
    to log and its pid recorded in pid_file."""
    with log.open("ab") as output:
        process = subprocess.Popen(
            argv,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=None if env is None else dict(env),
            start_new_session=True,
        )
    pid_file.write_text(str(process.pid))
    return process


def wait_ready(
    process: subprocess.Popen[bytes], ready: Callable[[], bool], timeout_s: float
) -> str | None:
    """None once ready() holds; else why not (the process exited, or the time ran out), with the
    process stopped."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        if process.poll() is not None:
            return f"exited with code {process.returncode}"
        if time.monotonic() > deadline:
            terminate(process.pid)
            return f"did not answer within {timeout_s:.0f} s"
        time.sleep(0.3)
    return None
