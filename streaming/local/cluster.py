"""A real Spark standalone cluster on one machine: a master and N workers, each its own JVM, on
127.0.0.1.

They run from the pyspark wheel (`spark-class` of its bin/; the wheel has no sbin/ start scripts)
and keep their logs, pids and scratch folders under config.cluster.state_dir. `submit_command`
builds the spark-submit call that runs any `neardup` command as a driver against that master, with
the package zipped for the executors and the same configuration as the calling process.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streaming.config import PROJECT_ROOT, Config
from streaming.local.jars import jars
from streaming.local.processes import LOOPBACK, alive, port_open, terminate

START_TIMEOUT_S = 90.0
# The master and worker daemons only schedule; executors get their own memory from the worker.
DAEMON_MEMORY = "512m"
SUBMIT_ENTRY = PROJECT_ROOT / "streaming" / "submit.py"


class ClusterError(RuntimeError):
    pass


@dataclass(frozen=True)
class ClusterPaths:
    state: Path

    def log(self, daemon: str) -> Path:
        return self.state / f"{daemon}.log"

    def pid(self, daemon: str) -> Path:
        return self.state / f"{daemon}.pid"

    def work(self, daemon: str) -> Path:
        return self.state / "work" / daemon

    @property
    def package_zip(self) -> Path:
        return self.state / "neardup.zip"


def master_url(config: Config) -> str:
    return f"spark://127.0.0.1:{config.cluster.master_port}"


def spark_home() -> Path:
    """The installed pyspark folder, found without importing pyspark (the CLI imports it only when
    needed)."""
    spec = importlib.util.find_spec("pyspark")
    if spec is None or spec.origin is None:
        raise ClusterError("pyspark is not installed: run `make setup`")
    return Path(spec.origin).parent


def start(config: Config) -> str:
    """Start the master and the workers unless they run; return once every worker has registered."""
    cluster = config.cluster
    paths = _paths(config)
    if _running(config, "master") is not None:
        return status(config)
    busy = [
        p
        for p in (cluster.master_port, cluster.webui_port, *_worker_ui_ports(config))
        if port_open(p)
    ]
    if busy:
        raise ClusterError(
            f"ports {busy} are taken by other processes: set cluster.master_port and the UI ports"
        )
    paths.state.mkdir(parents=True, exist_ok=True)
    _launch(
        paths,
        "master",
        "org.apache.spark.deploy.master.Master",
        "--host", "127.0.0.1", "--port", str(cluster.master_port),
        "--webui-port", str(cluster.webui_port),
    )  # fmt: skip
    for n, ui_port in enumerate(_worker_ui_ports(config), start=1):
        name = f"worker-{n}"
        paths.work(name).mkdir(parents=True, exist_ok=True)
        _launch(
            paths,
            name,
            "org.apache.spark.deploy.worker.Worker",
            "--host", "127.0.0.1", "--cores", str(cluster.cores), "--memory", cluster.memory,
            "--webui-port", str(ui_port), "--work-dir", str(paths.work(name)), master_url(config),
        )  # fmt: skip
    deadline = time.monotonic() + START_TIMEOUT_S
    while len(alive_workers(config)) < cluster.workers:
        dead = [d for d in _daemons(config) if _running(config, d) is None]
        if dead or time.monotonic() > deadline:
            stop(config)
            why = (
                f"{', '.join(dead)} exited"
                if dead
                else f"not all workers registered in {START_TIMEOUT_S:.0f} s"
            )
            raise ClusterError(f"Spark cluster did not start: {why}; see the logs in {paths.state}")
        time.sleep(0.5)
    return f"Spark cluster started: {status(config)}"


def stop(config: Config) -> str:
    """Workers first (they would otherwise try to reconnect to a gone master), then the master."""
    stopped = []
    paths = _paths(config)
    # By the pid files, not config.cluster.workers: the cluster may have been started with another
    # count.
    started = sorted((p.stem for p in paths.state.glob("*.pid")), key=lambda d: d == "master")
    for daemon in started:
        pid = _running(config, daemon)
        if pid is not None:
            terminate(pid)
            stopped.append(daemon)
        paths.pid(daemon).unlink(missing_ok=True)
    return (
        f"Spark cluster stopped ({', '.join(stopped)})"
        if stopped
        else "Spark cluster is not running"
    )


def status(config: Config) -> str:
    pid = _running(config, "master")
    if pid is None:
        return "Spark cluster is not running"
    workers = alive_workers(config)
    cores = sum(w.get("cores", 0) for w in workers)
    return (
        f"master {master_url(config)} (pid {pid}, UI "
        f"http://127.0.0.1:{config.cluster.webui_port}), "
        f"{len(workers)} alive workers with {cores} cores"
    )


def is_running(config: Config) -> bool:
    return _running(config, "master") is not None


def alive_workers(config: Config) -> list[dict[str, Any]]:
    """The workers the master lists as ALIVE in its UI's JSON; none while the master is not up."""
    url = f"http://127.0.0.1:{config.cluster.webui_port}/json/"
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            state = json.load(response)
    except (urllib.error.URLError, OSError, json.JSONDecodeError):
        return []
    return [w for w in state.get("workers", []) if w.get("state") == "ALIVE"]


def submit_command(config: Config, cli_args: list[str]) -> tuple[list[str], dict[str, str]]:
    """spark-submit argv and environment that run `neardup <cli_args>` as a driver on this cluster.

    The driver gets the caller's whole configuration as --set flags (spark.master pointing at the
    cluster), so it sees exactly the same topics, paths and hash settings. Paths in it must be
    absolute: executors run in their worker's folder, not in the caller's.
    """
    config = config.replace(**{"spark.master": master_url(config)})
    settings = [
        arg for key, value in _dotted(config.model_dump()) for arg in ("--set", f"{key}={value}")
    ]
    argv = [
        str(spark_home() / "bin" / "spark-submit"),
        "--master", master_url(config),
        "--jars", ",".join(str(j) for j in jars("spark")),
        "--py-files", str(package_zip(config)),
        str(SUBMIT_ENTRY),
        *settings,
        *cli_args,
    ]  # fmt: skip
    return argv, _environment()


def package_zip(config: Config) -> Path:
    """The `streaming` package and the schemas/ it validates with, as a zip for --py-files; rebuilt
    on every call so executors run the current code."""
    target = _paths(config).package_zip
    target.parent.mkdir(parents=True, exist_ok=True)
    sources = [
        *(PROJECT_ROOT / "streaming").rglob("*.py"),
        *(PROJECT_ROOT / "schemas").rglob("*.*"),
    ]
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for source in sorted(sources):
            archive.write(source, source.relative_to(PROJECT_ROOT))
    return target


def _dotted(raw: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """(dotted key, JSON value) of every setting; the free tables (spark.conf, kafka.security) stay
    whole."""
    pairs = []
    for key, value in raw.items():
        if isinstance(value, dict) and key not in ("conf", "security"):
            pairs += _dotted(value, f"{prefix}{key}.")
        else:
            pairs.append((prefix + key, json.dumps(value)))
    return pairs


def _environment() -> dict[str, str]:
    env = dict(os.environ, SPARK_HOME=str(spark_home()), SPARK_DAEMON_MEMORY=DAEMON_MEMORY)
    # The daemons' web UIs, the executors and the drivers bind to the loopback address only (they
    # would take every interface otherwise); a user's own SPARK_LOCAL_IP wins.
    env.setdefault("SPARK_LOCAL_IP", LOOPBACK)
    # Executors and the driver must run this interpreter (the venv's), or they start a python
    # without pandas.
    env["PYSPARK_PYTHON"] = sys.executable
    env["PYSPARK_DRIVER_PYTHON"] = sys.executable
    return env


def _launch(paths: ClusterPaths, daemon: str, main_class: str, *args: str) -> None:
    with paths.log(daemon).open("ab") as log:
        process = subprocess.Popen(
            [str(spark_home() / "bin" / "spark-class"), main_class, *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=_environment(),
            cwd=paths.state,
            start_new_session=True,  # outlives the CLI that started it; `stop` ends it
        )
    paths.pid(daemon).write_text(str(process.pid))


def _daemons(config: Config) -> list[str]:
    return ["master", *(f"worker-{n}" for n in range(1, config.cluster.workers + 1))]


def _worker_ui_ports(config: Config) -> list[int]:
    return [config.cluster.worker_webui_port + n for n in range(config.cluster.workers)]


def _running(config: Config, daemon: str) -> int | None:
    try:
        pid = int(_paths(config).pid(daemon).read_text())
    except (FileNotFoundError, ValueError):
        return None
    return pid if alive(pid) else None


def _paths(config: Config) -> ClusterPaths:
    return ClusterPaths(Path(config.cluster.state_dir).resolve())
