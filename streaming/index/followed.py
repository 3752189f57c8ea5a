"""A small Delta table beside the index, read with delta-rs (no JVM) and followed to its latest
version for the cost of the commits added since the last read: the reviewers' decisions and the
banks' policies."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.fs as pa_fs
from deltalake import DeltaTable, QueryBuilder
from deltalake.fs import DeltaStorageHandler


class FollowedTable:
    def __init__(self, path: str, storage_options: Mapping[str, str] | None = None) -> None:
        self.path = path.rstrip("/")
        self.storage_options = dict(storage_options or {})
        self._table: DeltaTable | None = None

    def exists(self) -> bool:
        return DeltaTable.is_deltatable(self.path, storage_options=self.storage_options)

    def latest(self) -> DeltaTable | None:
        """The table brought to its latest version, reading only the commits since the last call
        (None while it does not exist)."""
        if self._table is None:
            if not self.exists():
                return None
            self._table = DeltaTable(self.path, storage_options=self.storage_options)
        else:
            self._table.update_incremental()
        return self._table

    def version(self) -> int | None:
        table = self.latest()
        return None if table is None else table.version()

    def rows(self) -> list[dict[str, Any]]:
        """Every row at the table's latest version (none when it does not exist yet)."""
        table = self.latest()
        return [] if table is None else read(table).to_pylist()


def committed_at(table: DeltaTable) -> datetime | None:
    """When the table's loaded version was committed: the commitInfo timestamp of that version's
    log entry (None without one). Not history(): it lists the newest commits in storage, labelled
    from the loaded version."""
    store = pa_fs.PyFileSystem(DeltaStorageHandler.from_table(table._table))
    with store.open_input_stream(f"_delta_log/{table.version():020d}.json") as entry:
        for line in entry.read().splitlines():
            action = json.loads(line)
            if "commitInfo" in action:
                return datetime.fromtimestamp(action["commitInfo"]["timestamp"] / 1000, UTC)
    return None


def read(
    table: DeltaTable, columns: Sequence[str] | None = None, where: str | None = None
) -> pa.Table:
    """The table's rows (those the SQL predicate `where` holds), read by delta-rs's own engine.
    Not Arrow's dataset reader: its I/O threads, left alive at interpreter exit, abort a short
    command now and then ("terminate called without an active exception")."""
    selected = ", ".join(f'"{name}"' for name in columns) if columns else "*"
    return plain_table(_select(table, selected, where))


def count(table: DeltaTable, where: str | None = None) -> int:
    """The table's rows (those the SQL predicate `where` holds), counted by delta-rs's engine."""
    return int(_select(table, "count(*) AS n", where).column("n")[0].as_py())


def _select(table: DeltaTable, selected: str, where: str | None) -> pa.Table:
    query = f"SELECT {selected} FROM t" + (f" WHERE {where}" if where else "")
    return pa.table(QueryBuilder().register("t", table).execute(query).read_all())


def quoted(text: str) -> str:
    """A string for a delta-rs SQL literal between single quotes."""
    return text.replace("'", "''")


def plain(kind: pa.DataType) -> pa.DataType:
    """An Arrow type with its string and list views made plain strings and lists."""
    if pa.types.is_string_view(kind) or pa.types.is_large_string(kind):
        return pa.string()
    if pa.types.is_list_view(kind) or pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return pa.list_(plain(kind.value_type))
    return kind


def plain_schema(table: DeltaTable, columns: Sequence[str] | None = None) -> pa.Schema:
    """These columns (all by default) of a table's schema in plain Arrow types: the files of
    delta-rs's MERGE record string and list views, which pyarrow's kernels (take, filters against
    plain strings) refuse, and a table's files mix both."""
    logged = pa.schema(table.schema().to_arrow())
    fields = [logged.field(name) for name in columns or logged.names]
    return pa.schema([field.with_type(plain(field.type)) for field in fields])


def plain_table(table: pa.Table) -> pa.Table:
    """The table with plain Arrow types where it has string or list views (see plain_schema)."""
    return table.cast(pa.schema([field.with_type(plain(field.type)) for field in table.schema]))
