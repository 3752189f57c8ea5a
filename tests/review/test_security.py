"""The review page refuses what it must: paths outside the allowed roots, requests without the
token, forged POSTs, foreign Host names; and it escapes what producers wrote."""

from __future__ import annotations

import re

import pytest
from deltalake import DeltaTable

from streaming.config import Config
from streaming.index.decisions import DecisionLog
from streaming.review.alerts import TopicAlerts
from streaming.review.app import alerts_app
from streaming.review.security import access_token
from streaming.review.serve import serving
from streaming.samples import write_samples

from .server import as_json, fetch, publish_alerts, sample_alert


@pytest.fixture
def photo(tmp_path_factory) -> str:
    return str(write_samples(tmp_path_factory.mktemp("photos"), variants_of=0).originals[0])


def review_app(config: Config, token: str | None = None):
    source = TopicAlerts(config, config.kafka.alerts_topic)
    decisions = DecisionLog(f"{config.index.path}/decisions")
    return alerts_app(config, source, decisions, token), decisions


def csrf_cookie(headers: dict[str, str]) -> str:
    return re.search(r"csrftoken=([^;]+)", headers["set-cookie"]).group(1)


def test_thumbnails_come_only_from_the_alert_and_the_allowed_roots(review_config, photo, tmp_path):
    escape = tmp_path / "escape.jpg"
    escape.symlink_to("/etc/hostname")
    root = review_config.sources.allowed_roots[0]
    alerts = [
        sample_alert(1, photo, "/etc/hostname"),
        sample_alert(2, f"{root}/../../../../etc/passwd", str(escape)),
        sample_alert(3, f"file://{photo}", None),
    ]
    publish_alerts(review_config, review_config.kafka.alerts_topic, alerts)
    app, _ = review_app(review_config)
    with serving(app) as url:
        status, headers, body = fetch(
            f"{url}/thumb/{1:032x}/image?path=/etc/passwd&uri=/etc/hostname"
        )
        assert status == 200 and headers["content-type"] == "image/jpeg"
        assert body[:2] == b"\xff\xd8"  # the alert's own image, whatever the query string says
        for alert_id, side in ((1, "match"), (2, "image"), (2, "match")):
            status, _, body = fetch(f"{url}/thumb/{alert_id:032x}/{side}")
            assert status == 404 and body.startswith(b"outside_roots"), body
        status, _, body = fetch(f"{url}/thumb/{3:032x}/image")
        assert status == 200 and body[:2] == b"\xff\xd8"
        for probe in (
            "/thumb/..%2F..%2F..%2Fetc%2Fpasswd/image",
            "/thumb/../../etc/passwd",
            f"/thumb/{1:032x}/..%2F..%2Fetc%2Fpasswd",
            "/static/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
            "/static/../../../etc/passwd",
        ):
            status, _, body = fetch(url + probe)
            assert status == 404 and b"root:" not in body, probe


def test_without_the_token_nothing_is_served(review_config, photo):
    publish_alerts(review_config, review_config.kafka.alerts_topic, [sample_alert(1, photo, photo)])
    app, _ = review_app(review_config, token="s3cret-token")
    with serving(app) as url:
        for path in ("/", f"/thumb/{1:032x}/image", "/static/review.js"):
            assert fetch(url + path)[0] == 401
            assert fetch(url + path + "?token=wrong")[0] == 401
        assert (
            fetch(f"{url}/decisions", "POST", b"{}", {"content-type": "application/json"})[0] == 401
        )
        status, headers, _ = fetch(f"{url}/?state=any&token=s3cret-token")
        assert status == 303 and headers["location"] == "/?state=any"
        assert re.search(
            r"neardup_review=s3cret-token; HttpOnly; Path=/; SameSite=strict", headers["set-cookie"]
        )
        assert fetch(f"{url}/", headers={"Cookie": "neardup_review=s3cret-token"})[0] == 200
        assert fetch(f"{url}/", headers={"Authorization": "Bearer s3cret-token"})[0] == 200


def test_a_token_is_generated_for_any_bind_but_loopback():
    assert access_token(None, "127.0.0.1") is None and access_token(None, "::1") is None
    assert access_token(None, "localhost") is None
    for host in ("0.0.0.0", "192.0.2.7", "review.example"):
        token = access_token(None, host)
        assert token and len(token) >= 32 and token != access_token(None, host)
    assert access_token("mine", "0.0.0.0") == "mine"


def test_forged_posts_are_refused_and_write_nothing(review_config, photo):
    publish_alerts(review_config, review_config.kafka.alerts_topic, [sample_alert(1, photo, photo)])
    app, decisions = review_app(review_config)
    decision = as_json({"alert_id": f"{1:032x}", "verdict": "not_duplicate"})
    json_type = {"content-type": "application/json"}
    with serving(app) as url:
        status, headers, page = fetch(f"{url}/")
        assert status == 200
        cookie = csrf_cookie(headers)
        token = re.search(rb'name="csrftoken" content="([^"]+)"', page).group(1).decode()
        forged = [
            # a cross-site form: SameSite keeps the cookie home, so it comes without one
            (
                {"content-type": "application/x-www-form-urlencoded"},
                b"alert_id=1&verdict=duplicate",
            ),
            (json_type, decision),
            ({**json_type, "x-csrftoken": token}, decision),  # the token without its cookie
            ({**json_type, "Cookie": f"csrftoken={cookie}"}, decision),  # the cookie alone
            ({**json_type, "Cookie": f"csrftoken={cookie}", "x-csrftoken": "forged"}, decision),
            ({**json_type, "Cookie": "csrftoken=forged", "x-csrftoken": "forged"}, decision),
        ]
        for headers, body in forged:
            assert fetch(f"{url}/decisions", "POST", body, headers)[0] == 403, headers
            assert fetch(f"{url}/undo", "POST", body, headers)[0] == 403, headers
        assert not decisions.exists()
        good = {**json_type, "Cookie": f"csrftoken={cookie}", "x-csrftoken": token}
        status, _, _ = fetch(f"{url}/decisions", "POST", decision, good)
        assert status == 200
    assert [r["verdict"] for r in DeltaTable(decisions.path).to_pyarrow_table().to_pylist()] == [
        "not_duplicate"
    ]


def test_a_foreign_host_name_is_refused_on_loopback(review_config):
    app, _ = review_app(review_config)
    with serving(app) as url:
        assert fetch(f"{url}/", headers={"Host": "rebound.example"})[0] == 400
        assert fetch(f"{url}/", headers={"Host": "localhost"})[0] == 200


def test_producers_text_reaches_the_page_escaped(review_config, photo):
    script = "<script>alert('x')</script>"
    alert = sample_alert(
        1,
        photo,
        photo,
        image_id=script,
        bank='"><img src=x onerror=alert(1)>',
        image_meta={"t": script},
    )
    publish_alerts(review_config, review_config.kafka.alerts_topic, [alert])
    app, _ = review_app(review_config)
    with serving(app) as url:
        status, _, page = fetch(f"{url}/")
    assert status == 200
    assert b"<script>alert" not in page and b"<img src=x" not in page
    assert b"&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
