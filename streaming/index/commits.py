"""Delta commits from the driver with delta-rs, for the stream's micro-batches: a few rows to a few
thousand go to a table in one commit, without a Spark job (docs/streaming.md, "Fixed cost of a
micro-batch": a Spark write costs about 100 times as much).

Each commit is version `version` of writer `app_id`, a Delta application transaction (the txn
action Spark's txnAppId/txnVersion write): a version the table already holds is skipped, so a
micro-batch run again after a crash writes nothing twice, and Spark and delta-rs read each other's.
A commit that loses a race with another writer's raises an error `lost_race` recognises; the
caller runs it again (table.retried), on a snapshot brought up to date.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from delta.exceptions import (
    ConcurrentAppendException,
    ConcurrentDeleteReadException,
    MetadataChangedException,
    ProtocolChangedException,
)
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
from deltalake.exceptions import CommitFailedError

from streaming.index.followed import FollowedTable, plain_schema

# What Spark's Delta raises when another writer committed first and this commit's read is stale:
# an append to a table it read, files it read that OPTIMIZE removed, a schema or protocol change.
SPARK_LOST_RACES = (
    ConcurrentAppendException,
    ConcurrentDeleteReadException,
    MetadataChangedException,
    ProtocolChangedException,
)
# delta-rs raises one CommitFailedError for every failed commit; these texts of its conflict
# checker's errors (and of running out of its own retries) say another writer won.
DELTA_RS_LOST_RACES = (
    "a concurrent transaction",  # added data this commit read, deleted data it read or deletes
    "Metadata changed since last commit",
    "Protocol changed since last commit",
    "Concurrent transaction failed",
    "Tried committing existing table version",
)
# delta-rs's own retries used up (MaxCommitAttempts prints the number alone)
OUT_OF_ATTEMPTS = re.compile(r"Failed to commit transaction: \d+$")


def lost_race(error: BaseException) -> bool:
    """Whether a failed Delta commit (Spark's or delta-rs's) lost to a concurrent writer."""
    if isinstance(error, SPARK_LOST_RACES):
        return True
    text = str(error)
    return isinstance(error, CommitFailedError) and (
        any(race in text for race in DELTA_RS_LOST_RACES) or bool(OUT_OF_ATTEMPTS.search(text))
    )


class DriverWriter:
    """One Delta table written from the driver as writer `app_id`, its snapshot kept and brought up
    to date before each commit (for the cost of the commits since the last)."""

    def __init__(
        self, path: str, app_id: str, storage_options: Mapping[str, str] | None = None
    ) -> None:
        self.table = FollowedTable(path, storage_options)
        self.app_id = app_id
        self._schema: pa.Schema | None = None

    @property
    def path(self) -> str:
        return self.table.path

    def schema(self) -> pa.Schema:
        """The table's Arrow schema, as its log records it."""
        if self._schema is None:
            table = self.table.latest()
            if table is None:
                raise FileNotFoundError(f"{self.path}: no Delta table")
            # delta-rs gives view types, which the files would record and readers get back
            self._schema = plain_schema(table)
        return self._schema

    def append(self, rows: pa.Table, version: int) -> None:
        """Append the rows as this writer's `version`, creating the table if it is missing: a blind
        append, which no concurrent append makes fail. A column of the rows that the table lacks
        is added to it (a match log written before flood control's columns)."""
        table = self.table.latest()
        if table is not None and self._holds(table, version):
            return
        write_deltalake(
            self.path,
            rows,
            mode="append",
            schema_mode="merge",
            storage_options=self.table.storage_options,
            commit_properties=self._transaction(version),
        )

    def insert_absent(self, rows: pa.Table, version: int, predicate: str) -> None:
        """Add the rows that match no row of the table on `predicate` (source `s`, target `t`),
        as this writer's `version`: one insert-only MERGE, so "absent" is decided inside the
        commit, and a concurrent commit adding a matching row makes it fail (`lost_race`)."""
        table = self.table.latest()
        if table is None:
            raise FileNotFoundError(f"{self.path}: no Delta table")
        if self._holds(table, version):
            return
        merge = table.merge(
            rows,
            predicate,
            source_alias="s",
            target_alias="t",
            # a materialised source: the merge bounds the target's columns of an equality with
            # the source's min and max, for file skipping and for the conflict check
            streamed_exec=False,
            commit_properties=self._transaction(version),
        )
        merge.when_not_matched_insert_all().execute()

    def _holds(self, table: DeltaTable, version: int) -> bool:
        done = table.transaction_version(self.app_id)
        return done is not None and done >= version

    def _transaction(self, version: int) -> CommitProperties:
        return CommitProperties(app_transactions=[Transaction(app_id=self.app_id, version=version)])


def arrow_rows(rows: Iterable[Mapping[str, Any]], schema: pa.Schema) -> pa.Table:
    """The rows as an Arrow table of exactly `schema` (a column a row lacks is NULL). A naive
    datetime, as Spark's collect gives a TIMESTAMP, is local time: made aware here, where Arrow
    would read it as UTC."""
    names = schema.names
    return pa.Table.from_pylist(
        [{name: _aware(row.get(name)) for name in names} for row in rows], schema=schema
    )


def _aware(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.astimezone(UTC)
    return value
