"""A match decision over several hashes (hashing.rule), e.g. "phash <= 8 or phash <= 16 and dhash
<= 12": alternatives joined by `or`, each a conjunction of `type <= bound` joined by `and`.

Every alternative must bound the primary hash, so that the banded lookup within the largest of
those bounds finds every pair the rule accepts; the other hashes are then compared exactly.
hashing.confirm (e.g. {dhash = 12}) is no second decision: match_rule compiles it into the rule.
docs/robustness.md measures the rule conf/local.toml suggests, and confirmation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

_TERM = re.compile(r"\s*([a-z][a-z0-9-]*)\s*<=\s*(\d+)\s*")


@dataclass(frozen=True)
class Rule:
    alternatives: tuple[tuple[tuple[str, int], ...], ...]

    @classmethod
    def parse(cls, text: str, primary: str) -> Rule:
        """The rule of `text`; ValueError naming what is wrong."""
        alternatives = []
        for alternative in re.split(r"\bor\b", text):
            terms = []
            for term in re.split(r"\band\b", alternative):
                found = _TERM.fullmatch(term)
                if not found:
                    raise ValueError(f"{term.strip()!r} is not of the form `type <= bound`")
                terms.append((found.group(1), int(found.group(2))))
            if primary not in dict(terms):
                raise ValueError(f"every alternative must bound {primary}: {alternative.strip()!r}")
            alternatives.append(tuple(terms))
        return cls(tuple(alternatives))

    @property
    def types(self) -> set[str]:
        return {hash_type for terms in self.alternatives for hash_type, _ in terms}

    def radius(self, primary: str) -> int:
        """The largest distance of the primary hash the rule can accept: the lookup's threshold."""
        return max(dict(terms)[primary] for terms in self.alternatives)

    def accepts(self, distances: Mapping[str, int | None]) -> bool:
        """Whether some alternative holds (a missing distance holds no term)."""
        return any(
            all((d := distances.get(t)) is not None and d <= bound for t, bound in terms)
            for terms in self.alternatives
        )

    def __str__(self) -> str:
        return " or ".join(
            " and ".join(f"{t} <= {bound}" for t, bound in terms) for terms in self.alternatives
        )


def match_rule(
    rule: Sequence[str], confirm: Mapping[str, int], primary: str, threshold: int
) -> Rule | None:
    """The one decision of hashing.rule and hashing.confirm: each alternative of `rule` (without
    one, `primary <= threshold`) also bounding every confirming hash, so all of them must hold;
    None when both are empty (the threshold alone decides). ValueError as Rule.parse."""
    if not rule and not confirm:
        return None
    parsed = Rule.parse(" or ".join(rule), primary) if rule else Rule((((primary, threshold),),))
    bounds = tuple(confirm.items())
    return Rule(tuple(terms + bounds for terms in parsed.alternatives))
