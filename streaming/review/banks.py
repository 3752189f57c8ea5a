"""A reviewer's "duplicate, add to bank": the matched image becomes a member of the bank chosen on
the page, so that its future near-duplicates alert against that bank."""

from __future__ import annotations

import pyarrow as pa
from deltalake import DeltaTable
from deltalake.exceptions import CommitFailedError

COMMIT_ATTEMPTS = 5  # the stream appends to `images` meanwhile: a commit may lose the race


def add_to_bank(images_path: str, image_id: str, bank: str) -> bool:
    """Put an indexed image without a bank into `bank` (one Delta commit on `images`); False when
    the index has no such image or it already belongs to a bank (moving members between banks is
    an operator's job, not a click)."""
    if not DeltaTable.is_deltatable(images_path):
        return False
    # The values travel as a table, never spliced into the merge's SQL.
    source = pa.table({"id": [image_id], "bank": [bank]})
    for attempt in range(COMMIT_ATTEMPTS):
        try:
            metrics = (
                DeltaTable(images_path)
                .merge(source, "t.id = s.id", source_alias="s", target_alias="t")
                .when_matched_update({"bank": "s.bank"}, predicate="t.bank IS NULL")
                .execute()
            )
        except CommitFailedError:
            if attempt == COMMIT_ATTEMPTS - 1:
                raise
            continue
        return metrics["num_target_rows_updated"] > 0
    return False
