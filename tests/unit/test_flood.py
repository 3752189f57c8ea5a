"""Flood control (stream/flood.py): at most N alerts per match and window of Kafka time, the same
whatever the micro-batch sizes and across restarts that rebuild the state from the match log."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streaming.config import load_config
from streaming.errors import ConfigError
from streaming.schemas import validator
from streaming.stream.flood import LOGGED_COLUMNS, FloodGate, FloodLimit, throttle
from streaming.stream.records import as_json, deterministic_id, match_row

START = datetime(2026, 11, 30, 9, 0)  # naive, as Spark collects a Kafka timestamp


def alert(n: int, match: str, minute: int, partition: int = 0) -> dict[str, Any]:
    """The alert of the n-th image of the stream, matching `match`, at START + minute."""
    image = f"image-{n}"
    return {
        "alert_id": deterministic_id(image, match, "phash"),
        "image_id": image,
        "match_id": match,
        "bank": None,
        "hash_type": "phash",
        "distance": 3,
        "transform": "identity",
        "threshold": 10,
        "distances": {"phash": 3},
        "image_uri": image,
        "match_uri": match,
        "image_source": {
            "topic": "images",
            "partition": partition,
            "offset": n,
            "timestamp": START + timedelta(minutes=minute),
        },
        "match_source": None,
        "image_meta": None,
        "match_meta": None,
        "detected_at": START,
    }


def sent_ids(alerts: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(a["alert_id"], a.get("suppressed", 0)) for a in alerts]


def test_the_limit_parses_and_a_bad_one_is_refused_with_its_key():
    assert FloodLimit.parse("100 per 1h") == FloodLimit(100, 3600)
    assert FloodLimit.parse(" 3 per 90s ") == FloodLimit(3, 90)
    assert load_config().alerts.flood_limit is None
    config = load_config(overrides={"alerts.max_per_match": "5 per 10m"})
    assert config.alerts.flood_limit == FloodLimit(5, 600)
    for bad in ("100", "0 per 1h", "5 per 0m", "5 per hour", "5 per 1w", "-1 per 1h"):
        with pytest.raises(ConfigError, match=r"alerts\.max_per_match"):
            load_config(overrides={"alerts.max_per_match": bad})


def test_n_per_window_are_sent_and_the_next_sent_counts_those_held_back():
    limit = FloodLimit(2, 3600)
    viral = [alert(n, "viral", minute=10 * n) for n in range(8)]  # windows 0,0,0,0,0,0,1,1
    other = alert(100, "other", minute=15)
    throttled = throttle([*reversed(viral), other], {}, limit)
    assert sent_ids(throttled.sent) == [
        *sent_ids(viral[:2]),
        (other["alert_id"], 0),
        (viral[6]["alert_id"], 4),
        (viral[7]["alert_id"], 0),
    ]
    assert [a["image_id"] for a in throttled.held] == [f"image-{n}" for n in range(2, 6)]
    assert all(a["sent"] is False for a in throttled.held)
    check = validator("duplicate_alert")
    for sent in throttled.sent:
        check.validate(json.loads(as_json(sent)))


def test_a_late_alert_counts_in_its_match_s_latest_window():
    limit = FloodLimit(1, 3600)
    first = throttle([alert(0, "m", minute=70)], {}, limit)
    late = throttle([alert(1, "m", minute=5, partition=1)], first.states, limit)
    assert late.sent == [] and [a["image_id"] for a in late.held] == ["image-1"]


def logged_rows(log: list[dict[str, Any]], before_batch: int) -> list[dict[str, Any]]:
    return [
        {k: row[k] for k in [*LOGGED_COLUMNS, "batch_id"]}
        for row in log
        if row["batch_id"] < before_batch
    ]


def run(
    alerts: list[dict[str, Any]], limit: FloodLimit, cuts: list[int], restarts: set[int]
) -> tuple[list[tuple[str, int]], list[dict[str, Any]]]:
    """The alerts sent (id, suppressed) when the stream is cut at `cuts` into micro-batches, the
    driver restarting (its state rebuilt from the log) before each batch in `restarts`; and the
    match log."""
    log: list[dict[str, Any]] = []

    def history(before: int) -> list[dict[str, Any]]:
        return logged_rows(log, before)

    gate = FloodGate(limit, history)
    sent = []
    bounds = [0, *sorted(set(cuts)), len(alerts)]
    for batch_id, (low, high) in enumerate(itertools.pairwise(bounds)):
        if batch_id in restarts:
            gate = FloodGate(limit, history)
        throttled = gate(alerts[low:high], batch_id)
        sent += sent_ids(throttled.sent)
        log += [match_row(a, "writer", batch_id) for a in throttled.sent + throttled.held]
    return sent, log


@st.composite
def streams(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Alerts in stream order: non-decreasing minutes, a few matches, one image each."""
    gaps = draw(st.lists(st.sampled_from([0, 1, 10, 40, 70]), min_size=1, max_size=24))
    matches = draw(st.lists(st.sampled_from("ab"), min_size=len(gaps), max_size=len(gaps)))
    minutes = [sum(gaps[: n + 1]) for n in range(len(gaps))]
    return [alert(n, m, minute) for n, (m, minute) in enumerate(zip(matches, minutes, strict=True))]


limits = st.builds(FloodLimit, st.integers(1, 3), st.sampled_from([60, 1800, 3600]))
cuts = st.lists(st.integers(1, 23), max_size=6)


@settings(max_examples=200, deadline=None)
@given(stream=streams(), limit=limits, cut=cuts, restarts=st.sets(st.integers(1, 6)))
def test_the_alerts_sent_do_not_depend_on_the_batching_nor_on_restarts(
    stream, limit, cut, restarts
):
    whole, _ = run(stream, limit, [], set())
    assert run(stream, limit, [c for c in cut if c < len(stream)], restarts)[0] == whole


@st.composite
def late_streams(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Alerts in arrival order from two partitions whose clocks differ: partition 1 lags by up to
    three hours, so its alerts come windows late."""
    stream = draw(streams())
    lags = draw(st.lists(st.sampled_from([0, 0, 50, 130, 190]), min_size=len(stream)))
    for a, lag in zip(stream, lags, strict=False):
        if lag:
            source = a["image_source"]
            a["image_source"] = {
                **source,
                "partition": 1,
                "timestamp": source["timestamp"] - timedelta(minutes=lag),
            }
    return stream


@settings(max_examples=200, deadline=None)
@given(stream=late_streams(), limit=limits, cut=cuts, restarts=st.sets(st.integers(1, 6)))
def test_a_restart_sends_what_the_running_stream_sends_with_late_alerts_too(
    stream, limit, cut, restarts
):
    batches = [c for c in cut if c < len(stream)]
    assert run(stream, limit, batches, restarts)[0] == run(stream, limit, batches, set())[0]


def test_an_alert_more_than_a_window_late_counts_afresh_after_a_restart_too():
    limit = FloodLimit(1, 3600)
    late = alert(2, "a", minute=5, partition=1)  # window 0, when the stream is in window 2
    stream = [alert(0, "a", minute=0), alert(1, "b", minute=130), late]
    for restarts in (set(), {1}, {2}):
        sent, _ = run(stream, limit, cuts=[1, 2], restarts=restarts)
        assert sent == sent_ids(stream), restarts
    # within the stream's last two windows it counts in its match's latest, as before
    stream[1] = alert(1, "b", minute=70)
    for restarts in (set(), {2}):
        assert run(stream, limit, cuts=[1, 2], restarts=restarts)[0] == sent_ids(stream[:2])


def test_the_driver_holds_the_matches_of_the_last_two_windows_and_those_holding_alerts():
    limit = FloodLimit(1, 3600)
    # each hour 100 new matches alerted once, and "viral" alerted twice in the first hour
    stream = [alert(0, "viral", minute=0), alert(1, "viral", minute=1)] + [
        alert(2 + 100 * hour + n, f"m{hour}-{n}", minute=60 * hour + 2)
        for hour in range(24)
        for n in range(100)
    ]
    gate = FloodGate(limit, lambda before: [])
    for batch_id, start in enumerate(range(0, len(stream), 50)):
        gate(stream[start : start + 50], batch_id)
        assert len(gate.states) <= 201 + 1
    assert max(s.window for s in gate.states.values()) == limit.window(START) + 23
    assert set(gate.states) == {"viral"} | {f"m{hour}-{n}" for hour in (22, 23) for n in range(100)}
    assert gate.states["viral"].held == 1  # its next alert sent carries suppressed = 1


@settings(max_examples=200, deadline=None)
@given(stream=streams(), limit=limits, cut=cuts)
def test_at_most_n_per_match_and_window_and_every_held_alert_is_counted_once(stream, limit, cut):
    _, log = run(stream, limit, [c for c in cut if c < len(stream)], set())
    assert sorted(row["alert_id"] for row in log) == sorted(a["alert_id"] for a in stream)
    per_window = Counter(
        (row["match_id"], limit.window(row["image_timestamp"])) for row in log if row["sent"]
    )
    assert max(per_window.values()) <= limit.count
    held = Counter(row["match_id"] for row in log if not row["sent"])
    suppressed = Counter()
    for row in log:
        suppressed[row["match_id"]] += row["suppressed"]
    last_sent = {row["match_id"]: row for row in log if row["sent"]}
    for match, count in held.items():
        # those held after a match's last alert sent wait for its next one
        pending = sum(
            1
            for row in log
            if row["match_id"] == match
            and not row["sent"]
            and (match not in last_sent or row["image_offset"] > last_sent[match]["image_offset"])
        )
        assert suppressed[match] + pending == count
