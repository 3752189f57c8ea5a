"""docker/compose.yaml is a valid Compose file (parsed by the Compose CLI, no engine needed) whose
neardup containers load conf/docker.toml and mount the index and checkpoint volumes where that
config points."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from streaming.config import PROJECT_ROOT, load_config

COMPOSE_FILE = PROJECT_ROOT / "docker" / "compose.yaml"


def compose(*args: str) -> str:
    """Run the Compose CLI on the file: the docker plugin where present, else Debian's
    docker-compose (make setup)."""
    plugin = shutil.which("docker") and subprocess.run(
        ["docker", "compose", "version"], capture_output=True
    )
    command = ["docker", "compose"] if plugin and plugin.returncode == 0 else ["docker-compose"]
    assert shutil.which(command[0]), "no Compose CLI: `make setup` installs docker-compose"
    result = subprocess.run(
        [*command, "-f", str(COMPOSE_FILE), *args], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_compose_file_parses_with_kafka_spark_and_the_job():
    rendered = compose("config")
    assert set(compose("config", "--services").split()) == {
        "kafka",
        "spark-master",
        "spark-worker-1",
        "spark-worker-2",
        "job",
    }
    assert set(compose("config", "--volumes").split()) == {"kafka-data", "index", "checkpoints"}
    assert "NEARDUP_CONFIG: /opt/neardup/conf/docker.toml" in rendered


def test_docker_config_points_at_the_compose_services_and_volumes():
    rendered = compose("config")
    config = load_config(PROJECT_ROOT / "conf" / "docker.toml", environ={})
    assert config.kafka.bootstrap_servers == "kafka:9092"
    assert config.spark.master == "spark://spark-master:7077"
    for path in (config.index.path, config.stream.checkpoint, *config.sources.allowed_roots):
        mount = "/" + "/".join(Path(path).parts[1:3])  # /data/<volume>
        assert f":{mount}:" in rendered, f"{path} is not on a volume mounted at {mount}"
