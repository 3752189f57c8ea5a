"""Real photos (shipped by scikit-image) encoded the ways images arrive: JPEG and PNG, small and
above 2 MP, greyscale, palette, with alpha."""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image

from streaming.samples import photos


def _pil(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def encoded_photos() -> dict[str, bytes]:
    """name -> bytes; 2 MP versions of the first photos only, to keep the tests quick."""
    corpus = {}
    for n, (name, bgr) in enumerate(photos().items()):
        rgb = Image.fromarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        corpus[f"{name}.jpg"] = _pil(rgb, "JPEG")
        corpus[f"{name}.png"] = _pil(rgb, "PNG")
        corpus[f"{name}-gray.png"] = _pil(rgb.convert("L"), "PNG")
        corpus[f"{name}-palette.png"] = _pil(
            rgb.convert("P", palette=Image.Palette.ADAPTIVE), "PNG"
        )
        corpus[f"{name}-alpha.png"] = _pil(rgb.convert("RGBA"), "PNG")
        if n < 4:
            big = cv2.resize(bgr, (1800, 1200), interpolation=cv2.INTER_CUBIC)
            corpus[f"{name}-2mp.jpg"] = cv2.imencode(".jpg", big)[1].tobytes()
    return corpus


def jpeg(array: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", array)[1].tobytes()
