"""A micro-batch's lookup in the Delta index: which indexed images lie within the threshold of its
hashes, and the indexed rows of given ids.

Every lookup gives one answer: the pairs within the threshold in the index's latest snapshot, each
once. How it gets there is the lookup's own (index.lookup): "memory" holds the primary hashes on the
driver (resident.py), "join" joins probes with the bands table in Spark (join.py).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # this module is Spark-free, so the configuration can read LOOKUPS
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


def _resident(index: HashIndex) -> Lookup:
    from streaming.index.resident import ResidentLookup

    return ResidentLookup(index)


def _join(index: HashIndex) -> Lookup:
    from streaming.index.join import JoinLookup

    return JoinLookup(index)


# index.lookup's values: each opens its lookup, importing Spark only then.
LOOKUPS: dict[str, Callable[[HashIndex], Lookup]] = {"memory": _resident, "join": _join}


def open_lookup(index: HashIndex, name: str) -> Lookup:
    """The lookup that index.lookup names."""
    return LOOKUPS[name](index)
