"""Thumbnails for the review page: the image bytes through the sources layer (its allowed roots,
allowlisted hosts and size limits), decoded reduced, scaled down and kept in memory.

The page asks for a thumbnail by alert or cluster position, never by path: the URI comes from the
alert itself, and the sources layer still refuses one outside sources.allowed_roots.
"""

from __future__ import annotations

from collections import OrderedDict
from threading import Lock

import cv2

from streaming.config import Config
from streaming.hashing.decode import decode
from streaming.sources import Fetcher

JPEG_QUALITY = 85


class Thumbnails:
    def __init__(self, config: Config) -> None:
        self.fetcher = Fetcher(config)  # the page's lifetime: its fetch thread serves every request
        self.max_pixels = config.sources.max_pixels
        self.px = config.review.thumbnail_px
        self.capacity = config.review.thumbnail_cache
        self.cache: OrderedDict[str, bytes] = OrderedDict()  # least recently used first
        self.lock = Lock()

    def close(self) -> None:
        """End the fetch thread and close its http session (the page's server shuts down)."""
        self.fetcher.close()

    def jpeg(self, uri: str) -> bytes:
        """The thumbnail of the image at `uri`, as JPEG; Rejected (with the dead-letter reason)
        when the sources layer refuses it or it does not decode."""
        with self.lock:
            if uri in self.cache:
                self.cache.move_to_end(uri)
                return self.cache[uri]
        thumbnail = self.render(self.fetcher.read(uri, None))
        with self.lock:
            self.cache[uri] = thumbnail
            while len(self.cache) > self.capacity:
                self.cache.popitem(last=False)
        return thumbnail

    def render(self, data: bytes) -> bytes:
        image = decode(data, self.max_pixels, colour=True, min_side=self.px).pixels
        scale = min(1.0, self.px / max(image.shape[:2]))
        if scale < 1.0:
            image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])[1].tobytes()
