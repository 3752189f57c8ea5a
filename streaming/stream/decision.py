"""What one micro-batch does, decided without Spark or Kafka: which pairs alert, which images are
registered, which messages are dead-lettered.

MicroBatch (microbatch.py) collects the batch, asks the index lookup for candidates and indexed
rows, and writes what `decide` returns. The rules (DESIGN.md's order rule, kept independent of
how the stream is cut into micro-batches):
- stream order is (Kafka timestamp, partition, offset); an id's first message is its image, and a
  message whose id is already known (earlier in the batch, in the index from an earlier message or
  from a bank) is a repeat: it decides nothing, so that the answer does not depend on batching;
- an image matches an earlier image or one registered outside the stream (a bank: no position),
  never its own id; a pair reviewers judged not a duplicate (`neardup review`) never alerts;
- a batch run again (after a crash, or replayed against a built index) finds its own rows in the
  index: keyed by (image, match) they count once with the in-batch pairs, and are not registered
  again;
- with hashing.dihedral an image also matches through its 7 other dihedral variants (the index
  holds each image's own hash), and the alert names the transform; with hashing.rule a pair within
  the threshold alerts only if the rule holds on the distances under that transform;
- with hashing.crops an image also matches the central crops of an earlier image (the index holds
  them beside its hash; met by the image's own hash, not its other variants), and an earlier image
  through its own crops (its crops probe too); the alert names the crop (crop20: the image is the
  match's crop20; uncrop20: the match is the image's); such a pair is decided on the primary
  alone, the only hash whose crops are kept, so the rule does not apply to it and the other
  hashes' distances are null;
- the banks' policies (policies.py) then filter the matches: per-bank thresholds, disabled banks,
  allow banks that silence an image.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from streaming.config import HashingConfig
from streaming.hashing import hash_type
from streaming.hashing.dihedral import TRANSFORM_NAMES, inverse
from streaming.imageframe import crops_column, hash_column, variants_column
from streaming.index.crops import crop_name, is_crop
from streaming.index.decisions import Pair, pair_of
from streaming.index.distance import distance
from streaming.index.pairs import as_words, near_pairs
from streaming.index.variants import (
    Found,
    Lookup,
    Near,
    near_pairs_variants,
    near_probes,
    probes_of,
)
from streaming.stream.policies import Policies, judge
from streaming.stream.records import Row, alert, dead_letter

POSITION = ("source_timestamp", "source_partition", "source_offset")


@dataclass(frozen=True)
class Batch:
    """A micro-batch's rows: the hashed ones in stream order, an id seen twice kept at its first;
    and the failed ones."""

    images: list[Row]
    failed: list[Row]

    @classmethod
    def of(cls, rows: Iterable[Row]) -> Batch:
        hashed: list[Row] = []
        failed: list[Row] = []
        for row in rows:
            (hashed if row["error_code"] is None else failed).append(row)
        return cls(first_per_id(hashed), failed)

    @property
    def ids(self) -> list[str]:
        return [row["id"] for row in self.images]


@dataclass(frozen=True)
class Decision:
    alerts: list[dict[str, Any]]  # of schemas/duplicate_alert.schema.json
    registrations: list[Row]  # the batch's rows to add to the index
    dead_letters: list[dict[str, Any]]  # of schemas/dead_letter.schema.json
    allowed: list[str] = field(default_factory=list)  # images an allow bank silenced


def candidates(batch: Batch, hashing: HashingConfig, near: Lookup) -> Found:
    """The indexed images within the threshold of each image of the batch, by `near` (a
    Lookup.near): of its hash, or with hashing.dihedral of one of its 8 variants; with
    hashing.crops of the crops the index holds, and of the image's own crops."""
    words, transforms = probes(batch.images, hashing)
    return near_probes(batch.ids, words, transforms, hashing.threshold, near)


def probes(images: Sequence[Row], hashing: HashingConfig) -> tuple[list[list[int]], list[str]]:
    """Each image's probe hashes of the primary, words end to end, and the transform each stands
    for (variants.probes_of): its hash or its 8 dihedral variants, then its crops."""
    primary = hashing.primary
    return probes_of(
        [row[hash_column(primary)] for row in images],
        [row[variants_column(primary)] for row in images] if hashing.dihedral else None,
        [row[crops_column(primary)] for row in images] if hashing.crops else None,
        hashing.crops,
    )


def wanted_ids(batch: Batch, candidates: Found) -> set[str]:
    """The ids whose indexed rows the decision needs: the batch's own (already indexed: a replay,
    a repeat, or this batch run again) and the matched ones (their fields and positions)."""
    return {*batch.ids, *(match_id for _, match_id in candidates)}


def indexed_columns(hashing: HashingConfig) -> list[str]:
    """The columns of an indexed row that the decision reads."""
    return [
        *("id", "bank", "uri", "meta"),
        *map(hash_column, hashing.types),
        *("source_topic", *POSITION),
    ]


def decide(
    batch: Batch,
    candidates: Found,
    indexed: Mapping[str, Row],
    hashing: HashingConfig,
    register: str,
    now: datetime,
    suppressed: Collection[Pair] = (),
    policies: Policies | None = None,
) -> Decision:
    """The alerts, registrations and dead letters of a batch, given the index lookup's candidates
    (within the threshold, never an id with itself) and the indexed rows of wanted_ids.
    `register` is all, unique or none (stream.register); `suppressed` holds the pairs reviewers
    judged not duplicates (as pair_of), which never alert; `policies` the banks' (none: every
    bank alerts at hashing.threshold)."""
    policies = policies or Policies(hashing.threshold)
    images = [row for row in batch.images if not is_repeat(row, indexed)]
    found = {**earlier_matches(images, candidates, indexed), **in_batch_matches(images, hashing)}
    matches = {pair: near for pair, near in found.items() if pair_of(*pair) not in suppressed}
    judged = judge(matches, match_banks(images, matches, indexed), policies)
    alerts = [
        {**alert, "threshold": policies.threshold_of(alert["bank"])}
        for alert in alert_list(images, judged.alerts, indexed, hashing, now)
    ]
    return Decision(
        alerts=alerts,
        registrations=registrations(images, {a["image_id"] for a in alerts}, indexed, register),
        dead_letters=[dead_letter(row, now) for row in batch.failed],
        allowed=sorted(judged.allowed),
    )


def first_per_id(rows: Iterable[Row]) -> list[Row]:
    """The rows in stream order, an id seen twice kept at its first."""
    first: dict[str, Row] = {}
    for row in sorted(rows, key=position):
        first.setdefault(row["id"], row)
    return list(first.values())


def position(row: Row) -> tuple[Any, ...]:
    return tuple(row[c] for c in POSITION)


def is_repeat(row: Row, indexed: Mapping[str, Row]) -> bool:
    """Whether the index holds this id from a bank or from an earlier message (not from this very
    message: a replay, or this batch run again)."""
    known = indexed.get(row["id"])
    return known is not None and (known["source_offset"] is None or position(known) < position(row))


def earlier_matches(images: Sequence[Row], candidates: Found, indexed: Mapping[str, Row]) -> Found:
    """The index's candidates that came before their image in the stream, or from a bank."""
    by_id = {row["id"]: row for row in images}
    return {
        (image_id, match_id): near
        for (image_id, match_id), near in candidates.items()
        if image_id in by_id
        # gone from the table since the lookup's snapshot, or its row not committed yet (a writer
        # stopped between the bands and images commits): reported once that row is there
        and match_id in indexed
        and (
            indexed[match_id]["source_offset"] is None
            or position(indexed[match_id]) < position(by_id[image_id])
        )
    }


def in_batch_matches(images: Sequence[Row], hashing: HashingConfig) -> Found:
    """The pairs within the batch, the later image of each matching the earlier (through one of
    its variants with hashing.dihedral, one of the earlier's crops with hashing.crops)."""
    primary, words = hashing.primary, hash_type(hashing.primary).words(hashing.hash_size)
    ids = [row["id"] for row in images]
    if hashing.dihedral or hashing.crops:
        probed, transforms = probes(images, hashing)
        queries = as_words(probed, len(transforms) * words)
        names = [crop_name(share) for share in hashing.crops]
        stored = as_words(
            [
                [*row[hash_column(primary)], *(row.get(crops_column(primary)) or [])]
                for row in images
            ],
            (1 + len(names)) * words,
        )
        return {
            (ids[later], ids[earlier]): near
            for earlier, later, near in near_pairs_variants(
                queries.reshape(len(images), len(transforms), words),
                stored.reshape(len(images), 1 + len(names), words),
                hashing.threshold,
                transforms,
                names,
            )
        }
    hashes = as_words([row[hash_column(hashing.primary)] for row in images], words)
    return {
        (ids[later], ids[earlier]): Near(apart, "identity")
        for earlier, later, apart in near_pairs(hashes, hashing.threshold)
    }


def alert_list(
    images: Sequence[Row],
    matches: Found,
    indexed: Mapping[str, Row],
    hashing: HashingConfig,
    now: datetime,
) -> list[dict[str, Any]]:
    """The alerts of the matches the rule accepts (hashing.rule; all without one), in (image,
    match) order. The match's fields come from the index when it holds it (a bank member sent
    again in the stream is still a bank member), else from the batch."""
    by_id = {row["id"]: row for row in images}
    rule = hashing.match_rule
    alerts = []
    for (image_id, match_id), near in sorted(matches.items()):
        image, match = by_id[image_id], indexed.get(match_id) or by_id[match_id]
        distances = pair_distances(image, match, near, hashing)
        # a crop pair is decided on the primary: the other hashes' crops are not kept
        if rule is None or is_crop(near.transform) or rule.accepts(distances):
            alerts.append(alert(image, match, near, distances, hashing, now))
    return alerts


def pair_distances(
    image: Row, match: Row, near: Near, hashing: HashingConfig
) -> dict[str, int | None]:
    """Every configured hash's distance between the match and the image turned back by
    near.transform (the image's variant that matched): a type without variants compares as it is.
    A crop pair has the primary's distance to the match's crop alone (the others are null)."""
    if is_crop(near.transform):
        return {t: near.distance if t == hashing.primary else None for t in hashing.types}
    return {
        t: distance(t, turned(image, t, near.transform), match[hash_column(t)], hashing.hash_size)
        for t in hashing.types
    }


def turned(row: Row, hash_type: str, transform: str) -> list[int] | None:
    """The row's `hash_type` hash of its image turned by the inverse of `transform`: the variant
    that lines it up with the match."""
    variants = row.get(variants_column(hash_type))
    if transform == "identity" or variants is None:
        return row[hash_column(hash_type)]
    width = len(variants) // len(TRANSFORM_NAMES)
    k = TRANSFORM_NAMES.index(inverse(transform))
    return variants[k * width : (k + 1) * width]


def match_banks(
    images: Sequence[Row], matches: Found, indexed: Mapping[str, Row]
) -> dict[str, str | None]:
    """Each match's bank, from the row its alert would carry (alert_list)."""
    by_id = {row["id"]: row for row in images}
    return {match: (indexed.get(match) or by_id[match])["bank"] for _, match in matches}


def registrations(
    images: Sequence[Row], alerted: Collection[str], indexed: Mapping[str, Row], register: str
) -> list[Row]:
    """The images to add to the index: those it does not hold (all), and only those without a
    match (unique), or none."""
    if register == "none":
        return []
    return [
        row
        for row in images
        if row["id"] not in indexed and not (register == "unique" and row["id"] in alerted)
    ]
