import json

import pytest

from streaming.config import load_config
from streaming.errors import Reason, Rejected
from streaming.messages import MAX_DEPTH, MessageLimits, parse_image_ref
from streaming.schemas import dead_letter_reasons

LIMITS = MessageLimits.from_config(load_config(environ={}).sources)


def test_a_valid_reference_parses():
    value = b'{"id": "a", "uri": "x.jpg", "bank": "known", "meta": {"k": [1]}}'
    ref = parse_image_ref(value, LIMITS)
    assert (ref.id, ref.uri, ref.content, ref.bank, ref.meta) == (
        "a",
        "x.jpg",
        None,
        "known",
        {"k": [1]},
    )


def nested(levels: int) -> bytes:
    return b'{"id": "a", "uri": "x", "meta": {"m": ' + b"[" * levels + b"]" * levels + b"}}"


@pytest.mark.parametrize(
    ("value", "reason", "image_id"),
    [
        (b"{not json", "malformed_json", None),
        (b"", "malformed_json", None),
        (None, "malformed_json", None),
        (b"\xff\xfe", "not_utf8", None),
        (b'{"id": "a\xc3", "uri": "x"}', "not_utf8", None),
        (b"[1, 2]", "schema_violation", None),
        (b'{"id": "a"}', "schema_violation", "a"),
        (b'{"id": "a", "uri": "x", "content": "eA=="}', "schema_violation", "a"),
        (b'{"id": 7, "uri": "x"}', "schema_violation", None),
        (b'{"id": "a", "uri": "x", "extra": 1}', "schema_violation", "a"),
        (b"[" * 10_000 + b"]" * 10_000, "too_deeply_nested", None),
        (nested(10_000), "too_deeply_nested", None),
        (nested(MAX_DEPTH), "too_deeply_nested", None),
        (json.dumps({"id": "a" * 100_000, "uri": "x"}).encode(), "id_too_long", None),
        (b'{"id": "a", "uri": "http://[x/a.jpg"}', "bad_uri", "a"),
        (b'{"id": "a", "uri": "/photos/a\\u0000.jpg"}', "bad_uri", "a"),
        (b'{"id": "a", "uri": "file:///photos/%00.jpg"}', "bad_uri", "a"),
    ],
)
def test_invalid_messages_are_refused_with_a_reason(value, reason, image_id):
    with pytest.raises(Rejected) as e:
        parse_image_ref(value, LIMITS)
    assert (e.value.reason, e.value.image_id) == (reason, image_id)
    assert e.value.message


def test_nesting_up_to_the_limit_is_accepted():
    assert parse_image_ref(nested(MAX_DEPTH - 2), LIMITS).meta is not None


def test_a_message_over_max_message_bytes_is_refused_unread():
    value = json.dumps({"id": "a", "uri": "x", "meta": {"m": "x" * LIMITS.max_message_bytes}})
    with pytest.raises(Rejected) as e:
        parse_image_ref(b"\xff" + value.encode(), LIMITS)  # not even UTF-8: never decoded
    assert e.value.reason == "message_too_large"
    assert str(LIMITS.max_message_bytes) in e.value.message


def test_a_meta_of_10_mb_is_refused_by_its_own_limit_when_the_message_may_be_that_large():
    value = json.dumps({"id": "a", "uri": "x", "meta": {"m": "x" * 10_000_000}}).encode()
    roomy = MessageLimits(max_message_bytes=16_000_000, max_meta_bytes=LIMITS.max_meta_bytes)
    with pytest.raises(Rejected) as e:
        parse_image_ref(value, roomy)
    assert (e.value.reason, e.value.image_id) == ("meta_too_large", "a")
    with pytest.raises(Rejected) as e:
        parse_image_ref(value, LIMITS)
    assert e.value.reason == "message_too_large"


def test_the_reasons_are_the_dead_letter_schemas():
    assert [reason.value for reason in Reason] == list(dead_letter_reasons())
    assert len(set(Reason)) == len(Reason)
