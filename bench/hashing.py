"""Hashing speed on one core: imagehash, imgdd and ours on the same JPEGs, and the decode floor.

    python -m bench.hashing [--images 120] [--repeats 3] [--agreement-images 300] [--megapixels 2]

Prints one JSON line per (library, hash) with images/s (median of the repeats, imagehash's as well
as ours), then our agreement with imagehash on a larger corpus built the same way (share of
identical hashes, mean bits apart: a hundred files move the share by a few points), then the ratios
the goals are stated in. Single-threaded everywhere: OpenCV, BLAS and the process. `--megapixels 12`
runs the same on photos of a phone camera's size, which phash decodes at 1/8 where 2-4 MP files are
decoded at 1/4.
"""

from __future__ import annotations

import bench.one_thread  # noqa: F401  (before numpy)

# isort: split

import argparse
import io
import json
import statistics
import time
from collections.abc import Callable

import cv2
import numpy as np

from bench.photos import jpeg_corpus
from streaming.hashing import HashSpec, hash_images
from streaming.hashing.resample import clear_caches

FIVE = ("ahash", "phash", "dhash", "whash", "colorhash")


def rate(work: Callable[[], object], images: int, repeats: int) -> float:
    seconds = []
    for _ in range(repeats):
        # every file has its own size: each run pays for its resampling matrices, as a stream would
        clear_caches()
        started = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - started)
    return images / statistics.median(seconds)


def agreement(ours: list[str], reference: list[str]) -> dict:
    apart = [bin(int(a, 16) ^ int(b, 16)).count("1") for a, b in zip(ours, reference, strict=True)]
    return {
        "identical": round(apart.count(0) / len(apart), 3),
        "mean_bits_apart": round(statistics.mean(apart), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=120)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--agreement-images", type=int, default=300)
    parser.add_argument(
        "--megapixels", type=float, default=2, help="the smallest file of the corpora"
    )
    args = parser.parse_args()
    cv2.setNumThreads(1)
    min_pixels = int(args.megapixels * 1e6)
    files = jpeg_corpus(args.images, min_pixels)
    blobs = [p.read_bytes() for p in files]
    n, repeats = len(blobs), args.repeats
    results: dict[tuple[str, str], float] = {}

    import imagehash
    from PIL import Image

    reference = {
        "ahash": imagehash.average_hash,
        "phash": imagehash.phash,
        "dhash": imagehash.dhash,
        "whash": imagehash.whash,
        "colorhash": imagehash.colorhash,
    }
    for name, function in reference.items():
        results["imagehash", name] = rate(
            lambda f=function: [f(Image.open(io.BytesIO(b))) for b in blobs], n, repeats
        )

    def imagehash_five() -> None:
        for blob in blobs:
            image = Image.open(io.BytesIO(blob))
            image.load()
            for function in reference.values():
                function(image)

    results["imagehash", "five"] = rate(imagehash_five, n, repeats)

    import imgdd

    # imgdd hashes a whole folder (Rust; RAYON_NUM_THREADS=1 keeps it on one core)
    folder = str(files[0].parent)
    for name in ("aHash", "pHash", "dHash", "wHash"):
        results["imgdd", name.lower()] = rate(
            lambda a=name: imgdd.hash(path=folder, algo=a), n, repeats
        )

    for name in FIVE:
        results["neardup", name] = rate(
            lambda t=name: hash_images(blobs, HashSpec(types=(t,))), n, repeats
        )
    results["neardup", "five"] = rate(lambda: hash_images(blobs, HashSpec(types=FIVE)), n, repeats)

    flag = cv2.IMREAD_REDUCED_GRAYSCALE_8
    results["decode-floor", "gray-reduced"] = rate(
        lambda: _each(blobs, lambda b: cv2.imdecode(_array(b), flag)), n, repeats
    )
    results["decode-floor", "phash-flag"] = rate(lambda: _each(blobs, _floor), n, repeats)
    results["decode-floor", "phash-pil-draft"] = rate(lambda: _each(blobs, _pil_floor), n, repeats)

    for (library, name), value in results.items():
        print(
            json.dumps(
                {
                    "library": library,
                    "hash": name,
                    "images_per_s": round(value, 1),
                    "images": n,
                    "cores": 1,
                }
            )
        )
    blobs = [p.read_bytes() for p in jpeg_corpus(args.agreement_images, min_pixels)]
    ours = hash_images(blobs, HashSpec(types=FIVE))
    for name, function in reference.items():
        matched = agreement(
            [h.hashes[name] for h in ours],
            [str(function(Image.open(io.BytesIO(b)))) for b in blobs],
        )
        print(json.dumps({"agreement": name, "images": len(blobs), **matched}))
    ratios = {
        "phash_vs_imagehash": results["neardup", "phash"] / results["imagehash", "phash"],
        "phash_vs_imgdd": results["neardup", "phash"] / results["imgdd", "phash"],
        "five_vs_imagehash_five": results["neardup", "five"] / results["imagehash", "five"],
        "decode_floor_vs_phash": results["decode-floor", "phash-flag"]
        / results["neardup", "phash"],
    }
    print(json.dumps({"ratios": {k: round(v, 2) for k, v in ratios.items()}}))


def _each(blobs: list[bytes], decode: Callable[[bytes], object]) -> None:
    """Decode every blob, keeping none: a stream holds one image at a time, and a list of a hundred
    decodes would time the allocator's page faults too."""
    for blob in blobs:
        decode(blob)


def _array(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, np.uint8)


def _phash_reduction(blob: bytes) -> int:
    from streaming.hashing import hash_type
    from streaming.hashing.decode import probe, reduction

    _, width, height, _ = probe(blob, 10**9)
    return reduction(width, height, hash_type("phash").min_side(8))


def _floor(blob: bytes) -> np.ndarray:
    """The decode our phash makes, nothing else: the same reduction flag it would choose."""
    from streaming.hashing.decode import _REDUCED

    return cv2.imdecode(_array(blob), _REDUCED[_phash_reduction(blob)][1])


def _pil_floor(blob: bytes) -> None:
    """The same reduced grey decode through Pillow's libjpeg-turbo (draft mode): is another decoder
    faster?"""
    from PIL import Image

    factor = _phash_reduction(blob)
    with Image.open(io.BytesIO(blob)) as image:
        image.draft("L", (image.width // factor, image.height // factor))
        image.load()


if __name__ == "__main__":
    main()
