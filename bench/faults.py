"""Faults injected into a running stream, and what the stream made of each.

    python -m bench.faults --trials 20 --json

A planted corpus (small images with known near-duplicates: tests/integration/corpus.py) is streamed
by `neardup stream --trigger 1s` in its own process, as an operator runs it, while one fault per
trial strikes at a random moment; the kinds take turns:
- driver_kill: SIGKILL of the driver and its JVM, then the same command again (as systemd would);
- worker_kill: SIGKILL of a Python worker while the driver runs;
- broker_outage: `neardup kafka stop`, then `start` (same data) once the stream noticed;
- bank_add: `neardup index add` of a bank (distinct images, and some of the stream's own files:
  the same ids) committing while the stream registers;
- bad_burst: a burst of only bad messages (missing files, malformed JSON, outside the roots), two
  micro-batches long, at a random place in the stream.
The baseline is one uninterrupted run of the same corpus, measured first. Each trial prints a JSON
line; the summary adds them up: messages lost (neither registered nor dead-lettered), index rows
doubled, trials whose alert ids equal the uninterrupted run's, dead letters seen more than once by
key. The driver gets the quick Kafka client timeouts of the fault tests (see
tests/integration/streams.py), so an outage is noticed in seconds rather than minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from streaming import kafka_io
from streaming.config import Config, load_config
from streaming.local import kafka
from tests.integration.corpus import (
    Message,
    distinct_images,
    expected_alerts,
    planted_stream,
    produce,
    references,
)
from tests.integration.streams import QUICK_TIMEOUTS, index_ids, neardup_command, read_topic

KINDS = ("driver_kill", "worker_kill", "broker_outage", "bank_add", "bad_burst")
BATCH = 20  # max offsets per trigger
DEADLINE_S = 1800.0  # a trial that has not settled by then counts what it lost
STARTS = 6  # nor one whose driver had to be started this often (it keeps failing)


@dataclass
class Trial:
    """One run of the stream over the corpus, with a fault of `kind` (or none)."""

    number: int
    kind: str | None
    config: Config
    folder: Path
    bank: list[Path]
    logs: list[Path] = field(default_factory=list)
    driver_exits: list[int] = field(default_factory=list)
    fault_at: float | None = None  # seconds into the trial; for bad_burst, the place in the stream

    def log_text(self) -> str:
        return "".join(log.read_text(errors="replace") for log in self.logs)


class Fault(Protocol):
    def strike(self, trial: Trial, driver: subprocess.Popen[bytes]) -> bool:
        """Act on the running trial; True once the fault is over (called again until then)."""
        ...


class DriverKill:
    def strike(self, trial: Trial, driver: subprocess.Popen[bytes]) -> bool:
        os.killpg(driver.pid, signal.SIGKILL)  # the trial's loop starts the driver again
        return True


class WorkerKill:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def strike(self, trial: Trial, driver: subprocess.Popen[bytes]) -> bool:
        workers = python_workers(driver.pid)
        if workers:
            os.kill(self.rng.choice(workers), signal.SIGKILL)
        return bool(workers)


class BrokerOutage:
    """Down until the stream noticed (its first restart), or two minutes."""

    stopped: float | None = None

    def strike(self, trial: Trial, driver: subprocess.Popen[bytes]) -> bool:
        if self.stopped is None:
            kafka.stop(trial.config)
            self.stopped = time.monotonic()
        if "restart 1 of" in trial.log_text() or time.monotonic() - self.stopped > 120:
            kafka.start(trial.config)
            return True
        return False


class BankAdd:
    adding: subprocess.Popen[bytes] | None = None

    def strike(self, trial: Trial, driver: subprocess.Popen[bytes]) -> bool:
        if self.adding is None:
            paths = map(str, trial.bank)
            command = neardup_command(trial.config, "index", "add", *paths, "--bank", "known")
            with (trial.folder / "index-add.log").open("wb") as out:
                self.adding = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        if self.adding.poll() is None:
            return False
        if self.adding.returncode:
            trial.driver_exits.append(self.adding.returncode)
        return True


def fault_of(kind: str | None, rng: random.Random) -> Fault | None:
    faults: dict[str, Fault] = {
        "driver_kill": DriverKill(),
        "worker_kill": WorkerKill(rng),
        "broker_outage": BrokerOutage(),
        "bank_add": BankAdd(),
    }
    return faults.get(kind or "")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--images", type=int, default=200, help="images in the planted corpus")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="JSON lines only")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    state = Path(tempfile.mkdtemp(prefix="neardup-faults-"))
    config = load_config(
        overrides={
            "kafka.local.state_dir": str(state / "kafka"),
            "kafka.local.port": 19492,
            "kafka.local.controller_port": 19493,
            "kafka.bootstrap_servers": "127.0.0.1:19492",
            "sources.allowed_roots": [str(state)],
        },
        environ={},
    )
    images = planted_stream(state / "corpus", count=args.images, seed=args.seed, group_every=5)
    bank = bank_files(state, images, config)
    started = kafka.start(config)
    if not args.json:
        print(started, flush=True)
    try:
        baseline = run_trial(trial(config, state, 0, None, bank), images, rng)
        shown = {k: v for k, v in baseline.items() if k != "alert_ids"}
        print(json.dumps({"uninterrupted": shown}), flush=True)
        results = []
        for n in range(1, args.trials + 1):
            kind = KINDS[(n - 1) % len(KINDS)]
            result = run_trial(trial(config, state, n, kind, bank), images, rng, baseline)
            results.append(result)
            print(json.dumps(result), flush=True)
        print(json.dumps(summary(results)), flush=True)
    finally:
        kafka.stop(config)


def trial(config: Config, state: Path, n: int, kind: str | None, bank: list[Path]) -> Trial:
    """Trial n, with topics, an index and a checkpoint of its own."""
    folder = state / f"trial-{n}"
    folder.mkdir(parents=True)
    own = config.replace(
        **{
            "kafka.images_topic": f"images-{n}",
            "kafka.alerts_topic": f"duplicates-{n}",
            "kafka.dlq_topic": f"images-dlq-{n}",
            "index.path": str(folder / "index"),
            "stream.checkpoint": str(folder / "checkpoint"),
        }
    )
    return Trial(n, kind, own, folder, bank)


def bank_files(state: Path, images: list[Path], config: Config) -> list[Path]:
    """A bank that changes no alert of the stream: images unlike any of the stream's, and a few
    of the stream's own files that have no near-duplicate there (the same ids as the stream's)."""
    paired = {path for pair in expected_alerts(images, config) for path in pair}
    singles = [path for path in images if str(path) not in paired][:5]
    candidates = distinct_images(state / "bank", count=12, seed=991)
    clashing = {b for pair in expected_alerts([*images, *candidates], config) for b in pair}
    return [*(path for path in candidates if str(path) not in clashing), *singles]


def bad_burst(folder: Path, count: int) -> list[Message]:
    """Only bad messages, each with a key of its own: missing files, malformed JSON, outside the
    roots."""
    values = [
        lambda i: json.dumps({"id": f"bad-{i}", "uri": str(folder / f"gone-{i}.jpg")}),
        lambda i: "{not json",
        lambda i: json.dumps({"id": f"bad-{i}", "uri": "/etc/hostname"}),
    ]
    return [Message(f"bad-{i}", values[i % len(values)](i).encode()) for i in range(count)]


def run_trial(
    trial: Trial, images: list[Path], rng: random.Random, baseline: dict | None = None
) -> dict:
    messages = references(images)
    bad: list[Message] = []
    if trial.kind == "bad_burst":
        bad = bad_burst(trial.folder, 2 * BATCH)  # at least one micro-batch of nothing else
        at = rng.randrange(len(messages))
        messages[at:at] = bad
        trial.fault_at = float(at)
    produce(trial.config, trial.config.kafka.images_topic, messages)
    expected_ids = {str(p) for p in images}
    if trial.kind == "bank_add":
        expected_ids |= {str(p) for p in trial.bank}
    bad_keys = {m.key for m in bad if m.key}

    def settled() -> bool:
        dead = {key for key, _ in dead_letters(trial.config)} if bad_keys else set()
        return set(index_ids(trial.config)) >= expected_ids and dead >= bad_keys

    fault = fault_of(trial.kind, rng)
    # a moment within the uninterrupted run, once the stream registers
    moment = rng.uniform(0.3, 0.9) * (baseline["seconds"] if baseline else 0.0)
    began = time.monotonic()
    driver = start_driver(trial)
    while not settled() and time.monotonic() - began < DEADLINE_S and len(trial.logs) <= STARTS:
        if fault and time.monotonic() - began >= moment and index_ids(trial.config):
            trial.fault_at = trial.fault_at or round(time.monotonic() - began, 1)
            if fault.strike(trial, driver):
                fault = None
        if driver.poll() is not None:
            # the kill, or an exit nobody asked for: start it again, as its supervisor would
            trial.driver_exits.append(driver.returncode)
            driver = start_driver(trial)
        time.sleep(1)
    seconds = time.monotonic() - began
    stop_driver(driver)
    if kafka.running_pid(trial.config) is None:  # an outage the trial ran out during
        kafka.start(trial.config)
    return measure(trial, expected_ids, bad_keys, seconds, baseline)


def start_driver(trial: Trial) -> subprocess.Popen[bytes]:
    config = trial.config
    command = neardup_command(
        config,
        f"--set=kafka.security={json.dumps(QUICK_TIMEOUTS)}",
        "--set=stream.restarts=8",
        "--set=stream.restart_backoff=2",
        "stream",
        "--trigger",
        "1s",
        "--max-offsets-per-trigger",
        str(BATCH),
        "--checkpoint",
        config.stream.checkpoint,
        log_level="INFO",
    )
    log = trial.folder / f"driver-{len(trial.logs)}.log"
    trial.logs.append(log)
    with log.open("wb") as out:
        # a session of its own: a SIGKILL of the group takes the JVM and the Python workers too
        return subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop_driver(driver: subprocess.Popen[bytes]) -> None:
    if driver.poll() is None:
        driver.send_signal(signal.SIGINT)
        try:
            driver.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(driver.pid, signal.SIGKILL)
            driver.wait()


def python_workers(driver_pid: int) -> list[int]:
    """The Python workers under a driver: the processes pyspark's daemon forked."""
    parents, commands = {}, {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            commands[int(entry.name)] = command.decode(errors="replace")

    def under(pid: int, ancestor: int) -> bool:
        while pid > 1:
            if pid == ancestor:
                return True
            pid = parents.get(pid, 0)
        return False

    daemons = {p for p, c in commands.items() if "pyspark.daemon" in c and under(p, driver_pid)}
    return [p for p, parent in parents.items() if parent in daemons]


def dead_letters(config: Config) -> list[tuple[str, dict]]:
    """(key, record) of the dead-letter topic; a record without a key is known by its source."""
    records = kafka_io.consume_json(
        config, config.kafka.dlq_topic, from_beginning=True, timeout_s=3
    )
    return [(key or json.dumps(value["source"], sort_keys=True), value) for key, value in records]


def measure(
    trial: Trial, expected_ids: set[str], bad_keys: set[str], seconds: float, baseline: dict | None
) -> dict:
    config = trial.config
    ids = index_ids(config)
    dead = Counter(key for key, _ in dead_letters(config))
    alerts = {a["alert_id"] for a in read_topic(config, config.kafka.alerts_topic)}
    result: dict[str, object] = {
        "trial": trial.number,
        "fault": trial.kind,
        "fault_at": trial.fault_at,
        "lost": len(expected_ids - set(ids)) + len(bad_keys - set(dead)),
        "index_rows_doubled": len(ids) - len(set(ids)),
        "dead_letters_repeated": sum(count - 1 for count in dead.values()),
        "stream_restarts": trial.log_text().count(" from the checkpoint: "),
        "driver_exits": trial.driver_exits,
        "alerts": len(alerts),
        "seconds": round(seconds, 1),
    }
    if baseline is None:
        result["alert_ids"] = sorted(alerts)
    else:
        result["alert_ids_equal_to_uninterrupted"] = alerts == set(baseline["alert_ids"])
        result["seconds_vs_uninterrupted"] = round(seconds / baseline["seconds"], 2)
    return result


def summary(results: list[dict]) -> dict:
    return {
        "trials": len(results),
        "faults": dict(Counter(r["fault"] for r in results)),
        "lost": sum(r["lost"] for r in results),
        "index_rows_doubled": sum(r["index_rows_doubled"] for r in results),
        "alert_ids_equal_to_uninterrupted": sum(
            r["alert_ids_equal_to_uninterrupted"] for r in results
        ),
        "dead_letters_repeated": sum(r["dead_letters_repeated"] for r in results),
    }


if __name__ == "__main__":
    main()
