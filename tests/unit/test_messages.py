import pytest

from streaming.messages import MessageError, parse_image_ref


def test_a_valid_reference_parses():
    ref = parse_image_ref(b'{"id": "a", "uri": "x.jpg", "bank": "known", "meta": {"k": [1]}}')
    assert (ref.id, ref.uri, ref.content, ref.bank, ref.meta) == (
        "a",
        "x.jpg",
        None,
        "known",
        {"k": [1]},
    )


@pytest.mark.parametrize(
    ("value", "reason", "image_id"),
    [
        (b"{not json", "malformed_json", None),
        (b"\xff\xfe", "malformed_json", None),
        (None, "malformed_json", None),
        (b"[1, 2]", "schema_violation", None),
        (b'{"id": "a"}', "schema_violation", "a"),
        (b'{"id": "a", "uri": "x", "content": "eA=="}', "schema_violation", "a"),
        (b'{"id": 7, "uri": "x"}', "schema_violation", None),
        (b'{"id": "a", "uri": "x", "extra": 1}', "schema_violation", "a"),
    ],
)
def test_invalid_messages_are_refused_with_a_reason(value, reason, image_id):
    with pytest.raises(MessageError) as e:
        parse_image_ref(value)
    assert (e.value.reason, e.value.image_id) == (reason, image_id)
    assert e.value.message
