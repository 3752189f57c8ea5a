"""A real single-node Kafka broker (KRaft, combined broker and controller) for dev, the demo and CI.

It runs the broker jars that `make setup` resolved from conf/jvm/kafka/pom.xml, listens on 127.0.0.1
only, and keeps its data, logs and pid under config.kafka.local.state_dir. Storage is formatted on
the first start; later starts reuse it, so topics and offsets survive a stop.
"""

from __future__ import annotations

import base64
import os
import subprocess
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from streaming.config import PROJECT_ROOT, Config
from streaming.local import processes
from streaming.local.jars import jars, java
from streaming.local.processes import launch, port_open, terminate, wait_ready

LOG4J_CONFIG = PROJECT_ROOT / "conf" / "log4j2" / "broker.properties"
START_TIMEOUT_S = 60.0


class BrokerError(RuntimeError):
    pass


@dataclass(frozen=True)
class BrokerPaths:
    state: Path

    @property
    def properties(self) -> Path:
        return self.state / "server.properties"

    @property
    def data(self) -> Path:
        return self.state / "data"

    @property
    def log(self) -> Path:
        return self.state / "broker.log"

    @property
    def pid(self) -> Path:
        return self.state / "broker.pid"


def start(config: Config, settings: Mapping[str, str] | None = None) -> str:
    """Start the broker unless it runs already; return once it accepts connections. `settings`
    go over the broker's defaults (e.g. auto.create.topics.enable, an authorizer)."""
    paths = _paths(config)
    port = config.kafka.local.port
    if running_pid(config) is not None:
        return f"Kafka broker already running on 127.0.0.1:{port} (pid {running_pid(config)})"
    if port_open(port):
        raise BrokerError(
            f"port {port} is taken by another process: set kafka.local.port "
            "(NEARDUP_KAFKA_LOCAL_PORT)"
        )
    paths.state.mkdir(parents=True, exist_ok=True)
    paths.properties.write_text(_server_properties(config, paths, settings or {}))
    _format_storage(paths)
    process = launch(_java("kafka.Kafka", str(paths.properties)), paths.log, paths.pid)
    failure = wait_ready(process, lambda: _broker_ready(config), START_TIMEOUT_S)
    if failure is not None:
        paths.pid.unlink(missing_ok=True)
        raise BrokerError(f"Kafka broker {failure}; see {paths.log}")
    return f"Kafka broker started on 127.0.0.1:{port} (pid {process.pid}, data in {paths.data})"


def stop(config: Config) -> str:
    """Stop the broker cleanly (SIGTERM, controlled shutdown); SIGKILL only if it hangs."""
    paths = _paths(config)
    pid = running_pid(config)
    if pid is None:
        paths.pid.unlink(missing_ok=True)
        return "Kafka broker is not running"
    terminate(pid)
    paths.pid.unlink(missing_ok=True)
    return f"Kafka broker stopped (pid {pid})"


def status(config: Config) -> str:
    pid = running_pid(config)
    port = config.kafka.local.port
    if pid is None:
        return "Kafka broker is not running"
    state = "accepting connections" if _broker_ready(config) else "starting or unresponsive"
    return f"Kafka broker running on 127.0.0.1:{port} (pid {pid}), {state}"


def running_pid(config: Config) -> int | None:
    return processes.running_pid(_paths(config).pid)


def _paths(config: Config) -> BrokerPaths:
    return BrokerPaths(Path(config.kafka.local.state_dir).resolve())


def _server_properties(config: Config, paths: BrokerPaths, overrides: Mapping[str, str]) -> str:
    local = config.kafka.local
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.bootstrap.servers": f"127.0.0.1:{local.controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{local.port},CONTROLLER://127.0.0.1:{local.controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{local.port}",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(paths.data),
        "num.partitions": str(config.kafka.partitions),
        # One node: every internal topic has a single replica.
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "true",
        **overrides,
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def _format_storage(paths: BrokerPaths) -> None:
    if (paths.data / "meta.properties").exists():
        return
    cluster_id = "-"
    while cluster_id.startswith("-"):  # as Kafka's own ids: a leading dash reads as an option
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    result = subprocess.run(
        _java(
            "kafka.tools.StorageTool",
            "format",
            "--standalone",
            "-t",
            cluster_id,
            "-c",
            str(paths.properties),
            "--ignore-formatted",
        ),
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise BrokerError(
            f"formatting Kafka storage in {paths.data} failed:\n{result.stdout}{result.stderr}"
        )


def _java(main_class: str, *args: str) -> list[str]:
    classpath = os.pathsep.join(str(j) for j in jars("kafka"))
    return [
        java(),
        "-Xms256m",
        "-Xmx1g",
        f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
        "-cp",
        classpath,
        main_class,
        *args,
    ]


def _broker_ready(config: Config) -> bool:
    if not port_open(config.kafka.local.port):
        return False
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        admin = KafkaAdminClient(
            bootstrap_servers=f"127.0.0.1:{config.kafka.local.port}",
            request_timeout_ms=3000,
            bootstrap_timeout_ms=3000,
            client_id="neardup-kafka-probe",
        )
    except (KafkaError, OSError, ValueError):
        return False
    try:
        admin.list_topics()
        return True
    except (KafkaError, OSError):
        return False
    finally:
        admin.close()
