"""The review page in a real browser (Debian's chromium) over a real stream's alerts: three pairs
reviewed by keyboard, the decisions in Delta, and the rejected pair silent when produced again."""

from __future__ import annotations

from pathlib import Path

import pytest
from deltalake import DeltaTable
from playwright.sync_api import expect

from streaming import kafka_io
from streaming.index.decisions import DecisionLog, pair_of
from streaming.review.alerts import TopicAlerts
from streaming.review.app import alerts_app
from streaming.review.serve import serving
from streaming.samples import write_samples

from ..integration.corpus import produce, references
from ..integration.streams import fresh, run_available_now

pytestmark = pytest.mark.slow


def end_offset(config, topic: str) -> int:
    return len(kafka_io.read_json(config, topic))


def new_alerts(config, skip: int) -> list[dict]:
    topic = config.kafka.alerts_topic
    return [a for _, a in kafka_io.read_json(config, topic)][skip:]


def test_three_pairs_reviewed_by_keyboard_and_the_rejected_pair_alerts_no_more(
    spark, review_config, page, tmp_path
):
    config = fresh(review_config, tmp_path)
    photos = write_samples(tmp_path / "photos", variants_of=2, edits=("half", "brighter"))
    paths = [*photos.originals, *photos.variants]
    produce(config, config.kafka.images_topic, references(paths))
    run_available_now(spark, config)
    published = end_offset(config, config.kafka.alerts_topic)
    assert published >= 3

    decisions = DecisionLog(f"{config.index.path}/decisions")
    source = TopicAlerts(config, config.kafka.alerts_topic)
    with serving(alerts_app(config, source, decisions, token=None)) as url:
        page.goto(f"{url}/")
        cards = page.locator("article.pair")
        expect(cards).to_have_count(published)
        alert_ids = [cards.nth(i).get_attribute("data-alert") for i in range(3)]
        keys = page.keyboard

        keys.press("n")  # the first pair: not a duplicate
        expect(cards.nth(0)).to_have_attribute("data-state", "not_duplicate")
        page.fill("#bank", "reviewed")
        page.evaluate("document.activeElement.blur()")
        keys.press("y")  # the second: a duplicate, its match into bank "reviewed"
        expect(cards.nth(1)).to_have_attribute("data-state", "duplicate")
        expect(page.locator("#status")).to_contain_text("joins bank reviewed")
        page.fill("#bank", "")
        page.evaluate("document.activeElement.blur()")
        keys.press("n")  # the third: not a duplicate, taken back, then a duplicate
        expect(cards.nth(2)).to_have_attribute("data-state", "not_duplicate")
        keys.press("u")
        expect(cards.nth(2)).to_have_attribute("data-state", "undecided")
        expect(cards.nth(2)).to_have_class("pair selected")
        keys.press("k")
        keys.press("j")
        keys.press("y")
        expect(cards.nth(2)).to_have_attribute("data-state", "duplicate")

        page.goto(f"{url}/?state=not_duplicate")
        expect(page.locator("article.pair")).to_have_count(1)
        page.goto(f"{url}/?state=undecided")
        expect(page.locator("article.pair")).to_have_count(published - 3)

    by_id = {a["alert_id"]: a for _, a in kafka_io.read_json(config, config.kafka.alerts_topic)}
    first, second, third = (by_id[alert_id] for alert_id in alert_ids)
    rows = sorted(
        DeltaTable(decisions.path).to_pyarrow_table().to_pylist(), key=lambda r: r["decided_at"]
    )
    assert DeltaTable(decisions.path).version() == len(rows) - 1 == 4  # one commit each
    assert [(r["alert_id"], r["verdict"], r["bank"]) for r in rows] == [
        (first["alert_id"], "not_duplicate", None),
        (second["alert_id"], "duplicate", "reviewed"),
        (third["alert_id"], "not_duplicate", None),
        (third["alert_id"], "undo", None),
        (third["alert_id"], "duplicate", None),
    ]
    assert rows[3]["undoes"] == rows[2]["decision_id"]
    assert {r["reviewer"] for r in rows} == {"tester"}
    assert (rows[0]["image_id"], rows[0]["match_id"]) == (first["image_id"], first["match_id"])

    # The rejected pair's two images are sent again, and the whole topic replayed from a fresh
    # checkpoint: every other pair alerts again, the rejected one does not.
    rejected = pair_of(first["image_id"], first["match_id"])
    produce(config, config.kafka.images_topic, references([Path(p) for p in rejected]))
    run_available_now(spark, config, checkpoint=str(tmp_path / "replay-checkpoint"))
    again = new_alerts(config, published)
    pairs = {pair_of(a["image_id"], a["match_id"]) for a in again}
    assert rejected not in pairs
    assert pair_of(second["image_id"], second["match_id"]) in pairs
    assert pair_of(third["image_id"], third["match_id"]) in pairs
    # the stream put the second pair's match into the bank chosen on the page
    images = DeltaTable(f"{config.index.path}/images").to_pyarrow_table().to_pylist()
    assert {r["id"]: r["bank"] for r in images}[second["match_id"]] == "reviewed"
