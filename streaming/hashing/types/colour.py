"""colorhash: the share of black, grey, faint and bright colours in each sixth of the hue circle."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from streaming.hashing.decode import Decoded
from streaming.hashing.types.base import HashType
from streaming.hashing.words import bits_to_hex

BINBITS = 3  # imagehash's default: 14 bins of 3 bits

# imagehash's np.histogram over linspace(0, 255, 7) edges: integer hue h falls in bin 2h // 85 (255
# in the last), so at or past edge j from h = ceil(85j / 2). OpenCV's full-range hue rounds where
# PIL truncates: a level at most, read here to 1/6 of the circle.
_HUE_EDGES = [(85 * j + 1) // 2 for j in range(1, 6)]


def fast(image: Decoded, hash_size: int) -> str:
    hue = cv2.extractChannel(cv2.cvtColor(image.pixels, cv2.COLOR_BGR2HSV_FULL), 0)
    blue, green, red = cv2.split(image.pixels)
    brightest = cv2.max(cv2.max(blue, green), red).astype(np.uint16)  # HSV's V
    spread = brightest - cv2.min(cv2.min(blue, green), red)
    # PIL's saturation is trunc(255 * spread / V); compared with a level in integers it is exact,
    # and with both sides divided by 85 (by 3 for the last level) the products stay within 16 bits.
    black = image.luma < 256 // 8  # every pixel with V 0 is black: the masks below need not see it
    gray = 3 * spread < brightest  # S < 85
    colours = ~black & ~gray
    faint = colours & (3 * spread < 2 * brightest)  # S < 170
    bright = colours & (85 * spread >= 57 * brightest)  # S >= 171
    fractions = [np.count_nonzero(black) / black.size, np.count_nonzero(~black & gray) / black.size]
    total = max(1, int(np.count_nonzero(colours)))
    for mask in (faint, bright):
        # hue 0 outside the mask: counted in no bin but the first, which is found by difference
        hues = hue * mask
        at_least = [
            int(np.count_nonzero(mask)),
            *(int(np.count_nonzero(hues >= edge)) for edge in _HUE_EDGES),
            0,
        ]
        fractions += list(-np.diff(at_least) / total)
    levels = 2**BINBITS
    values = [min(levels - 1, int(f * levels)) for f in fractions]
    # imagehash's own encoding of a bin (not plain binary: the middle bit means "at least 2").
    return bits_to_hex(
        v // 2 ** (BINBITS - i - 1) % 2 ** (BINBITS - i) > 0 for v in values for i in range(BINBITS)
    )


def exact(image: Image.Image, hash_size: int) -> str:
    import imagehash

    return str(imagehash.colorhash(image))


COLORHASH = HashType("colorhash", fast, exact, bits=lambda _: 14 * BINBITS, colour=True)
