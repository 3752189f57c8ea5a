"""neardup's errors: one exception family for what stops a command, and one rejection type for
what stops a single message.

A `NeardupError` ends a command: the CLI prints its message (at most three lines: what was tried
and the fix) and exits with its `exit_code`, listed in EXIT_CODES, `neardup --help` and
docs/operators.md. A `Rejected` ends one message only: the stream dead-letters it with its reason
and goes on.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class ExitCode(IntEnum):
    """The exit status of `neardup`; a supervisor (systemd, Kubernetes) can act on each."""

    OK = 0
    FAILED = 1  # an unexpected failure: the log has the traceback
    USAGE = 2  # a bad flag or configuration value
    NOT_RUNNING = 3  # `status` of a local daemon that is not running
    BROKER_UNREACHABLE = 10  # no Kafka broker answered at kafka.bootstrap_servers
    BROKER_REFUSED = 11  # the broker refused the client's security settings
    TOPIC_MISSING = 12  # a topic is missing and the broker does not allow creating it
    SPARK_UNREACHABLE = 20  # no Spark master answered at spark.master
    NO_WORKERS = 21  # the Spark cluster has no worker to run the job
    SETUP_INCOMPLETE = 30  # JVM jars or Java missing, or the wrong Java: run `make setup`
    NOT_WRITABLE = 40  # the index or checkpoint path cannot be written
    DISK_FULL = 41  # no space left where the index or checkpoint is written
    FOREIGN_INDEX = 42  # index.path holds something that is not this neardup index
    FOREIGN_CHECKPOINT = 43  # the checkpoint belongs to a query of another topic
    STORE_UNREACHABLE = 50  # the object store's endpoint does not answer
    STORE_REFUSED = 51  # the object store refused the credentials
    RESTARTS_EXHAUSTED = 60  # the stream failed more times than stream.restarts allows


class NeardupError(Exception):
    """An error that ends a command with a short message and its exit code, no traceback."""

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, message: str, exit_code: ExitCode | None = None) -> None:
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code


class ConfigError(NeardupError, ValueError):
    """A configuration value is missing, of the wrong type or out of range; the message names the
    key."""

    exit_code = ExitCode.USAGE


class Reason(StrEnum):
    """Why a message became a dead letter: the `reason` of schemas/dead_letter.schema.json."""

    MALFORMED_JSON = "malformed_json"
    SCHEMA_VIOLATION = "schema_violation"
    BAD_BASE64 = "bad_base64"
    DISALLOWED_SCHEME = "disallowed_scheme"
    DISALLOWED_HOST = "disallowed_host"
    OUTSIDE_ROOTS = "outside_roots"
    MISSING_FILE = "missing_file"
    NOT_A_FILE = "not_a_file"
    FETCH_FAILED = "fetch_failed"
    TOO_MANY_BYTES = "too_many_bytes"
    EMPTY = "empty"
    UNDECODABLE = "undecodable"
    TOO_LARGE = "too_large"
    UNSUPPORTED = "unsupported"


class Rejected(Exception):
    """One message that cannot be hashed: its dead-letter reason, a message for a person, and the
    image id when the message had one."""

    def __init__(self, reason: Reason, message: str, image_id: str | None = None) -> None:
        super().__init__(message)
        self.reason = Reason(reason)
        self.message = message
        self.image_id = image_id
