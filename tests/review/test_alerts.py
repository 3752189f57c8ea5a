"""The alerts page's data: one row per alert id, newest first, filtered and cut into pages."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pyarrow as pa
import pytest
from deltalake import write_deltalake

from streaming.index.followed import FollowedTable
from streaming.review.alerts import (
    NO_BANK,
    Filters,
    MatchLog,
    alert_frame,
    alert_row,
    select,
    states,
)
from streaming.schemas import arrow_schema
from streaming.stream.records import match_row

from .server import sample_alert, with_datetimes


@pytest.fixture
def frame():
    alerts = [sample_alert(n, None, None, bank="stock" if n % 3 == 0 else None) for n in range(30)]
    alerts[5]["match_source"] = None  # a bank member: no position
    repeated = sample_alert(7, None, None)  # at-least-once: the same alert twice
    return alert_frame(
        [alert_row(a) for a in [*alerts[:20], repeated]],
        alert_frame([alert_row(a) for a in alerts[20:]]),
    )


def test_one_row_per_alert_newest_first(frame):
    assert len(frame) == 30 and frame["alert_id"].is_unique
    assert frame["detected_at"].is_monotonic_decreasing
    assert frame.loc[frame["alert_id"] == f"{5:032x}", "match_offset"].isna().all()
    assert frame["pair"].iloc[0] == ("image-29", "match-29")


def test_filters_and_pages(frame):
    undecided = states(frame, {})
    rows, total = select(frame, undecided, Filters(bank="stock"), 4)
    assert total == 10 and len(rows) == 4 and set(rows["bank"]) == {"stock"}
    assert select(frame, undecided, Filters(bank=NO_BANK, page=6), 4)[0].empty
    rows, total = select(frame, undecided, Filters(min_distance=3, max_distance=4), 50)
    assert total == len(rows) == 6 and set(rows["distance"]) == {3, 4}
    since = datetime(2026, 11, 30, 10, 25, tzinfo=UTC)
    assert select(frame, undecided, Filters(since=since), 50)[1] == 5
    decided = states(frame, {("image-3", "match-3"): "not_duplicate"})
    rows, total = select(frame, decided, Filters(state="not_duplicate"), 50)
    assert total == 1 and list(rows["state"]) == ["not_duplicate"]
    assert select(frame, decided, Filters(), 50)[1] == 29


def test_a_query_string_parses_or_is_refused():
    filters = Filters.parse({"bank": "stock", "since": "2026-11-30T10:00", "max_distance": "4"})
    assert filters.since == datetime(2026, 11, 30, 10, tzinfo=UTC) and filters.max_distance == 4
    assert Filters.parse(filters.query(page=2)) == Filters(**{**filters.__dict__, "page": 2})
    for bad in ({"state": "maybe"}, {"page": "0"}, {"min_distance": "near"}, {"since": "today"}):
        with pytest.raises(ValueError):
            Filters.parse(bad)


def test_the_match_log_gives_the_frame_the_topic_gives(tmp_path):
    """review.source = matches: the stream's `matches` rows make the same frame as its alerts."""
    alerts = [sample_alert(n, None, None, bank="stock" if n % 3 == 0 else None) for n in range(6)]
    alerts[5]["match_source"] = None  # a bank member: no position
    alerts[4]["image_meta"] = {"camera": "x"}
    alerts[5]["match_meta"] = {"source": "catalogue", "sku": "12"}
    alerts[3]["transform"] = "flip_h"  # a dihedral match
    held = {**sample_alert(6, None, None), "sent": False}  # flood control's: logged, not sent
    rows = [match_row(with_datetimes(alert), "neardup-stream-test", 0) for alert in [*alerts, held]]
    path = str(tmp_path / "matches")
    write_deltalake(path, pa.Table.from_pylist(rows, schema=arrow_schema("matches")))
    logged = MatchLog(FollowedTable(path)).frame()
    pd.testing.assert_frame_equal(logged, alert_frame([alert_row(a) for a in alerts]))
