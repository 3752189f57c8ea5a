"""The Delta hash index: a per-image table and a bands table (schemas/delta/*.sql) under one folder.

Two writers add images: Spark (`append`, for `neardup index add` and the other batch jobs, whose
rows are a DataFrame) and delta-rs from the driver (`append_rows`, for the stream's micro-batches:
a commit of a few rows costs milliseconds there, a second as a Spark job). Registration is
idempotent twice over, the same in both: each commit carries a Delta application transaction
(txnAppId/txnVersion; delta-rs's Transaction), so a micro-batch written again after a crash is
skipped, and only ids absent from a table are ever added to it, so no writer can give an id a
second row.

"Absent" is decided inside the commit that adds the rows. Spark's write anti-joins the rows with
the ids `images` holds; delta-rs runs an insert-only MERGE on id. Either way the commit reads the
table, and Delta's conflict detection orders concurrent writers (the stream, `neardup index add`,
a second stream): two writers adding the same id at once each find it absent, and whichever
commits second fails (ConcurrentAppendException in Spark, CommitFailedError in delta-rs), reads the
table again, drops the id and commits. A lost race is retried here (`retried`), and the id keeps
one row. delta-rs's conflict checker (kernel/transaction/conflict_checker.rs) fails the MERGE
when a commit that landed after its snapshot added a file whose statistics match the MERGE's read
predicate (the target side of `t.id = s.id`, bounded by the source's smallest and largest id, and
the narrowing on `registered_by`); neither isolation level exempts more than the winner's blind
appends, and neither writer's commit is one (Spark's reads the table, a MERGE records no
isBlindAppend). Spark's checker, in the other order, sees delta-rs's files the same
way. tests/index/test_index.py races both orders. docs/operators.md ("Faults and exit codes")
says what this costs and promises.

Both tables record in their properties the primary hash type and size they hold and the number of
bands the hash is cut into; opening an index checks them, so a folder that holds anything else (a
plain folder, another Delta table, an index of another hash) is refused before anything is written.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from delta.tables import DeltaTable
from deltalake import DeltaTable as DeltaLog
from pyspark.sql import Column, DataFrame, Row, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from streaming.errors import ExitCode, NeardupError
from streaming.hadoopfs import list_folder
from streaming.hashing import hash_type
from streaming.imageframe import hash_column
from streaming.index.bands import BandPlan, plan_bands, spread
from streaming.index.banks import member_counts
from streaming.index.commits import DriverWriter, arrow_rows, lost_race
from streaming.index.followed import committed_at, count, quoted
from streaming.schemas import arrow_schema, delta_columns, delta_partition_columns
from streaming.storage import absolute

log = logging.getLogger(__name__)

COMMIT_ATTEMPTS = 20
TABLES = ("images", "bands")
# Tables beside these that delta-rs writers may create before the index exists (`neardup bank set`)
SIDE_TABLES = ("banks", "decisions")
# Nullable columns a release added to a table's DDL: a table without them is an older index, which
# opening it upgrades (ALTER TABLE ADD COLUMNS, a metadata-only commit; old rows read NULL).
ADDED_COLUMNS = {"images": ("meta", "crops")}


class HashIndex:
    def __init__(
        self,
        spark: SparkSession,
        path: str,
        primary: str,
        hash_size: int,
        threshold: int,
        expected_size: int = 10_000_000,
        storage_options: Mapping[str, str] | None = None,
        crops: bool = False,
    ) -> None:
        self.spark = spark
        self.path = absolute(path.rstrip("/"))
        # delta-rs's settings for the store under `path` (storage.delta_storage_options)
        self.storage_options = dict(storage_options or {})
        self.primary = primary
        self.hash_size = hash_size
        self.crops = crops  # whether lookups index the crops rows hold too (hashing.crops)
        self.expected_size = expected_size  # what the band plan is cut for
        self.plan: BandPlan = plan_bands(
            hash_type(primary).width(hash_size), threshold, expected_size
        )
        self.images_path = f"{self.path}/images"
        self.bands_path = f"{self.path}/bands"
        self.matches_path = f"{self.path}/matches"  # the match log, written by the stream
        self._driver_writers: dict[tuple[str, str], DriverWriter] = {}  # by (table, app id)

    def ensure(self) -> None:
        """Check what the folder holds, then create the tables that are missing. An existing
        index keeps the bands it was created with (see properties)."""
        existing = self._check_folder()
        for table in existing:
            self._check_table(table)
        for table in TABLES:
            if table not in existing:
                builder = DeltaTable.createIfNotExists(self.spark).location(self._path(table))
                builder = builder.addColumns(table_schema(table))
                builder = builder.partitionedBy(*delta_partition_columns(table))
                for key, value in self.properties().items():
                    builder = builder.property(key, value)
                # two writers starting at once both create the table: the second finds it made
                retried(builder.execute, self._path(table), "creating the table")

    def properties(self) -> dict[str, str]:
        """What the tables record of the index. The bands table is only right for the number of
        bands it was cut into; any threshold can be searched with it (radii spread anew for the
        threshold, bands.spread), so an index keeps its bands whatever hashing.threshold says
        later. The radii are not recorded: they decide the probes, not what is stored."""
        return {
            "neardup.primary": self.primary,
            "neardup.hashSize": str(self.hash_size),
            "neardup.bands": str(self.plan.bands),
            "neardup.threshold": str(self.plan.threshold),
        }

    def _check_folder(self) -> list[str]:
        """The tables the folder holds; FOREIGN_INDEX if it holds anything else."""
        try:
            names = list_folder(self.spark, self.path)
        except NotADirectoryError:
            raise self._foreign(self.path, "is a file, not an index folder") from None
        if names is None:
            return []
        if "_delta_log" in names:
            raise self._foreign(
                self.path, "is itself a Delta table: index.path is the folder of images/ and bands/"
            )
        existing = [table for table in TABLES if table in names]
        others = [name for name in names if not name.startswith(".") and name not in SIDE_TABLES]
        if not existing and others:
            raise self._foreign(self.path, "holds files but no neardup index (no images/, bands/)")
        for table in existing:
            if not DeltaLog.is_deltatable(self._path(table), self.storage_options):
                raise self._foreign(self._path(table), "is not a Delta table")
        return existing

    def _check_table(self, table: str) -> None:
        """FOREIGN_INDEX unless the table has this index's columns and, if it records them, its
        hash type and size; adopt its bands, and add the columns a later release added."""
        path = self._path(table)
        # delta-rs reads the log's last checkpoint and commits in milliseconds, where Spark's first
        # reads of a table cost seconds of every start (the stream writes with delta-rs anyway).
        delta_log = DeltaLog(path, storage_options=self.storage_options)
        columns = {field.name for field in delta_log.schema().fields}
        later = ADDED_COLUMNS.get(table, ())
        missing = [f.name for f in table_schema(table) if f.name not in {*columns, *later}]
        if missing:
            missing_text = ", ".join(missing[:4])
            raise self._foreign(
                path, f"is a Delta table without the columns of neardup's {table} ({missing_text})"
            )
        recorded = delta_log.metadata().configuration
        primary = recorded.get("neardup.primary", self.primary)
        hash_size = int(recorded.get("neardup.hashSize", self.hash_size))
        if (primary, hash_size) != (self.primary, self.hash_size):
            raise self._foreign(
                path,
                f"indexes {primary} hashes of size {hash_size}, not the configured "
                f"{self.primary} of size {self.hash_size}: set hashing.primary and "
                "hashing.hash_size to the index's, or use another index.path",
            )
        if "neardup.bands" in recorded:
            bands = int(recorded["neardup.bands"])
            plan = self.plan
            self.plan = spread(plan.bits, plan.threshold, bands, self.expected_size)
        self._add_columns(table, columns)

    def _add_columns(self, table: str, columns: Collection[str]) -> None:
        """Add the columns of ADDED_COLUMNS the table lacks (an index of an older release)."""
        path = self._path(table)
        lacking = [
            f"{f.name} {f.dataType.simpleString().upper()}"
            for f in table_schema(table)
            if f.name in ADDED_COLUMNS.get(table, ()) and f.name not in columns
        ]
        if lacking:
            quoted_path = path.replace("`", "``")
            statement = f"ALTER TABLE delta.`{quoted_path}` ADD COLUMNS ({', '.join(lacking)})"
            retried(lambda: self.spark.sql(statement), path, "adding columns")

    def _path(self, table: str) -> str:
        return f"{self.path}/{table}"

    @staticmethod
    def _foreign(path: str, what: str) -> NeardupError:
        return NeardupError(f"index {path} {what}", ExitCode.FOREIGN_INDEX)

    def images(self) -> DataFrame:
        return self.spark.read.format("delta").load(self.images_path)

    def size(self) -> int:
        """The rows of `images`, summed from its Delta log's file statistics (delta-rs: no Spark
        job); counted when a file lacks them."""
        images = DeltaLog(self.images_path, storage_options=self.storage_options)
        return self._rows(pa.table(images.get_add_actions(flatten=True)))

    def _rows(self, image_files: pa.Table) -> int:
        """The rows of `images` whose add actions (a row a file) these are."""
        records = image_files.column("num_records").to_pylist()
        if None in records:
            return self.images().count()
        return sum(records)

    def bands(self) -> DataFrame:
        """The bands of this index's primary hash type."""
        bands = self.spark.read.format("delta").load(self.bands_path)
        return bands.where(F.col("hash_type") == self.primary)

    def band_rows(self, rows: DataFrame) -> DataFrame:
        """One row per (image, band) of the bands table, cut from the rows' primary hash."""
        hashes = F.col(hash_column(self.primary))
        exploded = rows.where(hashes.isNotNull()).select(
            "*", F.explode(band_values(hashes, self.plan)).alias("_band")
        )
        return exploded.select(
            F.lit(self.primary).alias("hash_type"),
            "_band.band",
            "_band.value",
            "id",
            "bank",
            hashes.alias("hash"),
            "source_timestamp",
            "source_partition",
            "source_offset",
            "registered_by",
            "batch_id",
        )

    def register(self, rows: DataFrame, app_id: str, version: int) -> int:
        """Add the rows whose id is new; the same (app_id, version) twice writes nothing twice.
        Returns the rows added (fewer when a concurrent writer added some of the same ids first)."""
        new = rows.join(self.images().select("id"), "id", "left_anti").persist()
        try:
            added = new.count()
            self.append(new, app_id, version)
            return added
        finally:
            new.unpersist()

    def lookup(self, ids: Collection[str], columns: Sequence[str]) -> list[Row]:
        """The `images` rows of these ids. For a set as small as a micro-batch's: a filtered scan,
        where a join would shuffle every id of the index."""
        if not ids:
            return []
        return self.images().where(F.col("id").isin(sorted(ids))).select(*columns).collect()

    def append(
        self,
        new: DataFrame,
        app_id: str,
        version: int,
        with_bands: bool = True,
        checked_ids: Collection[str] | None = None,
    ) -> None:
        """Write rows whose ids the index does not hold, as version `version` of writer `app_id`;
        their bands too unless told not to (a stream with index.lookup = memory cuts its bands in
        memory, and saves a Delta commit per micro-batch; complete_bands adds them when a join
        needs them).

        An id another writer registered meanwhile is dropped in the commit itself (see the module
        docstring). `checked_ids`, the ids of `new` when the writer checked them against its own
        rows (the stream's lookup), narrows that read to other writers' rows of these ids: Delta's
        file statistics skip the writer's own files, and the commit stays cheap as the index grows.
        """
        new = self.conform(new)
        # Bands first: after a crash between the two commits, the re-run still sees these ids as new
        # in `images`, writes them there, and Delta skips the bands it already committed for this
        # version. A bands row of an id that a concurrent writer registered first stays: bands only
        # propose candidates, which the images rows verify.
        if with_bands:
            bands = self.band_rows(new).write.format("delta").mode("append")
            bands.option("txnAppId", app_id).option("txnVersion", version).save(self.bands_path)

        def commit() -> None:
            held = self.images().select("id", "registered_by")
            if checked_ids is not None:
                others = F.col("registered_by").isNull() | (F.col("registered_by") != app_id)
                held = F.broadcast(held.where(others & F.col("id").isin(sorted(checked_ids))))
            absent = new.join(held.select("id"), "id", "left_anti")
            # merging: a column the DDL gained since the table was made is added, not refused
            writer = absent.write.format("delta").mode("append").option("mergeSchema", "true")
            writer.option("txnAppId", app_id).option("txnVersion", version).save(self.images_path)

        retried(commit, self.images_path, f"{app_id} version {version}")

    def append_rows(
        self,
        rows: Sequence[Mapping[str, Any]],
        app_id: str,
        version: int,
        with_bands: bool = True,
        checked: bool = False,
    ) -> None:
        """`append` for rows on the driver (a micro-batch's, by column name), committed with
        delta-rs: no Spark job. The bands, then the images whose ids are absent, in one insert-only
        MERGE whose conflict check fails it when another writer adds one of these ids meanwhile
        (see the module docstring). `checked`: the writer checked these ids against its own rows
        (the stream's lookup), so the MERGE reads only other writers' rows, and Delta's file
        statistics skip the writer's own files as the index grows."""
        if not rows:
            return
        images = self._driver_writer("images", app_id)
        if with_bands:
            bands = self._driver_writer("bands", app_id)
            band_rows = arrow_rows(self.band_dicts(rows), bands.schema())
            retried(lambda: bands.append(band_rows, version), self.bands_path, f"{app_id} bands")
        image_rows = arrow_rows(rows, images.schema())
        predicate = "t.id = s.id"
        if checked:
            predicate += f" AND (t.registered_by IS NULL OR t.registered_by <> '{quoted(app_id)}')"
        retried(
            lambda: images.insert_absent(image_rows, version, predicate),
            self.images_path,
            f"{app_id} version {version}",
        )

    def band_dicts(self, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """`band_rows` for rows on the driver."""
        kept = ("id", "bank", "source_timestamp", "source_partition", "source_offset")
        return [
            {
                "hash_type": self.primary,
                "band": band,
                "value": value,
                **{name: row.get(name) for name in (*kept, "registered_by", "batch_id")},
                "hash": words,
            }
            for row in rows
            if (words := row.get(hash_column(self.primary))) is not None
            for band, value in enumerate(self.plan.band_values(words))
        ]

    def log_matches(self, rows: Sequence[Mapping[str, Any]], app_id: str, version: int) -> None:
        """Append rows to the `matches` log as version `version` of writer `app_id`, with delta-rs
        (its first rows create the table, schemas/delta/matches.sql; a column it lacks is added)."""
        if not rows:
            return
        writer = self._driver_writer("matches", app_id)
        table = arrow_rows(rows, arrow_schema("matches"))
        retried(lambda: writer.append(table, version), self.matches_path, f"{app_id} matches")

    def _driver_writer(self, table: str, app_id: str) -> DriverWriter:
        key = (table, app_id)
        if key not in self._driver_writers:
            self._driver_writers[key] = DriverWriter(
                self._path(table), app_id, self.storage_options
            )
        return self._driver_writers[key]

    def join_banks(self, members: Mapping[str, str]) -> None:
        """Put these images (id -> bank) into their banks, those that belong to none yet (one
        MERGE; a member of a bank is never moved)."""
        source = self.spark.createDataFrame(list(members.items()), "id STRING, bank STRING")
        target = DeltaTable.forPath(self.spark, self.images_path).alias("t")
        merge = target.merge(source.alias("s"), "t.id = s.id")
        merge = merge.whenMatchedUpdate("t.bank IS NULL", {"bank": "s.bank"})
        retried(merge.execute, self.images_path, "putting images into banks")

    def remove_members(self, bank: str, ids: Collection[str] = ()) -> int:
        """Delete these members of a bank from `images` (all of them when no ids are given), in one
        DELETE; returns how many rows went. Their bands rows stay: bands only propose candidates,
        which the images rows verify, so they match nothing from the next lookup."""
        where = F.col("bank") == bank
        if ids:
            where = where & F.col("id").isin(sorted(ids))
        doomed = self.images().where(where).count()
        if doomed:
            table = DeltaTable.forPath(self.spark, self.images_path)
            retried(lambda: table.delete(where), self.images_path, f"removing members of {bank}")
        return doomed

    def complete_bands(self) -> None:
        """Add the bands of the images that have none (registered by a stream that kept its bands in
        memory)."""

        def commit() -> None:
            missing = self.images().join(self.bands().select("id"), "id", "left_anti")
            self.band_rows(missing).write.format("delta").mode("append").save(self.bands_path)

        retried(commit, self.bands_path, "completing the bands")

    @staticmethod
    def conform(rows: DataFrame) -> DataFrame:
        """The rows with exactly the columns of `images`, in its order and types (missing ones
        NULL)."""
        schema = table_schema("images")
        return rows.select(
            *(
                (F.col(f.name) if f.name in rows.columns else F.lit(None))
                .cast(f.dataType)
                .alias(f.name)
                for f in schema
            )
        )

    def stats(self) -> dict:
        """Size and layout of the index, from its Delta logs and read with delta-rs (no Spark
        job: Spark's scans cost seconds where the logs answer at once)."""
        images = DeltaLog(self.images_path, storage_options=self.storage_options)
        bands = DeltaLog(self.bands_path, storage_options=self.storage_options)
        image_files = pa.table(images.get_add_actions(flatten=True))
        committed = committed_at(images)
        return {
            "path": self.images_path,
            "images": self._rows(image_files),
            "banks": member_counts(self.images_path, self.storage_options),
            "version": images.version(),
            "index_lag_s": None
            if committed is None
            else round(time.time() - committed.timestamp(), 3),
            "files": image_files.num_rows,
            "bytes": pc.sum(image_files.column("size_bytes")).as_py() or 0,
            "bands_path": self.bands_path,
            "bands": count(bands, f"hash_type = '{quoted(self.primary)}'"),
            "bands_files": len(bands.file_uris()),
            "primary": self.primary,
            "plan": {
                "bands": self.plan.bands,
                "radii": list(self.plan.radii),
                "threshold": self.plan.threshold,
            },
        }

    def optimize(self) -> None:
        """Compact small files; in the bands table, cluster by value so a probe's lookup skips
        files."""
        DeltaTable.forPath(self.spark, self.images_path).optimize().executeCompaction()
        DeltaTable.forPath(self.spark, self.bands_path).optimize().executeZOrderBy("value")


def retried(commit: Callable[[], object], path: str, what: str) -> None:
    """Run a Delta commit, again while it loses races with other writers' commits. Each attempt
    reads the table afresh; the winner just committed, so the next attempt starts at once (a
    little jitter keeps two losers apart)."""
    for attempt in range(1, COMMIT_ATTEMPTS + 1):
        try:
            commit()
            return
        except Exception as lost:
            if not lost_race(lost):  # Spark's or delta-rs's error for a stale read
                raise
            if attempt == COMMIT_ATTEMPTS:
                raise NeardupError(
                    f"{path}: {what} lost {attempt} commits in a row to concurrent writers "
                    f"({type(lost).__name__}); retry when they are done"
                ) from lost
            log.info(
                "%s: %s lost a commit to a concurrent writer (%s); attempt %d of %d",
                path,
                what,
                type(lost).__name__,
                attempt + 1,
                COMMIT_ATTEMPTS,
            )
            time.sleep(random.uniform(0.0, 0.5))


def table_schema(table: str) -> StructType:
    """The Spark schema of a Delta table's DDL (schemas/delta/<table>.sql)."""
    schema = StructType.fromDDL(delta_columns(table))
    assert isinstance(schema, StructType)  # a column list parses as a struct
    return schema


def band_values(words: Column, plan: BandPlan) -> Column:
    """ARRAY<STRUCT<band, value>> of a hash column: each band's bits as an unsigned integer."""
    return F.array(
        *(
            F.struct(
                F.lit(i).alias("band"),
                F.shiftrightunsigned(F.element_at(words, band.word + 1), band.shift)
                .bitwiseAND(F.lit((1 << band.width) - 1))
                .alias("value"),
            )
            for i, band in enumerate(plan.layout)
        )
    )
