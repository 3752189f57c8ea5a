"""The micro-batch decision without Spark or Kafka: examples, and Hypothesis properties over
generated streams (repeated ids, bank members, bad messages, empty and all-bad batches) run
through a model of the index (a dict, searched exhaustively)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from streaming.config import HashingConfig, load_config
from streaming.errors import Reason
from streaming.hashing.dihedral import TRANSFORM_NAMES, inverse
from streaming.index.banks import BankPolicy
from streaming.index.crops import crop_name, entry_key
from streaming.index.distance import distance
from streaming.schemas import validator
from streaming.stream.decision import (
    Batch,
    Decision,
    candidates,
    decide,
    indexed_columns,
    position,
    wanted_ids,
)
from streaming.stream.policies import Policies
from streaming.stream.records import ORIGINAL_CHARS, Row, as_json, match_row

HASHING = load_config(
    environ={},
    overrides={
        "hashing.types": ["phash", "dhash"],
        "hashing.primary": "phash",
        "hashing.hash_size": 8,
        "hashing.threshold": 6,
    },
).hashing
DIHEDRAL = HASHING.model_copy(update={"dihedral": True})
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
# The model's dihedral variants: variant k of a hash h is h ^ TURNS[k], so the image of hash
# h ^ TURNS[k] is h under variant k (far from h itself: 16 bits and more apart).
TURNS = [0, *(0xFFFF << (8 * k - 8) for k in range(1, 8))]
START = datetime(2026, 12, 1, 9, 0)  # naive local time, as Spark collects a TIMESTAMP


def signed(word: int) -> int:
    """A 64-bit word as Spark holds it."""
    word %= 2**64
    return word - 2**64 if word >= 2**63 else word


def image(
    image_id: str,
    phash: int,
    offset: int,
    partition: int = 0,
    seconds: int | None = None,
    bank: str | None = None,
    meta: dict | None = None,
    dhash: int | None = None,
) -> Row:
    """An ingested row that hashed; its dhash is phash ^ 0xFF unless given."""
    dhash = phash ^ 0xFF if dhash is None else dhash
    return {
        "key": image_id,
        "id": image_id,
        "bank": bank,
        "uri": f"/photos/{image_id}.jpg",
        "meta": None if meta is None else json.dumps(meta),
        "phash": [phash],
        "dhash": [dhash],
        "phash_variants": [signed(phash ^ turn) for turn in TURNS],
        "dhash_variants": [signed(dhash ^ turn) for turn in TURNS],
        "pdq_quality": None,
        "error_code": None,
        "error_message": None,
        "value": None,
        "source_topic": "images",
        "source_partition": partition,
        "source_offset": offset,
        "source_timestamp": START + timedelta(seconds=offset if seconds is None else seconds),
    }


def failed(offset: int, reason: Reason, value: str = "{", partition: int = 0) -> Row:
    """An ingested row that failed."""
    return {
        **image("", 0, offset, partition),
        "id": None,
        "key": f"k{offset}",
        "phash": None,
        "dhash": None,
        "phash_variants": None,
        "dhash_variants": None,
        "error_code": reason.value,
        "error_message": f"{reason.value} at {offset}",
        "value": value,
    }


def bank_member(image_id: str, phash: int, bank: str = "known", meta: dict | None = None) -> Row:
    """An indexed row registered outside the stream: no position."""
    unplaced = dict.fromkeys(("source_topic", "source_partition", "source_offset"))
    return {**image(image_id, phash, 0, bank=bank, meta=meta), **unplaced, "source_timestamp": None}


@dataclass
class Index:
    """A model of the Delta index and its lookup: rows by id, searched exhaustively."""

    rows: dict[str, Row] = field(default_factory=dict)
    hashing: HashingConfig = HASHING
    policies: Policies | None = None  # the banks' (none: every bank at hashing.threshold)

    def near(self, ids: Sequence[str], hashes: Sequence[Sequence[int]], threshold: int) -> dict:
        return {
            (query, key): apart
            for query, hashed in zip(ids, hashes, strict=True)
            for key, stored in self.entries()
            if key != query and (apart := distance("phash", hashed, stored, 8)) <= threshold
        }

    def entries(self) -> list[tuple[str, list[int]]]:
        """Each row's hash under its id and, with hashing.crops, each crop as a lookup keys it."""
        own = [(indexed, row["phash"]) for indexed, row in self.rows.items()]
        names = [crop_name(share) for share in self.hashing.crops]
        crops = [
            (entry_key(indexed, name), [row["phash_crops"][k]])
            for indexed, row in self.rows.items()
            for k, name in enumerate(names)
        ]
        return own + crops

    def decide(self, rows: Sequence[Row], register: str = "all") -> Decision:
        """One micro-batch as MicroBatch runs it, then its registration."""
        batch = Batch.of(rows)
        found = candidates(batch, self.hashing, self.near)
        columns = indexed_columns(self.hashing)
        indexed = {
            i: {c: self.rows[i][c] for c in columns}
            for i in wanted_ids(batch, found)
            if i in self.rows
        }
        decision = decide(
            batch, found, indexed, self.hashing, register, NOW, policies=self.policies
        )
        for row in decision.registrations:
            assert row["id"] not in self.rows, f"{row['id']} registered twice"
            self.rows[row["id"]] = row
        return decision

    def run(self, stream: Sequence[Row], cuts: Sequence[int] = ()) -> list[Decision]:
        return [self.decide(batch) for batch in in_batches(stream, cuts)]


def in_batches(stream: Sequence[Row], cuts: Sequence[int]) -> list[list[Row]]:
    """The stream in micro-batches, cut at these places of its stream order."""
    ordered = sorted(stream, key=position)
    bounds = [0, *sorted(set(cuts)), len(ordered)]
    return [ordered[start:stop] for start, stop in itertools.pairwise(bounds)]


def alert_ids(decisions: Sequence[Decision]) -> set[tuple[str, int]]:
    return {(a["alert_id"], a["distance"]) for d in decisions for a in d.alerts}


def placed(source: dict) -> tuple:
    """A source's place in stream order."""
    return source["timestamp"], source["partition"], source["offset"]


# --- examples ---


def test_an_empty_batch_decides_nothing():
    assert Index().decide([]) == Decision([], [], [])


def test_an_all_bad_batch_gives_only_its_dead_letters():
    rows = [failed(n, reason) for n, reason in enumerate(Reason)]
    decision = Index().decide(rows)
    assert (decision.alerts, decision.registrations) == ([], [])
    assert [d["reason"] for d in decision.dead_letters] == [r.value for r in Reason]


def test_a_single_image_is_registered_without_alerts():
    index = Index()
    decision = index.decide([image("a", 0, 0)])
    assert decision.alerts == []
    assert [r["id"] for r in decision.registrations] == ["a"] == list(index.rows)


def test_the_later_image_of_a_pair_alerts_in_the_batch_and_across_batches():
    for cuts in ([], [1]):
        decisions = Index().run([image("b", 0b111, 1), image("a", 0, 0)], cuts)
        alerts = [a for d in decisions for a in d.alerts]
        assert [(a["image_id"], a["match_id"], a["distance"]) for a in alerts] == [("b", "a", 3)]
        assert alerts[0]["match_source"]["offset"] == 0


def test_a_bank_member_matches_whatever_its_time_and_its_id_sent_again_is_a_repeat():
    index = Index({"k": bank_member("k", 0b1)})
    decision = index.decide([image("k", 0b1, 0), image("a", 0, 1)])
    assert [(a["image_id"], a["match_id"], a["bank"]) for a in decision.alerts] == [
        ("a", "k", "known")
    ]
    assert decision.alerts[0]["match_source"] is None
    assert [r["id"] for r in decision.registrations] == ["a"]


def test_only_ids_already_indexed_register_nothing_and_alert_as_before():
    index = Index()
    first = index.run([image("a", 0, 0), image("b", 1, 1)])
    again = index.run([image("a", 0, 0), image("b", 1, 1)])  # the same batch run again
    assert again[0].registrations == []
    assert again[0].alerts == first[0].alerts


def test_a_repeated_id_is_neither_alerted_nor_registered_again():
    index = Index()
    index.run([image("a", 0, 0), image("b", 0b1, 1)])
    decision = index.decide([image("a", 0b11, 2)])  # "a" sent again, later
    assert (decision.alerts, decision.registrations) == ([], [])


def test_a_pair_reviewers_judged_not_a_duplicate_never_alerts_and_still_registers():
    index = Index({"k": bank_member("k", 0b1)})
    batch = Batch.of([image("b", 0b111, 1), image("a", 0, 0), image("c", 0b11, 2)])
    found = candidates(batch, HASHING, index.near)
    indexed = {i: index.rows[i] for i in wanted_ids(batch, found) if i in index.rows}
    # reviewers' pairs are unordered (decisions.pair_of): one within the batch, one with the bank
    suppressed = {("a", "b"), ("c", "k")}
    decision = decide(batch, found, indexed, HASHING, "all", NOW, suppressed=suppressed)
    pairs = {(a["image_id"], a["match_id"]) for a in decision.alerts}
    assert pairs == {("a", "k"), ("b", "k"), ("c", "a"), ("c", "b")}
    assert [r["id"] for r in decision.registrations] == ["a", "b", "c"]


def test_register_unique_and_none():
    rows = [image("a", 0, 0), image("b", 1, 1), image("c", -1, 2)]
    assert [r["id"] for r in Index().decide(rows, "unique").registrations] == ["a", "c"]
    assert Index().decide(rows, "none").registrations == []


def test_alerts_carry_both_metas_and_validate_against_the_schema():
    rows = [
        image("a", 0, 0, meta={"shop": "s1"}),
        image("b", 1, 1, meta={"camera": "x", "tags": [1, 2]}),
    ]
    (alert,) = Index().decide(rows).alerts
    assert alert["image_meta"] == {"camera": "x", "tags": [1, 2]}
    assert alert["match_meta"] == {"shop": "s1"}
    assert alert["distances"] == {"phash": 1, "dhash": 1}
    document = json.loads(as_json(alert))
    validator("duplicate_alert").validate(document)
    assert (
        document["image_source"]["timestamp"]
        == (START + timedelta(seconds=1)).astimezone(UTC).isoformat()
    )


def test_an_alert_against_a_bank_member_carries_the_members_meta():
    index = Index(rows={"k": bank_member("k", 0, meta={"case": "c-17"})})
    (alert,) = index.decide([image("b", 1, 1)]).alerts
    assert (alert["match_id"], alert["match_meta"], alert["image_meta"]) == (
        "k",
        {"case": "c-17"},
        None,
    )
    validator("duplicate_alert").validate(json.loads(as_json(alert)))
    row = match_row(alert, "w", 0)
    assert (row["match_meta"], row["image_meta"]) == ('{"case":"c-17"}', None)


def test_dead_letters_are_keyed_by_their_source_and_bounded():
    huge = "x" * (ORIGINAL_CHARS + 10)
    rows = [failed(5, Reason.MESSAGE_TOO_LARGE, huge), failed(5, Reason.NOT_UTF8, partition=1)]
    letters = Index().decide(rows).dead_letters
    again = Index().decide(list(reversed(rows))).dead_letters
    assert {d["dead_letter_id"] for d in letters} == {d["dead_letter_id"] for d in again}
    assert len({d["dead_letter_id"] for d in letters}) == 2
    big = next(d for d in letters if d["reason"] == "message_too_large")
    assert big["original"] == {"key": "k5", "value": huge[:ORIGINAL_CHARS], "truncated": True}
    for letter in letters:
        validator("dead_letter").validate(json.loads(as_json(letter)))


def test_a_turned_copy_alerts_with_its_transform_only_with_dihedral_matching():
    turned = 5  # the copy's variant 5 (rot90) is the original: the copy is the original turned back
    stream = [image("a", 0b1, 0), image("b", 0b111 ^ TURNS[turned], 1)]
    for cuts in ([], [1]):
        alerts = [a for d in Index(hashing=DIHEDRAL).run(stream, cuts) for a in d.alerts]
        assert [(a["image_id"], a["match_id"], a["distance"], a["transform"]) for a in alerts] == [
            ("b", "a", 2, inverse(TRANSFORM_NAMES[turned]))
        ]
        assert alerts[0]["transform"] == "rot270"
        # dhash compared under the same transform; phash is the variant's distance
        assert alerts[0]["distances"] == {"phash": 2, "dhash": 2}
        validator("duplicate_alert").validate(json.loads(as_json(alerts[0])))
        assert all(d.alerts == [] for d in Index().run(stream, cuts))


def test_the_identity_wins_a_tie_and_alerts_without_dihedral_say_identity():
    stream = [image("a", 0, 0), image("b", 0b1, 1)]
    for hashing in (HASHING, DIHEDRAL):
        (alert,) = Index(hashing=hashing).decide(stream).alerts
        assert (alert["transform"], alert["distance"]) == ("identity", 1)


CROPS = HASHING.model_copy(update={"crops": [0.1, 0.2]})
CROP10, CROP20 = 0x3333_3333_3333_3333, 0x5555_5555_5555_5555  # far from 0 and from each other
FAR = (0x0F0F_0F0F_0000_0000, 0x00FF_00FF_0000_0000)  # crops far from every hash here


def with_crops(row: Row, *crops: int) -> Row:
    """An ingested row with its crop hashes (hashing.crops's order)."""
    return {**row, "phash_crops": [signed(crop) for crop in crops]}


def test_a_crop_of_an_earlier_image_alerts_with_its_crop_only_with_crops():
    original = with_crops(image("a", 0, 0), CROP10, CROP20)
    cut = with_crops(image("b", CROP20 ^ 0b11, 1), *FAR)
    for cuts in ([], [1]):
        alerts = [a for d in Index(hashing=CROPS).run([original, cut], cuts) for a in d.alerts]
        assert [(a["image_id"], a["match_id"], a["distance"], a["transform"]) for a in alerts] == [
            ("b", "a", 2, "crop20")
        ]
        # only the primary's crops are kept: the other hashes cannot be compared
        assert alerts[0]["distances"] == {"phash": 2, "dhash": None}
        validator("duplicate_alert").validate(json.loads(as_json(alerts[0])))
        assert all(d.alerts == [] for d in Index().run([original, cut], cuts))
        # a crop pair is decided on the primary alone: the rule does not apply to it
        ruled = Index(hashing=with_rule(CROPS, "phash <= 6 and dhash <= 0")).run([original, cut])
        assert [a["transform"] for d in ruled for a in d.alerts] == ["crop20"]


def test_an_image_after_its_crop_meets_it_through_its_own_crop_and_the_identity_wins_a_tie():
    cut = with_crops(image("a", CROP20 ^ 0b1, 0), *FAR)
    original = with_crops(image("b", 0, 1), CROP10, CROP20)
    for cuts in ([], [1]):
        alerts = [a for d in Index(hashing=CROPS).run([cut, original], cuts) for a in d.alerts]
        # the match, a, is b's crop20: b's crops probe the index too
        assert [(a["image_id"], a["match_id"], a["distance"], a["transform"]) for a in alerts] == [
            ("b", "a", 1, "uncrop20")
        ]
        validator("duplicate_alert").validate(json.loads(as_json(alerts[0])))
    # b's hash is 1 bit from a's and from a's crop10: the identity comes first
    a = with_crops(image("a", 0, 0), 0b11, CROP20)
    (alert,) = Index(hashing=CROPS).decide([a, with_crops(image("b", 0b1, 1), *FAR)]).alerts
    assert (alert["transform"], alert["distance"]) == ("identity", 1)


def test_with_dihedral_matching_too_a_crop_is_met_by_the_image_itself_not_its_turns():
    both = DIHEDRAL.model_copy(update={"crops": [0.1, 0.2]})
    original = with_crops(image("a", 0, 0), CROP10, CROP20)
    cut = with_crops(image("b", CROP10 ^ 0b1, 1), *FAR)
    turned = with_crops(image("c", CROP20 ^ TURNS[3], 2), *FAR)  # its variant 3 is a's crop20
    for cuts in ([], [1], [2]):
        alerts = [
            a for d in Index(hashing=both).run([original, cut, turned], cuts) for a in d.alerts
        ]
        assert {(a["image_id"], a["match_id"], a["transform"]) for a in alerts} == {
            ("b", "a", "crop10")
        }


def with_rule(hashing: HashingConfig, *rule: str) -> HashingConfig:
    return hashing.model_copy(update={"rule": list(rule)})


RULE = ("phash <= 2", "phash <= 6 and dhash <= 1")


def test_a_pair_within_the_threshold_alerts_only_when_the_rule_holds():
    near = image("b", 0b1111, 1, dhash=0xFF ^ 0b1)  # phash 4 apart, dhash 1: the 2nd alternative
    far = image("c", 0b1111 << 8, 2, dhash=0xFF ^ 0b11)  # phash 4, dhash 2: neither
    close = image("d", 0b11 << 16, 3, dhash=0)  # phash 2: the 1st alternative whatever its dhash
    index = Index(hashing=with_rule(HASHING, *RULE))
    decision = index.decide([image("a", 0, 0), near, far, close], register="unique")
    assert [(a["image_id"], a["distances"]) for a in decision.alerts] == [
        ("b", {"phash": 4, "dhash": 1}),
        ("d", {"phash": 2, "dhash": 8}),
    ]
    # a pair the rule refuses is no duplicate: its image is registered as unique
    assert [r["id"] for r in decision.registrations] == ["a", "c"]
    plain = Index().decide([image("a", 0, 0), near, far, close])
    assert {("b", "a"), ("c", "a"), ("d", "a")} <= alert_pairs([plain])


def test_the_rule_reads_the_distances_under_the_matched_transform():
    copy = image("b", 0b1111 ^ TURNS[3], 1, dhash=(0xFF ^ 0b1) ^ TURNS[3])
    index = Index(hashing=with_rule(DIHEDRAL, *RULE))
    (alert,) = index.decide([image("a", 0, 0), copy]).alerts
    assert (alert["transform"], alert["distances"]) == ("rot180", {"phash": 4, "dhash": 1})


def with_confirm(hashing: HashingConfig, **bounds: int) -> HashingConfig:
    return hashing.model_copy(update={"confirm": bounds})


def test_confirm_adds_its_bounds_to_every_alternative_of_the_rule():
    near = image("b", 0b1111, 1, dhash=0xFF ^ 0b1)  # phash 4, dhash 1
    far = image("c", 0b1111 << 8, 2, dhash=0xFF ^ 0b11)  # phash 4, dhash 2
    close = image("d", 0b11 << 16, 3, dhash=0)  # phash 2, dhash 8: no longer by its phash alone
    stream = [image("a", 0, 0), near, far, close]
    confirmed = Index(hashing=with_confirm(with_rule(HASHING, *RULE), dhash=1)).decide(stream)
    ruled = Index(hashing=with_rule(HASHING, "phash <= 2 and dhash <= 1", RULE[1])).decide(stream)
    assert confirmed == ruled
    assert [a["image_id"] for a in confirmed.alerts] == ["b"]
    # without a rule: the threshold and the confirming bound
    (alert,) = Index(hashing=with_confirm(HASHING, dhash=1)).decide(stream).alerts
    assert (alert["image_id"], alert["distances"]) == ("b", {"phash": 4, "dhash": 1})


# --- properties ---

HASHES = [0, 0x0F0F, -1, 0x7000_0000_0000_0000]  # far apart; messages are near copies of these


@st.composite
def streams(draw: st.DrawFn, turns: bool = False) -> list[Row]:
    """Messages with ids from a small pool (so some repeat), near copies of a few hashes (so pairs
    exist), some failed; on 1-3 partitions, timestamps possibly equal across partitions. With
    `turns`, copies are turned too (a hash ^ TURNS[k]) and dhash strays from phash."""
    count = draw(st.integers(0, 14))
    offsets = [0, 0, 0]
    rows = []
    for _ in range(count):
        partition = draw(st.integers(0, 2))
        offset = offsets[partition]
        offsets[partition] += 1
        seconds = draw(st.integers(0, 20))
        if draw(st.integers(0, 4)) == 0:
            rows.append(failed(offset, draw(st.sampled_from(Reason)), partition=partition))
            rows[-1]["source_timestamp"] = START + timedelta(seconds=seconds)
            continue
        phash = draw(st.sampled_from(HASHES)) % 2**64
        for bit in draw(st.lists(st.integers(0, 63), max_size=4)):
            phash ^= 1 << bit
        dhash = phash ^ 0xFF
        if turns:
            turn = TURNS[draw(st.integers(0, 7))]
            phash, dhash = phash ^ turn, dhash ^ turn ^ draw(st.integers(0, 7))
        image_id = f"i{draw(st.integers(0, 9))}"
        # signed words, as Spark holds them
        rows.append(image(image_id, signed(phash), offset, partition, seconds, dhash=signed(dhash)))
    return rows


@st.composite
def banks(draw: st.DrawFn) -> dict[str, Row]:
    """Up to two bank members, with ids that the stream may send too."""
    members = draw(st.lists(st.sampled_from(HASHES), max_size=2))
    return {i: bank_member(i, h) for i, h in zip(("i9", "i0"), members, strict=False)}


cuts = st.lists(st.integers(0, 14), max_size=5)


@settings(max_examples=150, deadline=None)
@given(stream=streams(), bank=banks(), cut=cuts)
def test_matches_are_earlier_or_bank_members_and_never_the_image_itself(stream, bank, cut):
    index = Index(dict(bank))
    for decision in index.run(stream, cut):
        for alert in decision.alerts:
            assert alert["image_id"] != alert["match_id"]
            if alert["match_source"] is None:
                assert alert["match_id"] in bank
            else:
                assert placed(alert["match_source"]) < placed(alert["image_source"])


@settings(max_examples=150, deadline=None)
@given(stream=streams(), bank=banks(), cut=cuts)
def test_alerts_and_index_do_not_depend_on_the_micro_batch_sizes(stream, bank, cut):
    whole, batched = Index(dict(bank)), Index(dict(bank))
    assert alert_ids(whole.run(stream)) == alert_ids(batched.run(stream, cut))
    assert whole.rows.keys() == batched.rows.keys()


@settings(max_examples=150, deadline=None)
@given(stream=streams(), bank=banks(), cut=cuts, replay_cut=cuts)
def test_a_replay_against_the_built_index_gives_the_same_alerts_and_registers_nothing(
    stream, bank, cut, replay_cut
):
    index = Index(dict(bank))
    first = alert_ids(index.run(stream, cut))
    replay = index.run(stream, replay_cut)  # a fresh checkpoint: the index holds later images
    assert alert_ids(replay) == first
    assert all(d.registrations == [] for d in replay)


@settings(max_examples=150, deadline=None)
@given(stream=streams(), bank=banks(), cut=cuts)
def test_a_batch_run_again_after_its_commit_decides_the_same_and_registers_nothing(
    stream, bank, cut
):
    index = Index(dict(bank))
    for batch in in_batches(stream, cut):
        done = index.decide(batch)
        again = index.decide(batch)
        assert alert_ids([again]) == alert_ids([done])
        assert again.registrations == []


@settings(max_examples=150, deadline=None)
@given(stream=streams(), cut=cuts)
def test_every_message_is_dead_lettered_exactly_when_it_failed_and_every_image_indexed(stream, cut):
    index = Index()
    decisions = index.run(stream, cut)
    letters = [letter for decision in decisions for letter in decision.dead_letters]
    bad = sorted((r for r in stream if r["error_code"] is not None), key=position)
    assert [(d["source"]["partition"], d["source"]["offset"], d["reason"]) for d in letters] == [
        (r["source_partition"], r["source_offset"], r["error_code"]) for r in bad
    ]
    assert len({d["dead_letter_id"] for d in letters}) == len(bad)
    assert index.rows.keys() == {r["id"] for r in stream if r["error_code"] is None}


# --- the banks' policies ---


def policies(*banks: BankPolicy) -> Policies:
    return Policies(HASHING.threshold, {bank.name: bank for bank in banks})


def pairs_of(decision: Decision) -> list[tuple[str, str, int]]:
    return [(a["image_id"], a["match_id"], a["distance"]) for a in decision.alerts]


def test_an_allow_bank_silences_every_alert_of_an_image_near_one_of_its_members():
    members = {"logo": bank_member("logo", 0, "stock"), "k": bank_member("k", 0b1, "known")}
    index = Index(members, policies=policies(BankPolicy("stock", kind="allow", threshold=2)))
    # "a" is near the logo (and near "k"): silenced; "b" is 3 from the logo, past the allow
    # bank's threshold, so it alerts against "k" and the earlier "a"
    decision = index.decide([image("a", 0b10, 0), image("b", 0b111, 1)])
    assert decision.allowed == ["a"]
    assert pairs_of(decision) == [("b", "a", 2), ("b", "k", 2)]
    assert {r["id"] for r in decision.registrations} == {"a", "b"}


def test_a_bank_threshold_tightens_the_global_one_and_alerts_carry_it():
    index = Index({"k": bank_member("k", 0b111111)})  # 6 from 0: within the global 6
    assert pairs_of(index.decide([image("a", 0, 0)])) == [("a", "k", 6)]
    index = Index(
        {"k": bank_member("k", 0b111111)}, policies=policies(BankPolicy("known", threshold=4))
    )
    assert index.decide([image("a", 0, 0)]).alerts == []
    (alert,) = index.decide([image("b", 0b1, 1)]).alerts  # 5 from "k", 1 from "a"
    assert (alert["match_id"], alert["threshold"]) == ("a", HASHING.threshold)
    alerts = index.decide([image("c", 0b11111, 2)]).alerts  # 1 from "k"
    assert [(a["match_id"], a["distance"], a["threshold"]) for a in alerts] == [
        ("a", 5, HASHING.threshold),
        ("b", 4, HASHING.threshold),
        ("k", 1, 4),
    ]


def test_a_threshold_above_the_global_one_is_held_to_it():
    bank = policies(BankPolicy("known", threshold=HASHING.threshold + 5))
    assert bank.threshold_of("known") == HASHING.threshold
    index = Index(
        {"k": bank_member("k", 0b1111111)}, policies=bank
    )  # 7 apart: past the bands' reach
    assert index.decide([image("a", 0, 0)]).alerts == []


def test_a_disabled_bank_matches_nothing_until_enabled_again():
    index = Index({"k": bank_member("k", 0)}, policies=policies(BankPolicy("known", enabled=False)))
    assert index.decide([image("a", 0b1, 0)]).alerts == []
    index.policies = policies(BankPolicy("known", enabled=True))
    assert pairs_of(index.decide([image("b", 0b10, 1)])) == [("b", "a", 2), ("b", "k", 1)]


def test_a_disabled_allow_bank_allows_nothing():
    members = {"logo": bank_member("logo", 0, "stock")}
    index = Index(members, policies=policies(BankPolicy("stock", kind="allow", enabled=False)))
    decision = index.decide([image("a", 0b1, 0), image("b", 0b11, 1)])
    assert (decision.allowed, pairs_of(decision)) == ([], [("b", "a", 1)])


def test_a_policy_refuses_an_unknown_kind_and_a_negative_threshold():
    for bad in ({"kind": "block"}, {"threshold": -1}):
        try:
            BankPolicy("x", **bad)
        except ValueError as refused:
            assert "'x'" in str(refused)
        else:
            raise AssertionError(f"{bad} accepted")


@st.composite
def banked(draw: st.DrawFn) -> tuple[dict[str, Row], Policies]:
    """Up to three bank members in banks "known" and "stock", and a policy for each bank (or
    none): any kind, enabled or not, any threshold (even past the global one)."""
    members = draw(st.lists(st.tuples(st.sampled_from(HASHES), st.integers(0, 3)), max_size=3))
    rows = {
        i: bank_member(i, h ^ (2**bits - 1), bank)
        for i, (h, bits), bank in zip(
            ("i9", "i0", "b0"), members, ("known", "stock", "known"), strict=False
        )
    }
    chosen = []
    for name in ("known", "stock"):
        if draw(st.booleans()):
            chosen.append(
                BankPolicy(
                    name,
                    kind=draw(st.sampled_from(("alert", "allow"))),
                    enabled=draw(st.booleans()),
                    threshold=draw(st.one_of(st.none(), st.integers(0, HASHING.threshold + 2))),
                )
            )
    return rows, policies(*chosen)


@settings(max_examples=150, deadline=None)
@given(stream=streams(), bank=banked(), cut=cuts)
def test_policies_drop_exactly_the_alerts_they_rule_out(stream, bank, cut):
    members, rules = bank
    plain, ruled = Index(dict(members)), Index(dict(members), policies=rules)
    unruled = [a for d in plain.run(stream, cut) for a in d.alerts]
    decisions = ruled.run(stream, cut)
    allowed = {
        a["image_id"]
        for a in unruled
        if rules.allows(a["bank"]) and rules.matches(a["bank"], a["distance"])
    }
    assert {i for d in decisions for i in d.allowed} == allowed
    kept = {
        a["alert_id"]
        for a in unruled
        if a["image_id"] not in allowed and rules.matches(a["bank"], a["distance"])
    }
    alerts = [a for d in decisions for a in d.alerts]
    assert {a["alert_id"] for a in alerts} == kept
    for alert in alerts:
        assert alert["distance"] <= alert["threshold"] == rules.threshold_of(alert["bank"])
        assert not rules.allows(alert["bank"])
    assert ruled.rows.keys() == plain.rows.keys()  # registration (all) does not depend on them


@settings(max_examples=150, deadline=None)
@given(stream=streams(), bank=banked(), cut=cuts)
def test_policies_give_the_same_answer_whatever_the_micro_batch_sizes(stream, bank, cut):
    members, rules = bank
    whole, batched = Index(dict(members), policies=rules), Index(dict(members), policies=rules)
    once, cut_up = whole.run(stream), batched.run(stream, cut)
    assert alert_ids(once) == alert_ids(cut_up)
    assert {i for d in once for i in d.allowed} == {i for d in cut_up for i in d.allowed}


def alert_pairs(decisions: Sequence[Decision]) -> set[tuple[str, str]]:
    return {(a["image_id"], a["match_id"]) for d in decisions for a in d.alerts}


def alert_matches(decisions: Sequence[Decision]) -> set[tuple]:
    return {
        (a["alert_id"], a["distance"], a["transform"], tuple(sorted(a["distances"].items())))
        for d in decisions
        for a in d.alerts
    }


@settings(max_examples=150, deadline=None)
@given(stream=streams(turns=True), bank=banks(), cut=cuts)
def test_dihedral_alerts_do_not_depend_on_the_micro_batch_sizes(stream, bank, cut):
    whole, batched = Index(dict(bank), DIHEDRAL), Index(dict(bank), DIHEDRAL)
    assert alert_matches(whole.run(stream)) == alert_matches(batched.run(stream, cut))
    assert whole.rows.keys() == batched.rows.keys()


@settings(max_examples=150, deadline=None)
@given(stream=streams(turns=True), bank=banks(), cut=cuts)
def test_dihedral_matching_keeps_every_pair_and_reports_the_smallest_distance(stream, bank, cut):
    plain = {
        (a["image_id"], a["match_id"]): a["distance"]
        for d in Index(dict(bank)).run(stream, cut)
        for a in d.alerts
    }
    turned = [a for d in Index(dict(bank), DIHEDRAL).run(stream, cut) for a in d.alerts]
    by_pair = {(a["image_id"], a["match_id"]): a for a in turned}
    assert plain.keys() <= by_pair.keys()
    for pair, apart in plain.items():
        assert by_pair[pair]["distance"] <= apart
    for alert in turned:
        assert alert["distance"] == alert["distances"]["phash"] <= DIHEDRAL.threshold
        if alert["match_source"] is not None:
            assert placed(alert["match_source"]) < placed(alert["image_source"])


@settings(max_examples=150, deadline=None)
@given(stream=streams(turns=True), bank=banks(), cut=cuts, dihedral=st.booleans())
def test_the_rule_keeps_exactly_the_alerts_whose_distances_it_accepts(stream, bank, cut, dihedral):
    hashing = DIHEDRAL if dihedral else HASHING
    ruled = with_rule(hashing, *RULE)
    everything = [a for d in Index(dict(bank), hashing).run(stream, cut) for a in d.alerts]
    kept = Index(dict(bank), ruled).run(stream, cut)
    # the same index either way (register = all): the rule drops exactly the alerts it refuses
    rule = ruled.match_rule
    assert rule is not None
    accepted = {(a["image_id"], a["match_id"]) for a in everything if rule.accepts(a["distances"])}
    assert alert_pairs(kept) == accepted


@settings(max_examples=150, deadline=None)
@given(
    stream=streams(turns=True),
    bank=banks(),
    cut=cuts,
    dihedral=st.booleans(),
    bound=st.integers(0, 8),
)
def test_confirm_decides_as_the_rule_it_stands_for(stream, bank, cut, dihedral, bound):
    hashing = DIHEDRAL if dihedral else HASHING
    confirmed = Index(dict(bank), with_confirm(hashing, dhash=bound))
    ruled = Index(
        dict(bank), with_rule(hashing, f"phash <= {hashing.threshold} and dhash <= {bound}")
    )
    assert alert_matches(confirmed.run(stream, cut)) == alert_matches(ruled.run(stream, cut))
