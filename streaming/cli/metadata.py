"""`--meta KEY=VALUE` (repeatable), the free metadata `index add` and `produce` give their images:
a JSON object of strings, carried by every alert against the image (schemas/image_ref.schema.json's
`meta`)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def meta_item(text: str) -> tuple[str, str]:
    """One `--meta` argument as (key, value); argparse turns the refusal into a usage error."""
    key, equals, value = text.partition("=")
    if not equals or not key.strip():
        raise argparse.ArgumentTypeError(f"--meta takes KEY=VALUE, not {text!r}")
    return key.strip(), value


def add_meta_argument(parser: argparse.ArgumentParser, whose: str) -> None:
    parser.add_argument(
        "--meta",
        type=meta_item,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"metadata of {whose}, carried by their alerts (repeatable; values are strings; "
        "a key given twice keeps its last value)",
    )


def meta_object(items: Sequence[tuple[str, str]]) -> dict[str, str] | None:
    """The `--meta` arguments as one object (None when there are none)."""
    return dict(items) or None
