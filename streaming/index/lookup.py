"""A micro-batch's lookup in the Delta index: which indexed images lie within the threshold of its
hashes, and the indexed rows of given ids.

Every lookup gives one answer: the pairs within the threshold in the index's latest snapshot, each
once. How it gets there is the lookup's own (index.lookup): "memory" holds the primary hashes on the
driver (resident.py), "sharded" holds them in shards on the executors (sharded.py, shards.py),
"join" joins probes with the bands table in Spark (join.py); "auto" picks memory or sharded by the
index's size (join for a large index on an object store, where the shards cannot read it).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlparse

from streaming.errors import ConfigError

if TYPE_CHECKING:  # this module is Spark-free, so the configuration can read LOOKUP_NAMES
    from streaming.config import IndexConfig
    from streaming.index.table import HashIndex

Pairs = dict[tuple[str, str], int]  # (query id, indexed id) -> distance


class Lookup(Protocol):
    """What the stream asks of an index lookup. A class implementing it is built from the index."""

    # Whether a stream using this lookup must write the bands table with its registrations.
    writes_bands: bool

    def near(self, ids: Sequence[str], hashes: Sequence[Sequence[int]], threshold: int) -> Pairs:
        """(query id, indexed id) -> distance for every indexed hash within threshold, never an id
        with itself."""
        ...

    def rows(self, ids: Collection[str], columns: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The `images` rows of these ids in the snapshot of the last lookup, by id."""
        ...

    def committed_at(self) -> datetime | None:
        """When the newest `images` commit the last lookup read was made (None before one): the
        index's freshness, index_lag_s."""
        ...


def _resident(index: HashIndex, settings: IndexConfig) -> Lookup:
    from streaming.index.resident import ResidentLookup

    return ResidentLookup(index)


def _sharded(index: HashIndex, settings: IndexConfig) -> Lookup:
    from streaming.index.sharded import ShardedLookup

    return ShardedLookup(index, settings.shards)


def _join(index: HashIndex, settings: IndexConfig) -> Lookup:
    from streaming.index.join import JoinLookup

    return JoinLookup(index)


# The lookups by name: each opens its lookup, importing Spark only then.
LOOKUPS: dict[str, Callable[[HashIndex, IndexConfig], Lookup]] = {
    "memory": _resident,
    "sharded": _sharded,
    "join": _join,
}
# index.lookup's values: a lookup's name, or "auto" (choose_lookup).
LOOKUP_NAMES = ("auto", *LOOKUPS)


def open_lookup(index: HashIndex, settings: IndexConfig) -> Lookup:
    """The lookup that index.lookup names (for "auto": chosen by the index's size)."""
    kind, why = choose_lookup(index, settings)
    if index.crops and kind == "join":
        raise ConfigError(
            f"hashing.crops: the join lookup does not index crops ({why}): raise "
            "index.memory_max_images, or keep the index on a file system for the sharded lookup"
        )
    return LOOKUPS[kind](index, settings)


def choose_lookup(index: HashIndex, settings: IndexConfig) -> tuple[str, str]:
    """(the lookup a stream would open now, why)."""
    if settings.lookup != "auto":
        return settings.lookup, f"index.lookup = {settings.lookup}"
    images, limit = index.size(), settings.memory_max_images
    if images <= limit:
        return "memory", f"auto: {images} images <= index.memory_max_images ({limit})"
    if not on_file_system(index.images_path):
        return (
            "join",
            f"auto: {images} images > index.memory_max_images ({limit}), not on a file system",
        )
    return "sharded", f"auto: {images} images > index.memory_max_images ({limit})"


def on_file_system(path: str) -> bool:
    """Whether a table is on a file system every process reaches by path (what the shards read)."""
    return urlparse(path).scheme in ("", "file")
