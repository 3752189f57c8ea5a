"""What the banks' policies (the `banks` table, index/banks.py) make of a micro-batch's matches:
pure functions, no Spark, no Delta.

A match belongs to the bank of the image it matched (none: an image the stream saw earlier, held to
hashing.threshold). A bank without a policy alerts at hashing.threshold. Its policy may
- disable it: its members match nothing, until it is enabled again;
- tighten its threshold: its members match within it (the bands reach no further than
  hashing.threshold, so a larger one is held to that; the lookup always runs at it);
- make it an allow bank: an image within an allow member's threshold raises no alert at all,
  against any bank or earlier image; it is counted as allowed.
Each rule reads only the pair and its bank, so the answer is the same whatever the batching.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from streaming.index.banks import BankPolicy
from streaming.index.variants import Found


@dataclass(frozen=True)
class Policies:
    """Every bank's policy, and the global threshold."""

    threshold: int  # hashing.threshold
    banks: Mapping[str, BankPolicy] = field(default_factory=dict)

    def of(self, bank: str | None) -> BankPolicy | None:
        """The policy of a bank (its default when it has no row); None for no bank."""
        if bank is None:
            return None
        return self.banks.get(bank) or BankPolicy(bank)

    def threshold_of(self, bank: str | None) -> int:
        policy = self.of(bank)
        if policy is None or policy.threshold is None:
            return self.threshold
        return min(policy.threshold, self.threshold)

    def matches(self, bank: str | None, apart: int) -> bool:
        """Whether a member of `bank` (None: a stream image) at distance `apart` is a match."""
        policy = self.of(bank)
        return (policy is None or policy.enabled) and apart <= self.threshold_of(bank)

    def allows(self, bank: str | None) -> bool:
        policy = self.of(bank)
        return policy is not None and policy.kind == "allow"


@dataclass(frozen=True)
class Judged:
    alerts: Found  # the pairs that alert
    allowed: frozenset[str]  # the images an allow bank silenced


def judge(matches: Found, bank_of: Mapping[str, str | None], policies: Policies) -> Judged:
    """The pairs (image, match) that alert under the policies, `bank_of` giving each match's bank;
    and the images within an allow member's threshold, whose pairs all stay silent."""
    kept = {
        pair: near
        for pair, near in matches.items()
        if policies.matches(bank_of[pair[1]], near.distance)
    }
    allowed = frozenset(image for image, match in kept if policies.allows(bank_of[match]))
    return Judged(
        # an allow member's pair makes its image allowed: it never alerts itself
        alerts={pair: near for pair, near in kept.items() if pair[0] not in allowed},
        allowed=allowed,
    )
