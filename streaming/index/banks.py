"""The `banks` table (schemas/delta/banks.sql) beside the index: each bank's policy, one row per
bank, each change one Delta commit.

Like the decisions table it is read and written with delta-rs: `neardup bank set` commits without a
JVM, and the stream follows the table's version at each micro-batch, reading the rows again only
when it moved (docs/banks.md).
"""

from __future__ import annotations

import getpass
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from deltalake import write_deltalake

from streaming.errors import ConfigError
from streaming.index.decisions import is_local
from streaming.index.followed import FollowedTable, quoted, read
from streaming.schemas import arrow_schema

KINDS = ("alert", "allow")


@dataclass(frozen=True)
class BankPolicy:
    """One row of the table (stream/policies.py says what each field does)."""

    name: str
    kind: str = "alert"  # alert | allow
    enabled: bool = True
    threshold: int | None = None  # None: hashing.threshold
    labels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"bank {self.name!r}: kind must be one of {', '.join(KINDS)}")
        if self.threshold is not None and self.threshold < 0:
            raise ValueError(f"bank {self.name!r}: threshold must be >= 0")


def policy_of(row: Mapping[str, Any]) -> BankPolicy:
    labels = row["labels"]
    return BankPolicy(
        name=row["name"],
        kind=row["kind"],
        enabled=row["enabled"],
        threshold=row["threshold"],
        labels=tuple(labels.split(",")) if labels else (),
    )


def row_of(policy: BankPolicy, changed_by: str) -> dict[str, Any]:
    return {
        "name": policy.name,
        "kind": policy.kind,
        "enabled": policy.enabled,
        "threshold": policy.threshold,
        "labels": ",".join(policy.labels) or None,
        "changed_by": changed_by,
        "changed_at": datetime.now(UTC),
    }


class BankTable(FollowedTable):
    """The table at index.path/banks; created by its first `set`."""

    def __init__(self, index_path: str, storage_options: Mapping[str, str] | None = None) -> None:
        super().__init__(f"{index_path.rstrip('/')}/banks", storage_options)
        self._seen: tuple[int | None, dict[str, BankPolicy]] = (None, {})

    def policies(self) -> dict[str, BankPolicy]:
        """Every bank's policy at the latest version, by name; read again only when it moved."""
        version = self.version()
        if version != self._seen[0]:
            self._seen = (version, {row["name"]: policy_of(row) for row in self.rows()})
        return self._seen[1]

    def set(self, name: str, changed_by: str | None = None, **changes: Any) -> BankPolicy:
        """Change a bank's policy (kind, enabled, threshold, labels), creating it with the defaults
        if it has none: one Delta commit (the table is created if missing)."""
        self._check_writable()
        policy = replace(self.policies().get(name) or BankPolicy(name), **changes)
        row = row_of(policy, changed_by or getpass.getuser())
        source = pa.Table.from_pylist([row], schema=arrow_schema("banks"))
        table = self.latest()
        if table is None:
            write_deltalake(self.path, source, mode="append", storage_options=self.storage_options)
        else:
            merge = table.merge(source, "t.name = s.name", source_alias="s", target_alias="t")
            merge.when_matched_update_all().when_not_matched_insert_all().execute()
        return policy

    def remove(self, name: str) -> bool:
        """Delete a bank's policy (one Delta commit); whether it had one."""
        self._check_writable()
        table = self.latest()
        if table is None or name not in self.policies():
            return False
        table.delete(f"name = '{quoted(name)}'")
        return True

    def changed_at(self) -> dict[str, datetime]:
        """When each bank's policy last changed, by name."""
        return {row["name"]: row["changed_at"] for row in self.rows()}

    def _check_writable(self) -> None:
        # delta-rs commits safely without a lock only on a file system (as the decisions table)
        if not is_local(self.path):
            raise ConfigError(f"{self.path}: bank policies need index.path on a local file system")


def member_counts(
    images_path: str, storage_options: Mapping[str, str] | None = None
) -> dict[str, int]:
    """The number of `images` rows of each bank, read with delta-rs (none before the table
    exists)."""
    table = FollowedTable(images_path, storage_options).latest()
    if table is None:
        return {}
    banks = read(table, ["bank"]).column("bank").drop_null()
    counts = banks.value_counts()
    return dict(
        zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True)
    )
