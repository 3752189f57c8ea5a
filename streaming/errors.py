"""neardup's errors: one exception family for what stops a command, and one rejection type for
what stops a single message.

A `NeardupError` ends a command: the CLI prints its message (at most three lines: what was tried
and the fix) and exits with its `exit_code`. ExitCode is the one table of exit codes: `neardup
--help` lists it and a test keeps docs/operators.md equal to it. A `Rejected` ends one message
only: the stream dead-letters it with its reason and goes on.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class ExitCode(IntEnum):
    """The exit status of `neardup`, with what it means and what to do; a supervisor (systemd,
    Kubernetes) can act on each."""

    meaning: str
    fix: str

    def __new__(cls, value: int, meaning: str, fix: str) -> ExitCode:
        code = int.__new__(cls, value)
        code._value_ = value
        code.meaning = meaning
        code.fix = fix
        return code

    OK = 0, "done", ""
    FAILED = (
        1,
        "an unexpected failure",
        "run it again with `--log-level DEBUG` for the traceback, and report it",
    )
    USAGE = 2, "a bad flag or configuration value", "the message names the flag or the key"
    NOT_RUNNING = (
        3,
        "`kafka status`, `cluster status`: it is not running",
        "`neardup kafka start`, `neardup cluster start`",
    )
    BROKER_UNREACHABLE = (
        10,
        "no Kafka broker answered at kafka.bootstrap_servers",
        "`neardup kafka start`, or set kafka.bootstrap_servers to a running broker",
    )
    BROKER_REFUSED = (
        11,
        "a broker answered but refused the connection's security settings",
        "set [kafka.security] to what the broker's listener expects",
    )
    TOPIC_MISSING = (
        12,
        "a topic is missing and the broker refused to create it",
        "create the topic, grant neardup Create on it, or set the topic key to an existing topic",
    )
    SPARK_UNREACHABLE = (
        20,
        "no Spark master answered at spark.master",
        "`neardup cluster start`, or set spark.master (local[2] runs Spark in the process)",
    )
    NO_WORKERS = (
        21,
        "the Spark master gave the job no executor in spark.executor_timeout_s",
        "start workers (`neardup cluster start`), or free cores and memory on them",
    )
    SETUP_INCOMPLETE = (
        30,
        "the JVM jars or Java are missing, or Java is older than 17",
        "`make setup`; install Java 17 or later, or set JAVA_HOME to it",
    )
    NOT_WRITABLE = (
        40,
        "index.path or stream.checkpoint cannot be written",
        "make the path writable, or set the key to a writable path",
    )
    DISK_FULL = (
        41,
        "no space left where the index or the checkpoint is written",
        "free space, then run the same command: it resumes from the checkpoint",
    )
    FOREIGN_INDEX = (
        42,
        "index.path holds something that is not a neardup index",
        "set index.path to this index's folder, or to an empty one",
    )
    FOREIGN_CHECKPOINT = (
        43,
        "the checkpoint belongs to a query of another topic",
        "set stream.checkpoint to this query's folder, or to a new one",
    )
    STORE_UNREACHABLE = (
        50,
        "the object store's endpoint does not answer",
        "start the store, or set its endpoint under [spark.conf]",
    )
    STORE_REFUSED = (
        51,
        "the object store refused the credentials",
        "set the store's access key and secret (in the environment, not in a TOML file)",
    )
    RESTARTS_EXHAUSTED = (
        60,
        "the stream failed more often within stream.restart_window than stream.restarts allows",
        "the log has each failure; fix the cause, then run the same command to resume",
    )
    INTERRUPTED = 130, "stopped by Ctrl-C (SIGINT)", ""


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

    MESSAGE_TOO_LARGE = "message_too_large"  # over sources.max_message_bytes, not parsed
    NOT_UTF8 = "not_utf8"
    MALFORMED_JSON = "malformed_json"
    TOO_DEEPLY_NESTED = "too_deeply_nested"
    ID_TOO_LONG = "id_too_long"
    SCHEMA_VIOLATION = "schema_violation"
    BAD_URI = "bad_uri"  # a uri that no URL parser or file system takes (a NUL, a broken host)
    META_TOO_LARGE = "meta_too_large"  # over sources.max_meta_bytes: alerts carry it
    BAD_BASE64 = "bad_base64"
    DISALLOWED_SCHEME = "disallowed_scheme"
    DISALLOWED_HOST = "disallowed_host"
    DISALLOWED_ADDRESS = "disallowed_address"
    OUTSIDE_ROOTS = "outside_roots"
    MISSING_FILE = "missing_file"
    NOT_A_FILE = "not_a_file"
    FORBIDDEN = "forbidden"
    FETCH_FAILED = "fetch_failed"
    TOO_MANY_BYTES = "too_many_bytes"
    EMPTY = "empty"
    UNDECODABLE = "undecodable"
    TOO_LARGE = "too_large"
    UNSUPPORTED = "unsupported"
    TRANSFORM_FAILED = "transform_failed"  # an image operation cannot apply (a crop outside it)


class Rejected(Exception):
    """One message that cannot be hashed: its dead-letter reason, a message for a person, and the
    image id when the message had one."""

    def __init__(self, reason: Reason, message: str, image_id: str | None = None) -> None:
        super().__init__(message)
        self.reason = Reason(reason)
        self.message = message
        self.image_id = image_id
