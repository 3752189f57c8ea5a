"""A self-contained HTML page of duplicate groups: thumbnails side by side, with the distances."""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:  # dedup.py brings Spark in: the report needs its pair type alone
    from streaming.batch.dedup import FolderPair

THUMBNAIL = 160


def groups(pairs: Iterable[tuple[str, str, int]]) -> list[list[str]]:
    """Connected components of the duplicate pairs, largest first."""
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b, _ in pairs:
        parent[root(a)] = root(b)
    components: dict[str, list[str]] = {}
    for x in parent:
        components.setdefault(root(x), []).append(x)
    return sorted((sorted(c) for c in components.values()), key=lambda c: (-len(c), c))


def thumbnail(path: str) -> str:
    """A data: URI of a small JPEG of the image, or "" if it cannot be read any more."""
    image = (
        cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_COLOR)
        if Path(path).is_file()
        else None
    )
    if image is None:
        return ""
    scale = THUMBNAIL / max(image.shape[:2])
    small = cv2.resize(
        image, None, fx=min(scale, 1.0), fy=min(scale, 1.0), interpolation=cv2.INTER_AREA
    )
    return (
        "data:image/jpeg;base64,"
        + base64.b64encode(cv2.imencode(".jpg", small)[1].tobytes()).decode()
    )


def write_report(pairs: Sequence[FolderPair], output: Path, title: str) -> None:
    """The page of the pairs' groups; each member but the first with its distance to it (and the
    transform that turns the first into it, when not the identity)."""
    found = {(p.a, p.b): p for p in pairs}
    sections = []
    for number, group in enumerate(groups((p.a, p.b, p.distance) for p in pairs), 1):
        first = group[0]
        cells = []
        for path in group:
            d = relation(first, path, found)
            cells.append(
                f'<figure><img src="{thumbnail(path)}" '
                f'alt=""><figcaption>{html.escape(Path(path).name)}'
                f"<br><small>{d}</small></figcaption></figure>"
            )
        sections.append(
            f"<section><h2>Group {number} · {len(group)} images</h2>{''.join(cells)}</section>"
        )
    output.write_text(
        "<!doctype html><meta charset=utf-8><title>" + html.escape(title) + "</title><style>"
        "body{font-family:sans-serif;margin:2em}section{border-top:1px solid #ccc;padding:.5em 0}"
        "figure{display:inline-block;margin:.5em;text-align:center;vertical-align:top;width:170px}"
        f"img{{max-width:{THUMBNAIL}px;max-height:{THUMBNAIL}px}}figcaption{{word-break:break-all;font-size:12px}}"
        f"</style><h1>{html.escape(title)}</h1><p>{len(pairs)} pairs in {len(sections)} groups</p>"
        + "".join(sections)
    )


def relation(first: str, path: str, pairs: Mapping[tuple[str, str], FolderPair]) -> str:
    """What a member's caption says of it against its group's first member."""
    if path == first:
        return "reference"
    pair = pairs.get((first, path))  # a group is sorted: first < path, as in a pair
    if pair is None:
        return "linked through the group"
    turned = "" if pair.transform == "identity" else f", {pair.transform}"
    return f"distance {pair.distance}{turned}"
