"""Uniform borders (letterbox and pillarbox bars, padding) taken off before hashing, and the
central crops that crop-tolerant matching stores.

PDQ's unletterboxing in the spirit: rows (columns) are stripped from the outside in while they are
of one colour, the colour of the outermost row. Two guards keep photos whole: opposite sides must
both have a border of about the same colour (a plain sky above a street is not padding, a bar above
and below is), and at most MAX_SHARE of a dimension goes. The work is done on the decode that the
hashes read (reduced or not), on its grey levels.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from streaming.hashing.decode import Decoded

# A line belongs to the border while 98 % of its pixels are within TOLERANCE grey levels of the
# border's colour (JPEG ringing and noise leave a few pixels further off).
TOLERANCE = 16
INSIDE_SHARE = 0.02
MAX_SHARE = 0.45  # of the height (width) that the borders of two opposite sides may take
MIN_LINES = 2  # a border thinner than this (in decoded pixels) is left: it moves nothing


def unletterboxed(image: Decoded) -> Decoded:
    """The image without its uniform borders; the image itself when it has none."""
    gray = image.luma.astype(np.int16)  # borders are uniform in luminance whatever the grey step
    top, bottom = _opposite(gray)
    left, right = _opposite(gray.T)
    if top == bottom == left == right == 0:
        return image
    return cropped(image, top, gray.shape[0] - bottom, left, gray.shape[1] - right)


def cropped(image: Decoded, top: int, bottom: int, left: int, right: int) -> Decoded:
    """The rows top:bottom and columns left:right of the decoded pixels, as a decode of its own (the
    original size shrinks with them, so the kernels' resampling still maps one to the other)."""
    pixels = image.pixels[top:bottom, left:right]
    rows, columns = pixels.shape[:2]
    return replace(
        image,
        pixels=np.ascontiguousarray(pixels),
        width=min(image.width, columns * image.reduction),
        height=min(image.height, rows * image.reduction),
    )


def centre_crop(image: Decoded, share: float) -> Decoded:
    """The middle of the image with `share` of its height and width cut off, half on each side."""
    rows, columns = image.pixels.shape[:2]
    dy, dx = round(rows * share / 2), round(columns * share / 2)
    return cropped(image, dy, rows - dy, dx, columns - dx)


def _opposite(gray: np.ndarray) -> tuple[int, int]:
    """Lines of border at the start and at the end of axis 0, both 0 unless both sides have one."""
    first, first_colour = _border(gray)
    last, last_colour = _border(gray[::-1])
    if min(first, last) < MIN_LINES or abs(first_colour - last_colour) > TOLERANCE:
        return 0, 0
    if first + last > MAX_SHARE * len(gray):
        return 0, 0
    return first, last


def _border(gray: np.ndarray) -> tuple[int, float]:
    """(lines, colour): how many lines from the start are of the first line's colour."""
    colour = float(np.median(gray[0]))
    off = np.abs(gray - colour) > TOLERANCE
    outside = np.mean(off, axis=1) > INSIDE_SHARE
    lines = int(np.argmax(outside)) if outside.any() else len(gray)
    return lines, colour
