"""The decisions table: one commit per decision, each pair's standing one, the suppressed pairs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from deltalake import DeltaTable

from streaming.errors import ConfigError
from streaming.index.decisions import (
    Decision,
    DecisionLog,
    Reviewed,
    ReviewedPairs,
    bank_members,
    pair_of,
    standing,
    suppressed,
)


def row(decision_id: str, verdict: str, minute: int, undoes: str | None = None, pair=("a", "b")):
    return {
        "decision_id": decision_id,
        "image_id": pair[0],
        "match_id": pair[1],
        "verdict": verdict,
        "undoes": undoes,
        "decided_at": datetime(2026, 11, 30, tzinfo=UTC) + timedelta(minutes=minute),
    }


def test_a_pair_is_the_same_either_way_round():
    assert pair_of("b", "a") == pair_of("a", "b") == ("a", "b")


def test_the_latest_decision_stands_and_an_undo_brings_back_the_one_before():
    first, second = row("d1", "duplicate", 1), row("d2", "not_duplicate", 2)
    assert standing([second, first])[("a", "b")]["decision_id"] == "d2"
    assert suppressed(standing([first, second])) == {("a", "b")}
    undone = [first, second, row("d3", "undo", 3, undoes="d2")]
    assert standing(undone)[("a", "b")]["decision_id"] == "d1"
    assert suppressed(standing(undone)) == frozenset()
    assert standing([first, row("d4", "undo", 2, undoes="d1")]) == {}


def test_a_duplicate_with_a_bank_puts_the_match_in_it_until_undone():
    banked = {**row("d1", "duplicate", 1), "bank": "known"}
    assert bank_members(standing([banked])) == {"b": "known"}
    assert bank_members(standing([banked, row("d2", "undo", 2, undoes="d1")])) == {}
    assert bank_members(standing([{**row("d3", "duplicate", 1), "bank": None}])) == {}


def test_decisions_on_the_reversed_pair_count_for_the_pair():
    states = standing([row("d1", "not_duplicate", 1, pair=("b", "a"))])
    assert suppressed(states) == {("a", "b")}


def test_each_decision_is_one_commit_and_the_stream_sees_the_next_one(tmp_path):
    path = str(tmp_path / "decisions")
    follower = ReviewedPairs(path)
    assert follower.current().suppressed == frozenset()  # no table yet: nothing suppressed
    log = DecisionLog(path)
    first = log.append(Decision("y", "x", "not_duplicate", "ana", alert_id="1" * 32))
    assert follower.current().suppressed == {("x", "y")}
    log.append(Decision("y", "x", "undo", "ana", undoes=first["decision_id"]))
    log.append(Decision("y", "x", "duplicate", "ana", bank="known"))
    assert follower.current().suppressed == frozenset()
    assert follower.current().bank_members == {"x": "known"}
    table = DeltaTable(path)
    assert table.version() == 2  # three decisions, three commits (versions 0 to 2)
    rows = sorted(table.to_pyarrow_table().to_pylist(), key=lambda r: r["decided_at"])
    assert [r["verdict"] for r in rows] == ["not_duplicate", "undo", "duplicate"]
    assert rows[1]["undoes"] == first["decision_id"]
    assert {r["reviewer"] for r in rows} == {"ana"}


def test_an_index_on_object_storage_is_never_handed_to_delta_rs():
    assert ReviewedPairs("s3a://bucket/index/decisions").current() == Reviewed()
    with pytest.raises(ConfigError, match="local file system"):
        DecisionLog("s3a://bucket/index/decisions")
