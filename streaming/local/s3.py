"""A real S3-compatible server for dev, the demo and CI: s3proxy on 127.0.0.1, from the jar that
`make setup` resolved from conf/jvm/s3/pom.xml, storing objects as files under
config.s3.local.state_dir. It accepts the credentials of [s3]; each bucket of s3.local.buckets is
a folder of its filesystem backend, created on start. Objects survive a stop.

For benchmarks, start(get_latency_ms=...) holds every GET that long before answering it, as a
distant store's first byte would come: s3proxy's latency middleware sleeps in the request's own
thread, so requests in flight wait side by side, not one after another.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from streaming.config import Config
from streaming.errors import ConfigError, NeardupError
from streaming.local import processes
from streaming.local.jars import jars, java
from streaming.local.processes import launch, port_open, terminate, wait_ready

START_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class ServerPaths:
    state: Path

    @property
    def properties(self) -> Path:
        return self.state / "s3proxy.properties"

    @property
    def data(self) -> Path:
        return self.state / "data"

    @property
    def log(self) -> Path:
        return self.state / "s3proxy.log"

    @property
    def pid(self) -> Path:
        return self.state / "s3proxy.pid"


def endpoint(config: Config) -> str:
    return f"http://127.0.0.1:{config.s3.local.port}"


def start(config: Config, get_latency_ms: int = 0) -> str:
    """Start the server unless it runs already; return once it accepts connections. Every GET
    waits get_latency_ms (ms) before it is answered; 0, the default, adds nothing."""
    paths = _paths(config)
    port = config.s3.local.port
    pid = running_pid(config)
    if pid is not None:
        return f"S3 server already running at {endpoint(config)} (pid {pid})"
    if port_open(port):
        raise NeardupError(
            f"port {port} is taken by another process: set s3.local.port (NEARDUP_S3_LOCAL_PORT)"
        )
    paths.data.mkdir(parents=True, exist_ok=True)
    for bucket in config.s3.local.buckets:
        (paths.data / bucket).mkdir(exist_ok=True)
    paths.properties.write_text(_properties(config, paths, get_latency_ms))
    paths.properties.chmod(0o600)  # it holds the secret key
    # s3proxy logs every request at INFO.
    process = launch(_java(paths), paths.log, paths.pid, env={**os.environ, "LOG_LEVEL": "warn"})
    failure = wait_ready(process, lambda: port_open(port), START_TIMEOUT_S)
    if failure is not None:
        paths.pid.unlink(missing_ok=True)
        raise NeardupError(f"S3 server {failure}; see {paths.log}")
    return f"S3 server started at {endpoint(config)} (pid {process.pid}, objects in {paths.data})"


def stop(config: Config) -> str:
    paths = _paths(config)
    pid = running_pid(config)
    paths.pid.unlink(missing_ok=True)
    if pid is None:
        return "S3 server is not running"
    terminate(pid)
    return f"S3 server stopped (pid {pid})"


def status(config: Config) -> str:
    pid = running_pid(config)
    if pid is None:
        return "S3 server is not running"
    state = "accepting connections" if port_open(config.s3.local.port) else "not answering"
    buckets = ", ".join(sorted(p.name for p in _paths(config).data.iterdir() if p.is_dir()))
    return f"S3 server running at {endpoint(config)} (pid {pid}), {state}; buckets: {buckets}"


def running_pid(config: Config) -> int | None:
    return processes.running_pid(_paths(config).pid)


def _paths(config: Config) -> ServerPaths:
    return ServerPaths(Path(config.s3.local.state_dir).resolve())


def _properties(config: Config, paths: ServerPaths, get_latency_ms: int) -> str:
    s3 = config.s3
    if s3.access_key_id is None or s3.secret_access_key is None:
        raise ConfigError(
            "s3.access_key_id and s3.secret_access_key: the local S3 server needs credentials "
            "to accept (conf/s3-local.toml sets them)"
        )
    settings = {
        "s3proxy.endpoint": endpoint(config),
        "s3proxy.authorization": "aws-v2-or-v4",
        "s3proxy.identity": s3.access_key_id,
        "s3proxy.credential": s3.secret_access_key,
        "jclouds.provider": "filesystem",
        "jclouds.filesystem.basedir": str(paths.data),
    }
    if get_latency_ms > 0:  # any latency key switches s3proxy's latency middleware on
        settings["s3proxy.latency-blobstore.get.latency"] = str(get_latency_ms)
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def _java(paths: ServerPaths) -> list[str]:
    (jar,) = jars("s3")
    return [
        java(),
        "-Xmx256m",
        "-XX:+UseSerialGC",
        "-jar",
        str(jar),
        "--properties",
        str(paths.properties),
    ]
