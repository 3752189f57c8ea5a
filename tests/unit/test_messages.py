import pytest

from streaming.errors import Reason, Rejected
from streaming.messages import parse_image_ref
from streaming.schemas import dead_letter_reasons


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
    with pytest.raises(Rejected) as e:
        parse_image_ref(value)
    assert (e.value.reason, e.value.image_id) == (reason, image_id)
    assert e.value.message


def test_the_reasons_are_the_dead_letter_schemas():
    assert [reason.value for reason in Reason] == list(dead_letter_reasons())
