"""The grey step (hashing.grey): luma by default, contrast-preserving decolorization on request."""

from __future__ import annotations

import cv2
import pytest

from streaming.hashing import HashSpec, hash_image
from streaming.samples import photos

TYPES = ("ahash", "phash", "dhash", "whash", "colorhash", "pdq")


def png(image) -> bytes:
    return cv2.imencode(".png", cv2.resize(image, (160, 120), interpolation=cv2.INTER_AREA))[
        1
    ].tobytes()


def test_decolor_changes_the_grey_hashes_of_a_colour_photo_only():
    data = png(photos()["coffee"])
    luma = hash_image(data, HashSpec(types=TYPES)).hashes
    decolor = hash_image(data, HashSpec(types=TYPES, grey="decolor")).hashes
    assert luma["colorhash"] == decolor["colorhash"]  # reads hue, not grey
    assert all(luma[t] != decolor[t] for t in ("phash", "dhash", "pdq"))


def test_a_grey_photo_hashes_the_same_with_either_grey_step():
    data = png(cv2.cvtColor(photos()["camera"], cv2.COLOR_BGR2GRAY))
    luma = hash_image(data, HashSpec(types=TYPES))
    assert luma.error is None
    assert hash_image(data, HashSpec(types=TYPES, grey="decolor")).hashes == luma.hashes


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [({"grey": "average"}, "unknown grey step"), ({"grey": "decolor", "exact": True}, "luma")],
)
def test_bad_grey_steps_are_refused(spec, complaint):
    with pytest.raises(ValueError, match=complaint):
        HashSpec(**spec)
