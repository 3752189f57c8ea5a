"""The review page in a real browser (Debian's chromium) over a real match log: a dihedral match
shows its transform beside the distance, a plain one shows none."""

from __future__ import annotations

import pyarrow as pa
from deltalake import write_deltalake
from playwright.sync_api import expect

from streaming.config import load_config
from streaming.index.decisions import DecisionLog
from streaming.index.followed import FollowedTable
from streaming.review.alerts import MatchLog
from streaming.review.app import alerts_app
from streaming.review.serve import serving
from streaming.schemas import arrow_schema
from streaming.stream.records import match_row

from .server import sample_alert, with_datetimes


def test_a_dihedral_match_shows_its_transform_beside_the_distance(page, tmp_path):
    config = load_config(environ={}).replace(**{"index.path": str(tmp_path / "index")})
    alerts = [sample_alert(1, None, None), sample_alert(2, None, None, transform="rot90")]
    rows = [match_row(with_datetimes(alert), "neardup-stream-test", 0) for alert in alerts]
    path = f"{config.index.path}/matches"
    write_deltalake(path, pa.Table.from_pylist(rows, schema=arrow_schema("matches")))
    source = MatchLog(FollowedTable(path))
    decisions = DecisionLog(f"{config.index.path}/decisions")
    with serving(alerts_app(config, source, decisions, token=None)) as url:
        page.goto(f"{url}/")
        turned = page.locator(f'article.pair[data-alert="{alerts[1]["alert_id"]}"]')
        plain = page.locator(f'article.pair[data-alert="{alerts[0]["alert_id"]}"]')
        expect(turned.locator(".facts .transform")).to_have_text("rot90")
        expect(plain.locator(".facts dd").first).to_contain_text("threshold 10")
        expect(plain.locator(".facts .transform")).to_have_count(0)
