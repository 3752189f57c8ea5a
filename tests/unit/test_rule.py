"""hashing.confirm compiled into the rule (index/rule.match_rule): one decision, not two."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streaming.index.rule import Rule, match_rule


def test_without_a_rule_or_confirm_the_threshold_alone_decides() -> None:
    assert match_rule([], {}, "phash", 10) is None
    assert match_rule(["phash <= 8"], {}, "phash", 10) == Rule.parse("phash <= 8", "phash")


def test_confirm_without_a_rule_bounds_the_primary_by_the_threshold_and_each_confirming_hash():
    rule = match_rule([], {"dhash": 12, "pdq": 31}, "phash", 10)
    assert str(rule) == "phash <= 10 and dhash <= 12 and pdq <= 31"
    assert rule is not None and rule.radius("phash") == 10
    assert rule.accepts({"phash": 10, "dhash": 12, "pdq": 31})
    assert not rule.accepts({"phash": 10, "dhash": 13, "pdq": 0})
    assert not rule.accepts(
        {"phash": 3, "dhash": 0, "pdq": None}
    )  # a missing hash confirms nothing


def test_every_alternative_of_a_rule_gains_the_confirming_bounds() -> None:
    rule = match_rule(["phash <= 4", "phash <= 10 and dhash <= 14"], {"dhash": 12}, "phash", 10)
    assert str(rule) == "phash <= 4 and dhash <= 12 or phash <= 10 and dhash <= 14 and dhash <= 12"
    assert rule == Rule.parse(str(rule), "phash")
    assert not rule.accepts({"phash": 2, "dhash": 13})  # the first alternative is confirmed too
    assert not rule.accepts({"phash": 8, "dhash": 13})
    assert rule.accepts({"phash": 8, "dhash": 12})


distances = st.fixed_dictionaries(
    {
        "phash": st.integers(0, 12),
        "dhash": st.none() | st.integers(0, 20),
        "pdq": st.integers(0, 64),
    }
)


@given(
    distances=distances,
    bound=st.integers(0, 20),
    rule=st.sampled_from([[], ["phash <= 4", "phash <= 10 and pdq <= 40"]]),
)
def test_the_compiled_rule_accepts_what_the_rule_and_the_confirming_bound_both_accept(
    distances: dict[str, int | None], bound: int, rule: list[str]
) -> None:
    compiled = match_rule(rule, {"dhash": bound}, "phash", 10)
    assert compiled is not None
    plain = match_rule(rule, {}, "phash", 10)
    base = distances["phash"] <= 10 if plain is None else plain.accepts(distances)
    dhash = distances["dhash"]
    assert compiled.accepts(distances) == (base and dhash is not None and dhash <= bound)
