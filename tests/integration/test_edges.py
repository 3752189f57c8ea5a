"""The edges a newcomer hits (issue 19): each ends `neardup` with one message of at most three lines
that names what was tried and the fix, its own exit code, no traceback, and within a bounded wait.
Every test runs the real CLI in a subprocess against the real condition: a closed port, a broker
that refuses, a master without workers, missing jars or Java, a read-only mount, a full tmpfs.

The time bounds compare with what the clients would wait on their own (kafka-python 30 s to
bootstrap, Spark's standalone client a minute to register, forever for an executor); the tests set
neardup's own waits to 2-3 s.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from streaming.config import PROJECT_ROOT, Config
from streaming.errors import ExitCode
from streaming.local.cluster import spark_home
from streaming.local.jars import JARS_DIR
from streaming.local.processes import port_open, terminate
from tests.conftest import _free_port as free_port
from tests.integration.corpus import distinct_images

KAFKA_BOOTSTRAP_DEFAULT_S = 30  # kafka-python's bootstrap_timeout_ms
SPARK_REGISTRATION_DEFAULT_S = 60  # Spark's standalone client: 3 attempts of 20 s
SHORT_WAIT = 2


@dataclass(frozen=True)
class Run:
    code: int
    stderr: str
    seconds: float

    @property
    def message(self) -> str:
        """neardup's own message: from its `neardup: ` line to the end of stderr."""
        lines = self.stderr.splitlines()
        starts = [i for i, line in enumerate(lines) if line.startswith("neardup: ")]
        return "\n".join(lines[starts[-1] :]) if starts else ""


def neardup(*args: str, env: dict[str, str] | None = None, timeout_s: float = 1800) -> Run:
    """Run `neardup args` to its end; timeout_s only guards against a hang (a stream run took
    15 min on a machine loaded 15 times over its cores); the tests assert their own bounds."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "streaming.cli", *args],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        env=env or dict(os.environ),
        timeout=timeout_s,
    )
    return Run(done.returncode, done.stderr, time.monotonic() - started)


def assert_reported(run: Run, code: ExitCode, *phrases: str) -> None:
    assert run.code == code, run.stderr[-3000:]
    assert 1 <= len(run.message.splitlines()) <= 3, run.message
    for phrase in phrases:
        assert phrase in run.message
    assert "Traceback" not in run.stderr
    assert "\tat " not in run.stderr  # a Java stack trace


def settings(**keys: object) -> list[str]:
    """--set flags for dotted keys given with __ for the dots."""
    return [
        arg for key, value in keys.items() for arg in ("--set", f"{key.replace('__', '.')}={value}")
    ]


@contextmanager
def tmpfs(folder: Path, size: str) -> Iterator[Path]:
    """A real filesystem of `size` at folder, unmounted afterwards. Root can write anywhere its
    mode bits forbid, so a read-only or full folder needs a mount of its own."""
    folder.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"this test needs to mount a tmpfs (root): {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "--lazy", str(folder)], check=True)


def read_only(folder: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)


# Kafka


@pytest.mark.parametrize("command", [["produce", "."], ["alerts", "--timeout", "1"], ["stream"]])
def test_no_broker_at_the_address_ends_the_command_at_once(command, tmp_path):
    address = f"127.0.0.1:{free_port()}"
    run = neardup(
        *settings(
            kafka__bootstrap_servers=address,
            index__path=tmp_path / "index",
            stream__checkpoint=tmp_path / "checkpoint",
        ),
        *command,
    )
    assert_reported(
        run, ExitCode.BROKER_UNREACHABLE, address, "kafka.bootstrap_servers", "neardup kafka start"
    )
    assert run.seconds < KAFKA_BOOTSTRAP_DEFAULT_S
    assert "Spark" not in run.stderr  # found before Spark's start-up


def test_debug_shows_the_traceback():
    run = neardup(
        "--log-level", "DEBUG", *settings(kafka__bootstrap_servers=f"127.0.0.1:{free_port()}"),
        "produce", ".",
    )  # fmt: skip
    assert run.code == ExitCode.BROKER_UNREACHABLE
    assert "Traceback" in run.stderr


def test_a_broker_refusing_the_security_settings_is_told_apart(broker: Config):
    security = (
        '{"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN", '
        '"sasl_plain_username": "neardup", "sasl_plain_password": "secret"}'
    )
    run = neardup(
        *settings(
            kafka__bootstrap_servers=broker.kafka.bootstrap_servers,
            kafka__connect_timeout_s=SHORT_WAIT,
            kafka__security=security,
        ),
        "produce",
        ".",
    )
    assert_reported(
        run,
        ExitCode.BROKER_REFUSED,
        broker.kafka.bootstrap_servers,
        "SASL_PLAINTEXT",
        "[kafka.security]",
    )
    assert run.seconds < KAFKA_BOOTSTRAP_DEFAULT_S


@pytest.fixture(scope="module")
def locked_broker(config: Config, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Config]:
    """A broker of its own that does not create topics on use and refuses CreateTopics to
    neardup: an ACL denies Create on the cluster and on every topic, and allows everything else.
    Its alerts and dead-letter topics exist; the images topic does not."""
    from kafka import KafkaAdminClient
    from kafka.admin import ACL, ACLOperation, ACLPermissionType, NewTopic, ResourcePattern
    from kafka.admin import ResourceType as Resource

    from streaming.local import kafka

    port = free_port()
    locked = config.replace(
        **{
            "kafka.bootstrap_servers": f"127.0.0.1:{port}",
            "kafka.local.port": port,
            "kafka.local.controller_port": free_port(),
            "kafka.local.state_dir": str(tmp_path_factory.mktemp("locked-broker")),
            "kafka.images_topic": "images-never-created",
        }
    )
    kafka.start(
        locked,
        {
            "auto.create.topics.enable": "false",
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found": "true",
        },
    )
    try:
        admin = KafkaAdminClient(bootstrap_servers=locked.kafka.bootstrap_servers)
        admin.create_topics(
            [NewTopic(t, 1, 1) for t in (locked.kafka.alerts_topic, locked.kafka.dlq_topic)]
        )
        every = (
            ResourcePattern(Resource.CLUSTER, "kafka-cluster"),
            ResourcePattern(Resource.TOPIC, "*"),
        )
        anyone = ("User:ANONYMOUS", "*")
        allow = [ACL(*anyone, ACLOperation.ALL, ACLPermissionType.ALLOW, r) for r in every]
        deny = [ACL(*anyone, ACLOperation.CREATE, ACLPermissionType.DENY, r) for r in every]
        assert not admin.create_acls(allow + deny)["failed"]
        admin.close()
        yield locked
    finally:
        kafka.stop(locked)


@pytest.mark.slow
def test_a_missing_topic_the_broker_will_not_create(locked_broker: Config, tmp_path):
    run = neardup(
        *settings(
            kafka__bootstrap_servers=locked_broker.kafka.bootstrap_servers,
            kafka__images_topic=locked_broker.kafka.images_topic,
            index__path=tmp_path / "index",
            stream__checkpoint=tmp_path / "checkpoint",
        ),
        "stream",
        "--available-now",
    )
    assert_reported(
        run,
        ExitCode.TOPIC_MISSING,
        repr(locked_broker.kafka.images_topic),
        "kafka.images_topic",
        "TopicAuthorizationFailedError",
    )
    assert run.seconds < KAFKA_BOOTSTRAP_DEFAULT_S
    assert "Spark" not in run.stderr


# Spark


def test_no_spark_master_at_the_address(tmp_path):
    master = f"spark://127.0.0.1:{free_port()}"
    run = neardup(
        *settings(spark__master=master, spark__connect_timeout_s=SHORT_WAIT),
        "index",
        "--index-path",
        str(tmp_path / "index"),
        "stats",
    )
    assert_reported(run, ExitCode.SPARK_UNREACHABLE, master, "spark.master", "cluster start")
    assert run.seconds < SPARK_REGISTRATION_DEFAULT_S
    assert "WARN" not in run.stderr  # found before Spark's start-up


@pytest.fixture
def master_without_workers(tmp_path) -> Iterator[str]:
    """A real standalone master from the pyspark wheel, on free ports, and no worker."""
    port, ui_port = free_port(), free_port()
    env = dict(os.environ, SPARK_HOME=str(spark_home()), SPARK_DAEMON_MEMORY="512m")
    with (tmp_path / "master.log").open("wb") as log:
        command = ["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1"]
        command += ["--port", str(port), "--webui-port", str(ui_port)]
        master = subprocess.Popen(
            [str(spark_home() / "bin" / "spark-class"), *command],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp_path,
        )
    try:
        deadline = time.monotonic() + 120
        while not port_open(port):
            assert master.poll() is None and time.monotonic() < deadline, "master did not start"
            time.sleep(0.3)
        yield f"spark://127.0.0.1:{port}"
    finally:
        terminate(master.pid)


@pytest.mark.slow
def test_a_master_without_workers_does_not_wait_forever(master_without_workers, tmp_path):
    run = neardup(
        *settings(spark__master=master_without_workers, spark__executor_timeout_s=SHORT_WAIT),
        "index",
        "--index-path",
        str(tmp_path / "index"),
        "stats",
        timeout_s=1800,  # without the check the command would never end
    )
    assert_reported(
        run,
        ExitCode.NO_WORKERS,
        master_without_workers,
        "spark.executor_timeout_s",
        "cluster start",
    )


# Set-up


def without_java() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    env["PATH"] = os.path.dirname(sys.executable)
    return env


def jars_without(folder: Path, prefix: str) -> Path:
    """A copy (by links) of the resolved jars with one dependency's jar left out."""
    for group in ("spark", "kafka"):
        (folder / group).mkdir(parents=True)
        for jar in (JARS_DIR / group).glob("*.jar"):
            if not jar.name.startswith(prefix):
                (folder / group / jar.name).symlink_to(jar)
    return folder


@pytest.mark.parametrize(
    ("case", "command", "expected"),
    [
        ("no jars", ["index", "stats"], ["no jars in", "make setup"]),
        ("no jars", ["kafka", "start"], ["no jars in", "kafka", "make setup"]),
        ("one jar missing", ["index", "stats"], ["no delta-spark_4.2_2.13 jar", "make setup"]),
        ("JAVA_HOME without java", ["index", "stats"], ["JAVA_HOME (/nonexistent/jdk)"]),
        ("no java on PATH", ["kafka", "start"], ["PATH (JAVA_HOME is not set)", "Java 17"]),
    ],
)
def test_an_incomplete_setup_is_named_before_a_jvm_starts(case, command, expected, tmp_path):
    env = dict(os.environ)
    if case == "no jars":
        env["NEARDUP_JARS_DIR"] = str(tmp_path / "empty")
    elif case == "one jar missing":
        env["NEARDUP_JARS_DIR"] = str(jars_without(tmp_path / "jars", "delta-spark_"))
    elif case == "JAVA_HOME without java":
        env["JAVA_HOME"] = "/nonexistent/jdk"
    else:
        env = without_java()
    run = neardup(
        *settings(
            index__path=tmp_path / "index",
            kafka__local__port=free_port(),
            kafka__local__state_dir=tmp_path / "kafka",
        ),
        *command,
        env=env,
    )
    assert_reported(run, ExitCode.SETUP_INCOMPLETE, *expected)
    assert "WARN" not in run.stderr  # no JVM started


# Storage


@pytest.mark.parametrize("key", ["index.path", "stream.checkpoint"])
def test_a_read_only_folder_is_named_before_anything_starts(key, tmp_path):
    with tmpfs(tmp_path / "mount", "1m") as mount:
        read_only(mount)
        paths = {"index.path": tmp_path / "index", "stream.checkpoint": tmp_path / "checkpoint"}
        paths[key] = mount / "neardup"
        run = neardup(
            *settings(
                index__path=paths["index.path"],
                stream__checkpoint=paths["stream.checkpoint"],
                kafka__bootstrap_servers=f"127.0.0.1:{free_port()}",  # checked after the paths
            ),
            "stream",
            "--available-now",
        )
    assert_reported(run, ExitCode.NOT_WRITABLE, str(mount / "neardup"), key, "Read-only")
    assert run.seconds < KAFKA_BOOTSTRAP_DEFAULT_S


def test_a_spark_write_refused_by_the_filesystem_names_the_path(spark, tmp_path):
    """The translation reads the exception Spark really raises (a task failure wrapping Java's
    FileNotFoundException "(Read-only file system)")."""
    from streaming.stream.failures import storage_failure

    with tmpfs(tmp_path / "mount", "1m") as mount:
        read_only(mount)
        with pytest.raises(Exception) as raised:
            spark.range(3).write.parquet(str(mount / "index" / "images"))
    failure = storage_failure(raised.value, {"index.path": str(mount / "index")})
    assert failure is not None
    assert failure.exit_code == ExitCode.NOT_WRITABLE
    assert f"{mount / 'index'} (index.path)" in failure.message


def fill(folder: Path) -> None:
    """Write until the filesystem has no byte left."""
    with (folder / "filler").open("wb") as filler:
        try:
            while True:
                filler.write(b"\0" * 65536)
                filler.flush()
        except OSError:
            pass


@pytest.mark.slow
def test_a_disk_full_while_registering_commits_nothing_and_the_next_run_resumes(
    spark, topics: Config, tmp_path
):
    from streaming.stream.job import open_index

    images = distinct_images(tmp_path / "images", 4, seed=19)
    with tmpfs(tmp_path / "disk", "4m") as disk:
        config = topics.replace(
            **{
                "index.path": str(disk / "index"),
                "stream.checkpoint": str(tmp_path / "checkpoint"),
                "sources.allowed_roots": [str(tmp_path)],
            }
        )
        index = open_index(spark, config)  # the tables exist; their first commit is made
        flags = settings(
            kafka__bootstrap_servers=config.kafka.bootstrap_servers,
            kafka__images_topic=config.kafka.images_topic,
            kafka__alerts_topic=config.kafka.alerts_topic,
            kafka__dlq_topic=config.kafka.dlq_topic,
            index__path=config.index.path,
            stream__checkpoint=config.stream.checkpoint,
            sources__allowed_roots=f'["{tmp_path}"]',
        )
        assert neardup(*flags, "produce", str(images[0].parent)).code == 0
        fill(disk)

        full = neardup(*flags, "stream", "--available-now")

        assert_reported(full, ExitCode.DISK_FULL, f"{disk / 'index'} (index.path)", "resumes")
        checkpoint = Path(config.stream.checkpoint)
        assert (checkpoint / "offsets" / "0").exists()  # the batch ran...
        assert not (checkpoint / "commits" / "0").exists()  # ...and was not committed
        assert index.images().count() == 0  # nor any of its rows

        (disk / "filler").unlink()
        resumed = neardup(*flags, "stream", "--available-now")

        assert resumed.code == 0, resumed.stderr[-3000:]
        assert (checkpoint / "commits" / "0").exists()
        assert sorted(r.id for r in index.images().select("id").collect()) == sorted(
            str(p) for p in images
        )
