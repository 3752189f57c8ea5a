"""The restart policy and the diagnosis of failures, as pure functions; the loop with a fake query
and clock."""

from __future__ import annotations

import errno

import pytest

from streaming.errors import ExitCode, NeardupError
from streaming.stream.supervisor import (
    RestartPolicy,
    diagnose,
    next_restart,
    supervise,
    transient_cause,
)

POLICY = RestartPolicy(restarts=3, backoff=10, window=600)

# Failures as the driver saw them (trimmed): Spark's Kafka source without a broker, the sink, a
# restart while the broker is still down, a killed Python worker, a bug in foreachBatch.
OFFSETS_TIMEOUT = (
    "[STREAM_FAILED] Query [id = 0417] terminated with exception: "
    "org.apache.kafka.common.errors.TimeoutException: Timed out waiting for a node assignment. "
    "Call: listNodes SQLSTATE: XXKST"
)
SINK_TIMEOUT = (
    "An exception was raised by the Python Proxy. Return Message: Traceback (most recent call "
    'last):\n  File "job.py", line 205, in __call__\npy4j.protocol.Py4JJavaError: An error '
    "occurred while calling o812.save.\n: org.apache.spark.SparkException: Job aborted.\n"
    "Caused by: org.apache.kafka.common.errors.TimeoutException: Topic duplicates not present "
    "in metadata after 60000 ms."
)
WORKER_KILLED = (
    "org.apache.spark.SparkException: Job aborted due to stage failure: Task 0 in stage 3.0 "
    "failed 1 times: org.apache.spark.SparkException: Python worker exited unexpectedly (crashed)"
)
BUG = (
    "An exception was raised by the Python Proxy. Return Message: Traceback (most recent call "
    'last):\n  File "pairs.py", line 30, in as_words\nValueError: cannot reshape array of size '
    "0 into shape (0,newaxis)"
)


def test_the_wait_doubles_and_restarts_run_out_within_the_window():
    assert next_restart(POLICY, [100.0]).wait == 10
    assert [next_restart(POLICY, [100.0, 130.0, 170.0][:n]).wait for n in (1, 2, 3)] == [10, 20, 40]
    assert next_restart(POLICY, [100.0, 130.0, 170.0, 260.0]) is None
    assert next_restart(POLICY, [100.0, 130.0, 170.0]).attempt == 3


def test_failures_older_than_the_window_no_longer_count():
    # three failures an hour ago, then one now: the first restart again, with the first wait
    restart = next_restart(POLICY, [0.0, 30.0, 70.0, 3670.0])
    assert (restart.attempt, restart.wait) == (1, 10)


def test_the_wait_stops_growing():
    policy = RestartPolicy(restarts=20, backoff=10, window=10**6)
    assert next_restart(policy, [float(t) for t in range(12)]).wait == 300


def test_no_restart_allowed():
    assert next_restart(RestartPolicy(restarts=0, backoff=10, window=600), [5.0]) is None


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (OFFSETS_TIMEOUT, "the Kafka broker is out of reach"),
        (SINK_TIMEOUT, "the Kafka broker is out of reach"),
        (WORKER_KILLED, "a Python worker died"),
        ("Caused by: java.net.ConnectException: Connection refused", "the storage"),
        ("io.delta.exceptions.ConcurrentAppendException: [DELTA_CONCURRENT_APPEND]", "other"),
    ],
)
def test_failures_a_restart_outlives_are_named_in_one_line(text, kind):
    cause = diagnose(text)
    assert cause.startswith(kind)
    assert "\n" not in cause


def test_the_cause_line_is_the_one_that_shows_it():
    assert diagnose(SINK_TIMEOUT) == (
        "the Kafka broker is out of reach: Caused by: org.apache.kafka.common.errors."
        "TimeoutException: Topic duplicates not present in metadata after 60000 ms."
    )


@pytest.mark.parametrize(
    "text",
    [
        BUG,
        "org.apache.kafka.common.errors.SaslAuthenticationException: Authentication failed",
        "[STREAM_FAILED] ... checkpoint at /data/ckpt was made for topic other-images",
    ],
)
def test_bugs_refusals_and_foreign_state_are_not_retried(text):
    assert diagnose(text) is None


def test_neardup_errors_are_retried_by_their_exit_code():
    down = NeardupError("no broker answered at 127.0.0.1:9092", ExitCode.BROKER_UNREACHABLE)
    assert (
        transient_cause(down) == "the Kafka broker is out of reach: no broker answered at "
        "127.0.0.1:9092"
    )
    foreign = NeardupError("checkpoint of topic x", ExitCode.FOREIGN_CHECKPOINT)
    assert transient_cause(foreign) is None
    full = NeardupError("no space left on /data", ExitCode.DISK_FULL)
    assert transient_cause(full) is None


def test_causes_are_followed_and_os_errors_judged_by_errno():
    try:
        try:
            raise OSError(errno.ESTALE, "Stale file handle")
        except OSError as gone:
            raise RuntimeError("reading the index failed") from gone
    except RuntimeError as failure:
        assert transient_cause(failure).startswith("the storage is out of reach")
    assert transient_cause(OSError(errno.ENOENT, "No such file")) is None
    assert transient_cause(ValueError("cannot reshape array of size 0")) is None


class FakeQuery:
    """Fails with the given errors in turn, then returns."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.runs = 0

    def __call__(self) -> None:
        self.runs += 1
        if self.failures:
            raise self.failures.pop(0)


def test_the_loop_restarts_after_transient_failures_and_logs_one_line_each(caplog):
    waits: list[float] = []
    query = FakeQuery(RuntimeError(OFFSETS_TIMEOUT), RuntimeError(SINK_TIMEOUT))
    supervise(query, POLICY, sleep=waits.append, clock=iter([0.0, 200.0]).__next__)
    assert (query.runs, waits) == (3, [10, 20])
    lines = [r.getMessage() for r in caplog.records if r.name == "neardup.supervisor"]
    assert lines[0] == (
        "restart 1 of 3 in 10 s from the checkpoint: the Kafka broker is out of reach: "
        f"builtins.RuntimeError: {OFFSETS_TIMEOUT}"
    )
    assert lines[1].startswith("restart 2 of 3 in 20 s")


def test_a_bug_ends_the_loop_at_once():
    query = FakeQuery(ValueError(BUG))
    with pytest.raises(ValueError, match="cannot reshape"):
        supervise(query, POLICY, sleep=lambda s: pytest.fail("slept"))
    assert query.runs == 1


def test_restarts_run_out_with_their_exit_code_and_the_last_cause():
    query = FakeQuery(*(RuntimeError(OFFSETS_TIMEOUT) for _ in range(5)))
    with pytest.raises(NeardupError) as ended:
        supervise(query, POLICY, sleep=lambda s: None, clock=iter(range(0, 50, 10)).__next__)
    assert ended.value.exit_code == ExitCode.RESTARTS_EXHAUSTED == 60
    assert query.runs == 4
    assert "stream.restarts = 3" in ended.value.message
    assert "the Kafka broker is out of reach" in ended.value.message
