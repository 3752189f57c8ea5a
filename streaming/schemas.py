"""The message and table schemas in schemas/, loaded once: JSON Schema validators and Delta table
schemas.

schemas/ is the single source of truth: the code validates messages with these files and derives the
Spark schema of each Delta table from its DDL, so a change to a file changes the program.
"""

from __future__ import annotations

import json
import re
import zipfile
from functools import cache
from typing import Any

import jsonschema
import pyarrow as pa
from referencing import Registry, Resource

from streaming.config import PROJECT_ROOT

# Executors of a cluster import the package from the zip of spark-submit --py-files, which carries
# schemas/ too: open() cannot read inside a zip, zipfile.Path can.
SCHEMAS_DIR = (
    zipfile.Path(PROJECT_ROOT, "schemas/") if PROJECT_ROOT.is_file() else PROJECT_ROOT / "schemas"
)


@cache
def json_schema(name: str) -> dict[str, Any]:
    """A message schema by file stem, e.g. "image_ref" for schemas/image_ref.schema.json."""
    return json.loads((SCHEMAS_DIR / f"{name}.schema.json").read_text())


@cache
def validator(name: str) -> jsonschema.protocols.Validator:
    registry = Registry().with_resources(
        (path.name, Resource.from_contents(json.loads(path.read_text())))
        for path in SCHEMAS_DIR.iterdir()
        if path.name.endswith(".schema.json")
    )
    schema = json_schema(name)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, registry=registry, format_checker=cls.FORMAT_CHECKER)


def dead_letter_reasons() -> tuple[str, ...]:
    return tuple(json_schema("dead_letter")["properties"]["reason"]["enum"])


@cache
def delta_ddl(table: str) -> str:
    """The CREATE TABLE statement of schemas/delta/<table>.sql, comments removed."""
    text = (SCHEMAS_DIR / "delta" / f"{table}.sql").read_text()
    return re.sub(r"--[^\n]*", "", text).strip()


def delta_columns(table: str) -> str:
    """The column list of a table's DDL as Spark DDL ("id STRING NOT NULL, bank STRING, ...")."""
    ddl = delta_ddl(table)
    start = ddl.index("(") + 1
    depth, end = 1, start
    # the list ends at the parenthesis that closes the first one (types nest < >, not ( ))
    while depth:
        depth += {"(": 1, ")": -1}.get(ddl[end], 0)
        end += 1
    return " ".join(ddl[start : end - 1].split())


def delta_partition_columns(table: str) -> list[str]:
    found = re.search(r"PARTITIONED\s+BY\s*\(([^)]*)\)", delta_ddl(table), re.IGNORECASE)
    return [c.strip() for c in found.group(1).split(",")] if found else []


_ARROW_TYPES = {
    "STRING": pa.string(),
    "INT": pa.int32(),
    "BIGINT": pa.int64(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "TIMESTAMP": pa.timestamp("us", tz="UTC"),
}


@cache
def arrow_schema(table: str) -> pa.Schema:
    """The Arrow schema of a Delta table of flat columns (for delta-rs, which needs no JVM to parse
    the DDL as Spark's StructType.fromDDL does)."""
    fields = []
    for column in delta_columns(table).split(","):
        name, kind, *constraint = column.split()
        if kind.upper() not in _ARROW_TYPES:
            raise ValueError(f"{table}.{name}: {kind} is not a flat type arrow_schema knows")
        fields.append(pa.field(name, _ARROW_TYPES[kind.upper()], nullable=not constraint))
    return pa.schema(fields)
