"""A micro-batch's lookup in the Delta index: which indexed images lie within the threshold of its
hashes, and the indexed rows of given ids.

Every lookup gives one answer: the pairs within the threshold in the index's latest snapshot, each
once. How it gets there is the lookup's own (index.lookup): "memory" holds the primary hashes on the
driver (resident.py), "join" joins probes with the bands table in Spark (join.py).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol

from streaming.index.table import HashIndex

Pairs = dict[tuple[str, str], int]  # (query id, indexed id) -> distance


class Lookup(Protocol):
    """What the stream asks of an index lookup."""

    # Whether a stream using this lookup must write the bands table with its registrations.
    writes_bands: bool

    def near(self, ids: Sequence[str], hashes: Sequence[Sequence[int]], threshold: int) -> Pairs:
        """(query id, indexed id) -> distance for every indexed hash within threshold, never an id
        with itself."""
        ...

    def rows(self, ids: Collection[str], columns: Sequence[str]) -> dict[str, dict]:
        """The `images` rows of these ids in the snapshot of the last lookup, by id."""
        ...


def open_lookup(index: HashIndex, kind: str) -> Lookup:
    """The lookup that index.lookup names."""
    from streaming.index.join import JoinLookup
    from streaming.index.resident import ResidentLookup
    from streaming.index.sharded import ShardedLookup

    lookups: dict[str, type[Lookup]] = {
        "memory": ResidentLookup,
        "join": JoinLookup,
        "sharded": ShardedLookup,
    }
    return lookups[kind](index)
