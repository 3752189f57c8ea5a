"""The hashes of imagehash, computed with OpenCV and numpy from one decode.

Each function reads like imagehash's definition; where the arithmetic can be shortened without
changing the result it says why. Greyscale comes from OpenCV (the same ITU-R 601 weights as PIL's
"L"); the small grids are resized with PIL's own Lanczos coefficients, as two small matrix products,
from a decode that may be reduced: that reduction is where a bit can differ from imagehash.
"""

from __future__ import annotations

from functools import cache, lru_cache

import cv2
import numpy as np

from streaming.hashing.decode import Decoded
from streaming.hashing.words import COLORHASH_BINBITS, bits_to_hex


def clear_caches() -> None:
    """Forget the resampling matrices kept per image size (benchmarks of unseen sizes start from
    here)."""
    _resize_matrix.cache_clear()
    _whash_matrix.cache_clear()


def _lanczos_taps(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray]:
    """PIL's Lanczos resampling weights (ImagingResample's precompute_coeffs): for each output
    pixel, the input pixels it reads (out x taps) and their normalised weights (zero past its
    window)."""
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = 3 * filterscale
    center = (np.arange(out_size) + 0.5) * scale
    lo = np.maximum((center - support + 0.5).astype(int), 0)
    hi = np.minimum((center + support + 0.5).astype(int), in_size)
    # Taps are counted from the input pixel nearest each centre, so one row of offsets serves every
    # output.
    nearest = np.rint(center - 0.5).astype(int)
    reach = int(support) + 1
    offsets = np.arange(-reach, reach + 1)
    # Lanczos3 at x = (pixel + 0.5 - center) / filterscale is sinc(x) sinc(x / 3) = sin(3t) sin(t) /
    # 3t^2 with t = pi x / 3, and sin(3t) = sin(t) (3 - 4 sin(t)^2); the factor 4 / 3 is left to the
    # normalisation. With t = b - a, b per offset and a per output (its centre's distance to the
    # nearest pixel, |a| <= pi / 6 filterscale), sin(t) = sin(b) cos(a) - cos(b) sin(a) takes the
    # sines of out + taps angles instead of np.sinc's two per tap, which were most of the time; a
    # being small keeps sin(t) accurate to rounding where the weight is large. t = 0 is nudged as
    # np.sinc does.
    a = (center - 0.5 - nearest) * (np.pi / 3 / filterscale)
    a[a == 0] = 1e-20
    b = offsets * (np.pi / 3 / filterscale)
    sin_t = np.sin(b) * np.cos(a)[:, None] - np.cos(b) * np.sin(a)[:, None]
    weights = (sin_t / (b - a[:, None])) ** 2 * (0.75 - sin_t**2)
    pixels = nearest[:, None] + offsets
    weights *= (pixels >= lo[:, None]) & (pixels < hi[:, None])
    return np.clip(pixels, 0, in_size - 1), weights / weights.sum(axis=1, keepdims=True)


def _resampling_matrix(in_size: int, out_size: int, reduction: int, group: int = 1) -> np.ndarray:
    """PIL's Lanczos weights from `in_size` original pixels to `out_size`, as a matrix, each row the
    mean of `group` consecutive output pixels. For a decode reduced by `reduction` (libjpeg's DCT
    scaling: each pixel is about the mean of a reduction-wide block) the weights of each block
    are summed, so the small grid is the one PIL would compute from the original, up to the
    rounding of PIL's intermediate pass."""
    pixels, weights = _lanczos_taps(in_size, out_size)
    rows, columns = out_size // group, -(-in_size // reduction)
    cells = (np.arange(out_size)[:, None] // group) * columns + pixels // reduction
    return np.bincount(cells.ravel(), (weights / group).ravel(), rows * columns).reshape(
        rows, columns
    )


@lru_cache(maxsize=1024)
def _resize_matrix(in_size: int, out_size: int, reduction: int) -> np.ndarray:
    # float32: the product with the decoded image is the one that grows with it, and single
    # precision (24 bits) is finer than PIL's own 22-bit fixed-point weights.
    return _resampling_matrix(in_size, out_size, reduction).astype(np.float32)


def resize_like_pil(image: Decoded, width: int, height: int) -> np.ndarray:
    """image.convert("L").resize((width, height), LANCZOS) of the original: horizontal pass, round
    to 8 bits, vertical pass.

    PIL rounds the horizontal pass on every row of the original, and where it rounds moves final
    pixels by a level, enough to flip a bit. A reduced decode has one row for `reduction` rows of
    the original: the rows in between are interpolated before rounding, which brings the rounding
    close to PIL's (on 2-4 MP JPEGs decoded at 1/4, 90 -> 94 % of ahashes and 84 -> 88 % of dhashes
    identical to imagehash's)."""
    # Less the lift of a 1/8 decode's rounding (decode.dc_bias): the weights of a row sum to 1.
    rows = (
        image.gray.astype(np.float32) @ _resize_matrix(image.width, width, image.reduction).T
        - image.bias
    )
    if image.reduction > 1:
        # Reduced row i is the mean of original rows i * reduction to (i + 1) * reduction - 1: a
        # linear resize by the integer factor puts each original row between the centres of the two
        # reduced rows around it.
        interpolated = (width, rows.shape[0] * image.reduction)
        rows = cv2.resize(rows, interpolated, interpolation=cv2.INTER_LINEAR)[: image.height]
    rows = np.clip(np.rint(rows), 0, 255)
    return np.clip(np.rint(_resize_matrix(image.height, height, 1) @ rows), 0, 255).astype(np.uint8)


@lru_cache(maxsize=1024)
def _whash_matrix(in_size: int, scale: int, hash_size: int, reduction: int) -> np.ndarray:
    """Lanczos to imagehash's `scale` pixels, then the mean of each scale / hash_size block."""
    return _resampling_matrix(in_size, scale, reduction, group=scale // hash_size)


def ahash(image: Decoded, hash_size: int) -> str:
    pixels = resize_like_pil(image, hash_size, hash_size)
    return bits_to_hex((pixels > pixels.mean()).ravel())


@cache
def _dct_rows(size: int, keep: int) -> np.ndarray:
    """The first `keep` rows of scipy.fftpack's unnormalised DCT-II matrix of order `size`."""
    k, n = np.arange(keep)[:, None], np.arange(size)[None, :]
    return 2 * np.cos(np.pi * k * (2 * n + 1) / (2 * size))


def phash(image: Decoded, hash_size: int) -> str:
    low = phash_coefficients(image, hash_size)
    return bits_to_hex((low > np.median(low)).ravel())


def phash_coefficients(image: Decoded, hash_size: int) -> np.ndarray:
    """The hash_size x hash_size low-frequency corner of the 2-D DCT that phash thresholds."""
    size = hash_size * 4  # imagehash's highfreq_factor
    pixels = resize_like_pil(image, size, size).astype(np.float64)
    rows = _dct_rows(size, hash_size)
    return rows @ pixels @ rows.T  # only the low-frequency corner of the 2-D DCT is ever looked at


def dhash(image: Decoded, hash_size: int) -> str:
    pixels = resize_like_pil(image, hash_size + 1, hash_size)
    return bits_to_hex((pixels[:, 1:] > pixels[:, :-1]).ravel())


def _image_scale(image: Decoded, hash_size: int) -> int:
    """imagehash's default: the largest power of 2 within the original image's shorter side."""
    return max(2 ** int(np.log2(min(image.width, image.height))), hash_size)


def whash(image: Decoded, hash_size: int) -> str:
    # Haar's low band after log2(scale/hash_size) levels is the block average of the scale x scale
    # image (times a constant), and removing the top-level LL subtracts the mean: neither moves a
    # pixel across the median. So the Haar wavelet hash is a median threshold on the Lanczos image's
    # block means.
    low = whash_blocks(image, hash_size)
    return bits_to_hex((low > np.median(low)).ravel())


def whash_blocks(image: Decoded, hash_size: int) -> np.ndarray:
    """The hash_size x hash_size block means that whash thresholds at their median."""
    scale = _image_scale(image, hash_size)
    horizontal = _whash_matrix(image.width, scale, hash_size, image.reduction)
    vertical = _whash_matrix(image.height, scale, hash_size, image.reduction)
    return vertical @ image.gray @ horizontal.T


def whash_db4(image: Decoded, hash_size: int) -> str:
    import pywt

    scale = _image_scale(image, hash_size)
    pixels = cv2.resize(image.gray, (scale, scale), interpolation=cv2.INTER_AREA) / 255.0
    # Removing the top Haar LL subtracts a constant, which shifts every db4 low-band coefficient
    # alike.
    low = pywt.wavedec2(
        pixels - pixels.mean(), "db4", level=int(np.log2(scale)) - int(np.log2(hash_size))
    )[0]
    return bits_to_hex((low > np.median(low)).ravel())


# imagehash's np.histogram over linspace(0, 255, 7) edges: integer hue h falls in bin 2h // 85 (255
# in the last), so at or past edge j from h = ceil(85j / 2). OpenCV's full-range hue rounds where
# PIL truncates: a level at most, read here to 1/6 of the circle.
_HUE_EDGES = [(85 * j + 1) // 2 for j in range(1, 6)]


def colorhash(image: Decoded, hash_size: int) -> str:
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
    total = max(1, np.count_nonzero(colours))
    for mask in (faint, bright):
        # hue 0 outside the mask: counted in no bin but the first, which is found by difference
        hues = hue * mask
        at_least = [
            np.count_nonzero(mask),
            *(np.count_nonzero(hues >= edge) for edge in _HUE_EDGES),
            0,
        ]
        fractions += list(-np.diff(at_least) / total)
    levels = 2**COLORHASH_BINBITS
    values = [min(levels - 1, int(f * levels)) for f in fractions]
    # imagehash's own encoding of a bin (not plain binary: the middle bit means "at least 2").
    return bits_to_hex(
        v // 2 ** (COLORHASH_BINBITS - i - 1) % 2 ** (COLORHASH_BINBITS - i) > 0
        for v in values
        for i in range(COLORHASH_BINBITS)
    )


def crop_resistant(image: Decoded, hash_size: int) -> str:
    import imagehash
    from PIL import Image

    rgb = Image.fromarray(cv2.cvtColor(image.pixels, cv2.COLOR_BGR2RGB))
    return str(
        imagehash.crop_resistant_hash(rgb, lambda segment: imagehash.dhash(segment, hash_size))
    )


def pdq_rgb(image: Decoded) -> np.ndarray:
    """What PDQ reads: RGB, which it turns to luminance itself; another grey step hands it that
    step's grey in all three channels."""
    if image.grey == "luma":
        return cv2.cvtColor(image.pixels, cv2.COLOR_BGR2RGB)
    return cv2.cvtColor(image.gray, cv2.COLOR_GRAY2RGB)


def pdq(image: Decoded, hash_size: int) -> tuple[str, int]:
    import pdqhash

    bits, quality = pdqhash.compute(pdq_rgb(image))
    return bits_to_hex(bits), int(quality)
