"""Flood control (alerts.max_per_match = "N per WINDOW"): pure functions, no Spark, no Delta.

Of a matched image's alerts, at most N per window of the incoming image's Kafka timestamp
(window = floor(timestamp / WINDOW)) reach the alerts topic; the others are held back (logged in
`matches` with sent = false), and the next alert of that match that is sent carries `suppressed`:
how many were held back since the previous one sent.

A match's state moves only with its own alerts, taken in stream order (Kafka timestamp,
partition, offset), so the alerts sent do not depend on how the stream is cut into micro-batches;
the state is rebuilt from the `matches` log after a restart (`replay`). An alert whose window is
older than its match's latest (a late message of another partition) counts in the latest one.

A state is kept while it holds alerts back or its window is one of the stream's last two
(`kept`, after each micro-batch and at the same points of a replay): the driver holds the matches
of the last two windows, not every match ever alerted. An alert more than a window late, of a
match whose state went, counts afresh in its own window.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

WINDOW_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Alert = dict[str, Any]  # of schemas/duplicate_alert.schema.json
# The `matches` columns that replay reads.
LOGGED_COLUMNS = ["match_id", "image_timestamp", "image_partition", "image_offset", "sent"]


@dataclass(frozen=True)
class FloodLimit:
    """At most `count` alerts per match in each window of `window_s` seconds of Kafka time."""

    count: int
    window_s: int

    @classmethod
    def parse(cls, text: str) -> FloodLimit:
        """ "100 per 1h": a count, then a window in s, m, h or d."""
        found = re.fullmatch(r"\s*(\d+)\s+per\s+(\d+)\s*([smhd])\s*", text)
        if not found or int(found[1]) < 1 or int(found[2]) < 1:
            raise ValueError('must be "N per WINDOW" with N >= 1 and a WINDOW such as 30s, 10m, 1h')
        return cls(int(found[1]), int(found[2]) * WINDOW_UNITS[found[3]])

    def window(self, timestamp: datetime) -> int:
        """The window of a Kafka timestamp (naive: local time, as Spark collects it)."""
        return (timestamp.astimezone(UTC) - EPOCH) // timedelta(seconds=self.window_s)


@dataclass(frozen=True)
class MatchState:
    """A match's flood state: its latest window, the alerts sent in it, those held back since the
    last one sent (carried across windows)."""

    window: int
    sent: int = 0
    held: int = 0

    def at(self, window: int) -> MatchState:
        """The state an alert of `window` meets: a later window starts with nothing sent."""
        return MatchState(window, 0, self.held) if window > self.window else self

    def after(self, sent: bool) -> MatchState:
        if sent:
            return MatchState(self.window, self.sent + 1, 0)
        return MatchState(self.window, self.sent, self.held + 1)


@dataclass(frozen=True)
class Throttled:
    sent: list[Alert]  # to publish, each with `suppressed` when some were held back before it
    held: list[Alert]  # held back, each with sent = False (for its `matches` row only)
    states: dict[str, MatchState]  # the states of the matches these alerts moved


def throttle(
    alerts: Iterable[Alert], states: Mapping[str, MatchState], limit: FloodLimit
) -> Throttled:
    """The alerts sent and held back, in stream order, given each match's state before them."""
    after: dict[str, MatchState] = {}
    sent: list[Alert] = []
    held: list[Alert] = []
    for alert in sorted(alerts, key=stream_order):
        match = alert["match_id"]
        window = limit.window(alert["image_source"]["timestamp"])
        state = met(after if match in after else states, match, window)
        if state.sent < limit.count:
            sent.append({**alert, "suppressed": state.held} if state.held else alert)
        else:
            held.append({**alert, "sent": False})
        after[match] = state.after(state.sent < limit.count)
    return Throttled(sent, held, after)


def replay(rows: Iterable[Mapping[str, Any]], limit: FloodLimit) -> dict[str, MatchState]:
    """The matches' states after the `matches` rows of a writer (LOGGED_COLUMNS and batch_id), as
    throttle and kept left them batch after batch."""
    states: dict[str, MatchState] = {}
    for _, batch in itertools.groupby(sorted(rows, key=logged_order), key=lambda r: r["batch_id"]):
        for row in batch:
            state = met(states, row["match_id"], limit.window(row["image_timestamp"]))
            # NULL: logged before flood control, when every alert was sent
            states[row["match_id"]] = state.after(row["sent"] is not False)
        states = kept(states)
    return states


def kept(states: Mapping[str, MatchState]) -> dict[str, MatchState]:
    """The states still needed: those holding alerts back, and those of the stream's last two
    windows (the latest is the latest state's: a match's state is at its latest alert's window)."""
    latest = max((s.window for s in states.values()), default=0)
    return {match: s for match, s in states.items() if s.held or s.window >= latest - 1}


def met(states: Mapping[str, MatchState], match: str, window: int) -> MatchState:
    """The state an alert of `match` in `window` meets."""
    before = states.get(match)
    return MatchState(window) if before is None else before.at(window)


def stream_order(alert: Alert) -> tuple[Any, ...]:
    image = alert["image_source"]
    return (image["timestamp"], image["partition"], image["offset"], alert["match_id"])


def logged_order(row: Mapping[str, Any]) -> tuple[Any, ...]:
    position = (row["image_timestamp"], row["image_partition"], row["image_offset"])
    return (row["batch_id"], *position, row["match_id"])


class FloodGate:
    """The driver's flood state for one stream writer, kept in memory between micro-batches and
    rebuilt from `history(batch_id)` (its `matches` rows of the batches before) whenever a batch
    is not the one after the last: at start, and when a batch runs again after a failure."""

    def __init__(
        self, limit: FloodLimit, history: Callable[[int], Iterable[Mapping[str, Any]]]
    ) -> None:
        self.limit = limit
        self.history = history
        self.states: dict[str, MatchState] = {}
        self.next_batch: int | None = None

    def __call__(self, alerts: list[Alert], batch_id: int) -> Throttled:
        if batch_id != self.next_batch:
            self.states = replay(self.history(batch_id), self.limit)
        throttled = throttle(alerts, self.states, self.limit)
        self.states = kept({**self.states, **throttled.states})
        self.next_batch = batch_id + 1
        return throttled
