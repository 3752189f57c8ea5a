"""Between uint8 arrays and what a Spark column holds: encoded bytes (binaryFile's `content`) and
Spark's image struct (what spark.read.format("image") gives: origin, height, width, nChannels, mode
and data, the rows of pixels in BGR(A) or grey order).

Every failure is a `Rejected` with its reason, for the caller to put beside the row.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np

from streaming.errors import Reason, Rejected
from streaming.hashing.decode import probe, reduction
from streaming.image.ops import reason

IMAGE_FIELDS = ("origin", "height", "width", "nChannels", "mode", "data")
# Spark's ImageSchema.ocvTypes for 8-bit images by channel count: OpenCV 4's type codes (CV_8UC1,
# CV_8UC3, CV_8UC4). OpenCV 5, which runs here, numbers its types otherwise: not taken from cv2.
MODES = {1: 0, 3: 16, 4: 24}
# What Spark's image source writes for a file it cannot decode (ImageSchema.invalidImageRow).
_INVALID_MODE = -1
_REDUCED_COLOUR = {
    factor: flag | cv2.IMREAD_IGNORE_ORIENTATION
    for factor, flag in (
        (1, cv2.IMREAD_COLOR),
        (2, cv2.IMREAD_REDUCED_COLOR_2),
        (4, cv2.IMREAD_REDUCED_COLOR_4),
        (8, cv2.IMREAD_REDUCED_COLOR_8),
    )
}


def from_bytes(data: bytes, max_pixels: int, keep: tuple[int, int] = (0, 0)) -> np.ndarray:
    """An encoded image (any format OpenCV reads) as BGR, refused before decoding when its header
    declares more than `max_pixels`. A JPEG is decoded at 1/2, 1/4 or 1/8 of its size (libjpeg's
    DCT scaling, as the hashing decodes) as long as it keeps `keep` = (height, width) pixels. EXIF
    orientation is ignored, as the hashing ignores it."""
    header = probe(data, max_pixels)
    factor = 1
    if header.format == "JPEG":
        height, width = keep
        factor = min(
            reduction(header.width, header.width, width),
            reduction(header.height, header.height, height),
        )
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), _REDUCED_COLOUR[factor])
    if pixels is None:
        raise Rejected(Reason.UNDECODABLE, "OpenCV cannot decode this image")
    return pixels


def from_struct(image: Mapping[str, Any]) -> np.ndarray:
    """Spark's image struct as an array: height x width x channels, or height x width for grey."""
    if image.get("data") is None:
        raise Rejected(Reason.EMPTY, "no image: the struct or its data is null")
    height, width, channels, mode = (
        int(image[field]) for field in ("height", "width", "nChannels", "mode")
    )
    data = image["data"]
    if mode == _INVALID_MODE:
        raise Rejected(Reason.UNDECODABLE, f"Spark could not decode {image.get('origin')}")
    if MODES.get(channels) != mode:
        raise Rejected(
            Reason.UNSUPPORTED,
            f"mode {mode} with {channels} channels: only 8-bit images with 1, 3 or 4 channels",
        )
    if len(data) != height * width * channels:
        raise Rejected(
            Reason.UNDECODABLE, f"{len(data)} bytes for {height}x{width}x{channels} pixels"
        )
    pixels = np.frombuffer(data, np.uint8).reshape(height, width, channels)
    return pixels[..., 0] if channels == 1 else pixels


def to_struct(pixels: np.ndarray, origin: str | None) -> dict[str, Any]:
    """An array as Spark's image struct."""
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    if pixels.dtype != np.uint8 or channels not in MODES:
        raise Rejected(
            Reason.UNSUPPORTED,
            f"{channels} channels of {pixels.dtype}: Spark's image struct holds 8-bit images with "
            "1, 3 or 4 channels",
        )
    height, width = pixels.shape[:2]
    data = np.ascontiguousarray(pixels).tobytes()
    return dict(
        zip(IMAGE_FIELDS, (origin, height, width, channels, MODES[channels], data), strict=True)
    )


def encode(pixels: np.ndarray, extension: str) -> bytes:
    """PNG (lossless) or JPEG (OpenCV's default quality, 95) bytes, by extension: ".png", ".jpg"."""
    try:
        ok, encoded = cv2.imencode(extension, pixels)
    except cv2.error as e:
        raise Rejected(Reason.UNSUPPORTED, f"cannot encode as {extension}: {reason(e)}") from None
    if not ok:
        raise Rejected(Reason.UNSUPPORTED, f"cannot encode as {extension}: the encoder refused")
    return encoded.tobytes()
