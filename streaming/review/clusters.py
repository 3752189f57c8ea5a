"""The batch dedup's review: its pairs grouped into clusters, a suggested image to keep in each, and
the files to remove once a person has chosen.

The suggestion follows undouble's ranking: the highest resolution, then the sharpest (the variance
of the Laplacian, on a decode reduced alike for images of one size).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import cv2

from streaming.batch.report import groups
from streaming.errors import Rejected
from streaming.hashing.decode import decode
from streaming.sources import Fetcher

SHARPNESS_SIDE = 512  # the shorter side sharpness is measured at (libjpeg's reduced decode)


@dataclass(frozen=True)
class Member:
    path: str
    width: int  # 0 when the file can no longer be read
    height: int
    sharpness: float

    @property
    def rank(self) -> tuple[int, float]:
        return (self.width * self.height, self.sharpness)


@dataclass(frozen=True)
class Cluster:
    members: tuple[Member, ...]
    distances: Mapping[tuple[str, str], int]  # the pairs found inside the cluster

    @property
    def suggested(self) -> int:
        """The member to keep by default: undouble's choice."""
        return max(range(len(self.members)), key=lambda i: self.members[i].rank)


def measure(path: str, fetcher: Fetcher, max_pixels: int) -> Member:
    """Resolution and sharpness of one file, read through the sources layer."""
    try:
        decoded = decode(
            fetcher.read(path, None), max_pixels, colour=False, min_side=SHARPNESS_SIDE
        )
    except Rejected:
        return Member(path, 0, 0, 0.0)
    gray = decoded.gray
    sharpness = float(cv2.Laplacian(gray, cv2.CV_64F).var()) if gray.size else 0.0
    return Member(path, decoded.width, decoded.height, sharpness)


def clusters(
    pairs: Iterable[tuple[str, str, int]], fetcher: Fetcher, max_pixels: int
) -> list[Cluster]:
    """The connected components of the pairs (largest first), each member measured."""
    pairs = list(pairs)
    found = []
    for group in groups(pairs):
        inside = set(group)
        distances = {(a, b): d for a, b, d in pairs if a in inside}
        members = tuple(measure(path, fetcher, max_pixels) for path in group)
        found.append(Cluster(members, distances))
    return found


def removals(clusters: list[Cluster], keep: Mapping[int, int | None]) -> list[str]:
    """The files to remove: every member of a decided cluster but the one kept (None: keep all,
    the cluster was not duplicates)."""
    return sorted(
        member.path
        for number, kept in keep.items()
        if kept is not None
        for index, member in enumerate(clusters[number].members)
        if index != kept
    )


def write_removals(paths: list[str], output: Path) -> None:
    """The list, one path a line, replaced atomically so a reader never sees half of it."""
    partial = output.with_name(output.name + ".partial")
    partial.write_text("".join(f"{path}\n" for path in paths))
    partial.replace(output)
