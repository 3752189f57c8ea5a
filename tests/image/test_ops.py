"""Each image operation against OpenCV called directly on the same pixels, and the codec's
conversions between arrays, bytes and Spark's image struct."""

from __future__ import annotations

from functools import cache

import cv2
import numpy as np
import pytest

from streaming.errors import Reason, Rejected
from streaming.image import codec
from streaming.image.ops import apply_stages, make_stage, normalize
from streaming.image.recipe import Recipe
from streaming.samples import photos


@cache
def photo() -> np.ndarray:
    """A real photo, small: 45 x 61 BGR (odd sides, so centring and rounding show)."""
    return cv2.resize(photos()["coffee"], (61, 45), interpolation=cv2.INTER_AREA)


OPENCV = [
    (("resize", {"height": 20, "width": 30}), lambda im: cv2.resize(im, (30, 20))),
    (("resizeShorter", {"size": 30}), lambda im: cv2.resize(im, (41, 30))),  # 61 * 30 / 45 = 40.7
    (("crop", {"x": 3, "y": 5, "height": 10, "width": 20}), lambda im: im[5:15, 3:23]),
    (("centerCrop", {"height": 10, "width": 21}), lambda im: im[17:27, 20:41]),
    (("centerCrop", {"height": 100, "width": 21}), lambda im: im[:, 20:41]),
    (
        ("colorFormat", {"code": cv2.COLOR_BGR2GRAY}),
        lambda im: cv2.cvtColor(im, cv2.COLOR_BGR2GRAY),
    ),
    (("colorFormat", {"code": cv2.COLOR_BGR2HSV}), lambda im: cv2.cvtColor(im, cv2.COLOR_BGR2HSV)),
    (("decolorize", {}), lambda im: cv2.decolor(im)[0]),
    (("flip", {"flipCode": 0}), lambda im: cv2.flip(im, 0)),
    (("flip", {"flipCode": 1}), lambda im: cv2.flip(im, 1)),
    (("flip", {"flipCode": -1}), lambda im: cv2.flip(im, -1)),
    (("blur", {"height": 3, "width": 5}), lambda im: cv2.blur(im, (5, 3))),
    (
        ("gaussianKernel", {"apertureSize": 5, "sigma": 1.5}),
        lambda im: cv2.filter2D(im, -1, cv2.getGaussianKernel(5, 1.5)),
    ),
    (
        ("threshold", {"threshold": 100.0, "maxVal": 255.0, "thresholdType": cv2.THRESH_BINARY}),
        lambda im: cv2.threshold(im, 100, 255, cv2.THRESH_BINARY)[1],
    ),
    (
        ("threshold", {"threshold": 90.0, "maxVal": 0.0, "thresholdType": cv2.THRESH_TRUNC}),
        lambda im: cv2.threshold(im, 90, 0, cv2.THRESH_TRUNC)[1],
    ),
]


@pytest.mark.parametrize(("stage", "opencv"), OPENCV, ids=[s[0] for s, _ in OPENCV])
def test_each_operation_gives_opencvs_pixels(stage, opencv):
    action, arguments = stage
    image = photo()
    got = apply_stages(image, [make_stage(action, **arguments)])
    expected = opencv(image.copy())
    assert got.dtype == np.uint8
    assert got.shape == expected.shape
    assert np.array_equal(got, expected)


def test_stages_apply_in_order():
    image = photo()
    stages = [make_stage("resizeShorter", size=30), make_stage("centerCrop", height=30, width=30)]
    resized = cv2.resize(image, (41, 30))
    assert np.array_equal(apply_stages(image, stages), resized[:, 5:35])


def test_blur_box_is_height_rows_by_width_columns():
    dot = np.zeros((11, 11), np.uint8)
    dot[5, 5] = 255
    spread = apply_stages(dot, [make_stage("blur", height=3, width=5)])
    rows, columns = np.nonzero(spread)
    assert (rows.min(), rows.max(), columns.min(), columns.max()) == (4, 6, 3, 7)


def test_decolorize_gives_luminance_where_opencv_gives_black():
    grey = cv2.cvtColor(cv2.cvtColor(photo(), cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    assert not cv2.decolor(grey)[0].any()  # opencv#22002; if this fails, the guard can go
    decolorized = apply_stages(grey, [make_stage("decolorize")])
    assert np.array_equal(decolorized, grey[..., 0])
    assert np.array_equal(apply_stages(grey[..., 0], [make_stage("decolorize")]), grey[..., 0])


def test_normalize_is_synapsemls_tensor():
    image = photo()
    tensor = normalize(image, [0.5, 0.4, 0.3], [0.2, 0.25, 0.3], 1 / 255)
    rgb = image[..., ::-1].astype(np.float64)
    assert tensor.shape == (3, 45, 61) and tensor.dtype == np.float32
    for channel, (mean, std) in enumerate([(0.5, 0.2), (0.4, 0.25), (0.3, 0.3)]):
        expected = (rgb[..., channel] / 255 - mean) / std
        assert np.allclose(tensor[channel], expected, atol=1e-5)
    assert np.array_equal(normalize(image[..., 0]), image[np.newaxis, ..., 0].astype(np.float32))


@pytest.mark.parametrize(
    ("action", "arguments", "complaint"),
    [
        ("sharpen", {}, "unknown image operation"),
        ("resize", {"height": 10}, "missing a required argument"),
        ("resize", {"height": 0, "width": 10}, "height must be at least 1"),
        ("crop", {"x": -1, "y": 0, "height": 1, "width": 1}, "x must be at least 0"),
        ("blur", {"height": 2.5, "width": 3}, "height must be an integer"),
        ("flip", {"flipCode": True}, "flipCode must be a number"),
        ("threshold", {"threshold": 1.0, "maxVal": 2.0}, "thresholdType"),
    ],
)
def test_bad_stages_are_refused_when_made(action, arguments, complaint):
    with pytest.raises(ValueError, match=complaint):
        make_stage(action, **arguments)


@pytest.mark.parametrize(
    ("stage", "complaint"),
    [
        (make_stage("crop", x=50, y=0, height=10, width=20), "crop: a 20x10 crop at \\(50, 0\\)"),
        (make_stage("colorFormat", code=cv2.COLOR_GRAY2BGR), "colorFormat: Bad number of channels"),
    ],
)
def test_an_operation_that_cannot_apply_rejects_the_image(stage, complaint):
    with pytest.raises(Rejected, match=complaint) as raised:
        apply_stages(photo(), [stage])
    assert raised.value.reason == Reason.TRANSFORM_FAILED


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_struct_round_trip(channels):
    image = {1: photo()[..., 0], 3: photo(), 4: cv2.cvtColor(photo(), cv2.COLOR_BGR2BGRA)}[channels]
    struct = codec.to_struct(image, "file:/x.png")
    assert (struct["height"], struct["width"], struct["nChannels"]) == (45, 61, channels)
    assert struct["mode"] == {1: 0, 3: 16, 4: 24}[channels]  # Spark's CV_8UC1, CV_8UC3, CV_8UC4
    assert struct["data"] == image.tobytes()  # rows of B, G, R(, A) bytes
    assert np.array_equal(codec.from_struct(struct), image)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"data": None}, Reason.EMPTY),
        ({"height": -1, "width": -1, "nChannels": -1, "mode": -1, "data": b""}, Reason.UNDECODABLE),
        ({"mode": 21}, Reason.UNSUPPORTED),  # CV_32FC3
        ({"data": b"\0" * 10}, Reason.UNDECODABLE),
    ],
)
def test_bad_structs_are_rejected(change, reason):
    struct = {**codec.to_struct(photo(), "file:/x.png"), **change}
    with pytest.raises(Rejected) as raised:
        codec.from_struct(struct)
    assert raised.value.reason == reason


def test_bytes_decode_to_bgr_and_encode_back():
    image = photo()
    png = cv2.imencode(".png", image)[1].tobytes()
    assert np.array_equal(codec.from_bytes(png, 10**6), image)
    assert np.array_equal(
        cv2.imdecode(np.frombuffer(codec.encode(image, ".png"), np.uint8), 1), image
    )
    with pytest.raises(Rejected) as raised:
        codec.from_bytes(png, max_pixels=100)
    assert raised.value.reason == Reason.TOO_LARGE


def test_a_jpeg_shrunk_first_is_decoded_reduced_never_below_the_target():
    jpeg = cv2.imencode(".jpg", cv2.resize(photo(), (480, 360)))[1].tobytes()
    shrink = make_stage("resize", height=80, width=100)
    quarter = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_REDUCED_COLOR_4)  # 120 x 90
    got = codec.from_struct(Recipe(stages=[shrink]).apply(jpeg))
    assert np.array_equal(got, cv2.resize(quarter, (100, 80)))

    full = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    flipped_first = Recipe(stages=[make_stage("flip", flipCode=1), shrink]).apply(jpeg)
    assert np.array_equal(
        codec.from_struct(flipped_first), cv2.resize(cv2.flip(full, 1), (100, 80))
    )
