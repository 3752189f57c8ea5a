"""The alerts the review page shows: read from the `matches` table or the alerts topic, held in
memory as one pandas frame, newest first, and cut into filtered pages.

A page is a boolean mask and a slice of that frame: at 100k alerts a page costs milliseconds
(bench/review.py measures it), where asking Kafka or Delta per page would cost a scan each time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np
import pandas as pd

from streaming import kafka_io
from streaming.config import Config
from streaming.errors import ConfigError
from streaming.index.decisions import Pair, pair_of
from streaming.index.followed import FollowedTable, read

STATES = ("undecided", "duplicate", "not_duplicate", "any")
NO_BANK = "-"  # the bank filter's value for alerts against stream images (no bank)
_SIDES = ("image", "match")

# One row per alert; both sides' Kafka positions flattened.
COLUMNS = (
    "alert_id",
    "image_id",
    "match_id",
    "bank",
    "hash_type",
    "distance",
    "transform",
    "threshold",
    "distances",
    *(f"{side}_{field}" for side in _SIDES for field in ("uri", "meta")),
    *(
        f"{side}_{field}"
        for side in _SIDES
        for field in ("topic", "partition", "offset", "timestamp")
    ),
    "detected_at",
)


def alert_row(alert: Mapping[str, Any]) -> dict[str, Any]:
    """The frame's row of an alert of schemas/duplicate_alert.schema.json."""
    row: dict[str, Any] = {column: alert.get(column) for column in COLUMNS}
    row["distances"] = json.dumps(alert.get("distances") or {}, sort_keys=True)
    # the incoming reference's meta: `image_meta`, named `meta` in alerts before match_meta came
    metas = {"image": alert.get("image_meta", alert.get("meta")), "match": alert.get("match_meta")}
    for side in _SIDES:
        row[f"{side}_meta"] = None if metas[side] is None else json.dumps(metas[side])
        position = alert.get(f"{side}_source") or {}
        for field in ("topic", "partition", "offset", "timestamp"):
            row[f"{side}_{field}"] = position.get(field)
    return row


def alert_frame(rows: list[dict[str, Any]], before: pd.DataFrame | None = None) -> pd.DataFrame:
    """The rows, added to the frame `before` if given, as the page's frame: one row per alert_id
    (the topic repeats alerts: at-least-once), newest detection first, with each row's unordered
    `pair` of ids. Only the new rows are parsed, so following a live topic stays cheap."""
    fresh = pd.DataFrame(rows, columns=list(COLUMNS))
    for column in ("detected_at", "image_timestamp", "match_timestamp"):
        fresh[column] = pd.to_datetime(fresh[column], utc=True, format="ISO8601")
    fresh["distance"] = fresh["distance"].astype("int64")
    for side in _SIDES:  # a bank member has no position: nullable integers, not floats
        for column in (f"{side}_partition", f"{side}_offset"):
            fresh[column] = fresh[column].astype("Int64")
    fresh["pair"] = [
        pair_of(a, b) for a, b in zip(fresh["image_id"], fresh["match_id"], strict=True)
    ]
    frame = fresh if before is None else pd.concat([before, fresh], ignore_index=True)
    frame = frame.drop_duplicates("alert_id", keep="last")
    frame = frame.sort_values(["detected_at", "alert_id"], ascending=[False, True], kind="stable")
    return frame.reset_index(drop=True)


class AlertSource(Protocol):
    """Where the alerts come from; `frame` brings them up to date and returns them all."""

    description: str

    def frame(self) -> pd.DataFrame: ...

    def close(self) -> None: ...


class TopicAlerts:
    """The alerts topic from its beginning, caught up to its end offsets at every call."""

    def __init__(self, config: Config, topic: str) -> None:
        from kafka import KafkaConsumer, TopicPartition

        kafka_io.ensure_topics(config, [topic])
        self.description = f"topic {topic} at {config.kafka.bootstrap_servers}"
        self.consumer = KafkaConsumer(enable_auto_commit=False, **kafka_io.client_options(config))
        partitions = self.consumer.partitions_for_topic(topic) or set()
        self.partitions = [TopicPartition(topic, p) for p in sorted(partitions)]
        self.consumer.assign(self.partitions)
        self.consumer.seek_to_beginning(*self.partitions)
        self._frame = alert_frame([])

    def frame(self) -> pd.DataFrame:
        records = kafka_io.records_to_end(self.consumer, self.partitions)
        fresh = [alert_row(json.loads(record.value)) for record in records]
        if fresh:
            self._frame = alert_frame(fresh, self._frame)
        return self._frame

    def close(self) -> None:
        self.consumer.close()


@dataclass(frozen=True)
class Filters:
    """The page's query: each field is a query-string parameter of the same name."""

    bank: str = ""  # "" any, NO_BANK for alerts against stream images, else a bank's name
    since: datetime | None = None  # detected at or after (UTC)
    until: datetime | None = None  # detected before
    min_distance: int | None = None
    max_distance: int | None = None
    state: str = "undecided"
    page: int = 1

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> Filters:
        """The filters of a query string; a value that does not parse raises ValueError."""
        values: dict[str, Any] = {}
        for field in fields(cls):
            text = query.get(field.name, "").strip()
            if not text:
                continue
            if field.name in ("since", "until"):
                stamp = datetime.fromisoformat(text)
                values[field.name] = stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
            elif field.name in ("min_distance", "max_distance", "page"):
                values[field.name] = int(text)
            else:
                values[field.name] = text
        filters = cls(**values)
        if filters.state not in STATES:
            raise ValueError(f"state must be one of {', '.join(STATES)}")
        if filters.page < 1:
            raise ValueError("page must be 1 or more")
        return filters

    def query(self, **changes: Any) -> dict[str, str]:
        """The query-string parameters of these filters with some changed (for links)."""
        values = {**self.__dict__, **changes}
        return {
            name: value.strftime("%Y-%m-%dT%H:%M") if isinstance(value, datetime) else str(value)
            for name, value in values.items()
            if value not in (None, "")
        }


def select(
    frame: pd.DataFrame, state: pd.Series, filters: Filters, page_size: int
) -> tuple[pd.DataFrame, int]:
    """(the page's rows with their `state`, how many alerts pass the filters); `state` is
    states(frame, ...)."""
    keep = np.ones(len(frame), dtype=bool)
    if filters.bank == NO_BANK:
        keep &= frame["bank"].isna().to_numpy()
    elif filters.bank:
        keep &= (frame["bank"] == filters.bank).to_numpy()
    if filters.since is not None:
        keep &= (frame["detected_at"] >= filters.since).to_numpy()
    if filters.until is not None:
        keep &= (frame["detected_at"] < filters.until).to_numpy()
    if filters.min_distance is not None:
        keep &= (frame["distance"] >= filters.min_distance).to_numpy()
    if filters.max_distance is not None:
        keep &= (frame["distance"] <= filters.max_distance).to_numpy()
    if filters.state != "any":
        keep &= (state == filters.state).to_numpy()
    chosen = np.flatnonzero(keep)
    page = chosen[(filters.page - 1) * page_size :][:page_size]
    return frame.iloc[page].assign(state=state.iloc[page].astype(str).to_numpy()), len(chosen)


def states(frame: pd.DataFrame, verdicts: Mapping[Pair, str]) -> pd.Series:
    """Each row's decision state: its pair's standing verdict, else undecided (categorical: a
    page's filter compares codes, not 100k strings)."""
    state = frame["pair"].map(lambda pair: verdicts.get(pair, "undecided"))
    return state.astype(pd.CategoricalDtype(list(STATES)))


def banks(frame: pd.DataFrame) -> list[str]:
    return sorted(frame["bank"].dropna().unique().tolist())


class MatchLog:
    """The `matches` table under index.path (schemas/delta/matches.sql), read again when its
    Delta version moved: every alert sent once, without the topic's retention limit."""

    def __init__(self, table: FollowedTable) -> None:
        self.table = table
        self.description = f"match log {table.path}"
        self.version: int | None = None
        self._frame = alert_frame([])

    def frame(self) -> pd.DataFrame:
        table = self.table.latest()
        if table is not None and table.version() != self.version:
            self.version = table.version()
            rows = read(table).to_pylist()
            # held back by flood control: never alerts (the topic has none of them either)
            sent = [row for row in rows if row.get("sent") is not False]
            self._frame = alert_frame([logged_row(row) for row in sent])
        return self._frame

    def close(self) -> None:
        pass


def logged_row(row: dict[str, Any]) -> dict[str, Any]:
    """The frame's row of a `matches` row: its JSON texts written as alert_row writes them."""
    # a log written before match_meta lacks it
    metas = {side: row.get(f"{side}_meta") for side in _SIDES}
    return {
        **row,
        "distances": json.dumps(json.loads(row["distances"]), sort_keys=True),
        **{
            f"{side}_meta": None if meta is None else json.dumps(json.loads(meta))
            for side, meta in metas.items()
        },
    }


def open_source(config: Config, topic: str) -> AlertSource:
    """The alerts of review.source: the match log (auto: when the stream has written one), else
    the topic."""
    from streaming.storage import delta_storage_options

    path = f"{config.index.path.rstrip('/')}/matches"
    log = FollowedTable(path, delta_storage_options(config, path))
    if config.review.source == "matches" and not log.exists():
        raise ConfigError(f"review.source = matches: {path} is not written yet; use auto or topic")
    if config.review.source != "topic" and log.exists():
        return MatchLog(log)
    return TopicAlerts(config, topic)
