"""The one table of exit codes (streaming.errors.ExitCode) and what is made of it: `neardup --help`
and the section of docs/operators.md; the pure parts of the edge checks."""

from __future__ import annotations

import pytest

from streaming.cli import build_parser
from streaming.config import PROJECT_ROOT
from streaming.errors import ExitCode
from streaming.local.jars import java_version, manifest_artifacts
from streaming.stream.failures import storage_failure


def exit_code_table() -> str:
    """The markdown table docs/operators.md must hold, rendered from ExitCode."""
    rows = ["| code | name | what it means | what to do |", "|---:|---|---|---|"]
    rows += [f"| {c.value} | `{c.name}` | {c.meaning} | {c.fix} |" for c in ExitCode]
    return "\n".join(rows)


def test_the_operators_guide_lists_exactly_the_exit_codes():
    guide = (PROJECT_ROOT / "docs" / "operators.md").read_text()
    section = guide.split("## Exit codes and what to do", 1)[1].split("\n## ", 1)[0]
    assert exit_code_table() in section, f"paste this table into the section:\n{exit_code_table()}"


def test_help_lists_every_exit_code_with_its_meaning():
    epilog = build_parser().format_help().split("exit codes", 1)[1]
    for code in ExitCode:
        assert f"{code.value:>3}  {code.name}" in epilog
        assert code.meaning in epilog


def test_exit_codes_are_distinct_and_documented():
    assert len({int(c) for c in ExitCode}) == len(ExitCode)
    assert all(code.meaning for code in ExitCode)


@pytest.mark.parametrize(
    ("banner", "version"),
    [
        ('openjdk version "17.0.15" 2025-04-15\nOpenJDK Runtime Environment', 17),
        ('openjdk version "11.0.2" 2019-01-15', 11),
        ('java version "1.8.0_292"\nJava(TM) SE Runtime Environment', 8),
        ('openjdk version "25" 2025-09-16', 25),
        ("Error: could not find libjava.so", None),
    ],
)
def test_java_version_reads_the_banner_of_every_release_scheme(banner, version):
    assert java_version(banner) == version


def test_the_jar_check_knows_each_manifest_dependency():
    assert {"spark-sql-kafka-0-10_2.13", "delta-spark_4.2_2.13"} <= set(manifest_artifacts("spark"))
    assert "kafka_2.13" in manifest_artifacts("kafka")


def test_a_storage_failure_without_a_known_path_names_both_keys():
    failure = storage_failure(
        RuntimeError("Job aborted: java.io.IOException: No space left on device"),
        {"index.path": "/data/index", "stream.checkpoint": "/data/checkpoint"},
    )
    assert failure is not None
    assert failure.exit_code == ExitCode.DISK_FULL
    assert "index.path or stream.checkpoint" in failure.message


def test_other_failures_are_left_alone():
    assert storage_failure(RuntimeError("division by zero"), {"index.path": "/data"}) is None
