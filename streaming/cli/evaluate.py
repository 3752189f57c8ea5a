"""`neardup evaluate DIR`: precision and recall of each hash on a labelled sample, without Spark."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from streaming.cli.hash import _types
from streaming.config import Config
from streaming.errors import ConfigError
from streaming.hashing.types import HASH_TYPES, REGISTRY


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="precision, recall, AP and thresholds of each hash on labelled images (no Spark)",
        description=(
            "Hash the labelled images of DIR in this process and report, for each hash type and "
            "threshold, precision, recall, F1 and the false-positive rate over every pair of "
            "images (a pair is a duplicate when both have one group), the average precision, the "
            "mean average precision, the recall at the largest threshold within --fpr, and the "
            "best rule over two hashes there: pick hashing.threshold and hashing.rule from it. "
            "Writes evaluation.md and evaluation.png to --output; prints the table. Pairs grow "
            "as the square of the images: a few thousand images take seconds."
        ),
    )
    parser.add_argument("folder", metavar="DIR", type=Path)
    labels = parser.add_mutually_exclusive_group(required=True)
    labels.add_argument(
        "--truth", metavar="FILE", type=Path, help="CSV of path,group (paths relative to DIR)"
    )
    labels.add_argument(
        "--truth-from-folders",
        action="store_true",
        help="each image's group is its folder (images directly in DIR stand alone)",
    )
    parser.add_argument(
        "--types",
        type=_types,
        help=f"comma-separated, of: {', '.join(HASH_TYPES)} (default: hashing.types)",
    )
    parser.add_argument(
        "--fpr", type=float, default=0.001, help="false-positive rate goal (default: 0.001)"
    )
    parser.add_argument(
        "--output", type=Path, default=Path("evaluation"), help="folder (default: ./evaluation)"
    )
    parser.add_argument("--no-plot", action="store_true", help="skip the PNG")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, config: Config) -> int:
    import numpy as np

    from streaming import evaluation
    from streaming.hashing import HashSpec, hash_images, hex_to_words

    if not args.folder.is_dir():
        raise ConfigError(f"{args.folder} is not a folder")
    truth = (
        evaluation.truth_from_folders(args.folder)
        if args.truth_from_folders
        else evaluation.truth_from_csv(args.folder, args.truth)
    )
    hashing = config.hashing
    # Hashes of one fixed width, compared bit by bit (not whash-db4, not crop-resistant's segments).
    fixed = [t for t in (args.types or hashing.types) if REGISTRY[t].bits is not None]
    types = [t for t in fixed if not REGISTRY[t].segmented]
    spec = HashSpec(
        types=tuple(types),
        hash_size=hashing.hash_size,
        max_pixels=config.sources.max_pixels,
        dihedral=hashing.dihedral,
        unletterbox=hashing.unletterbox,
        crops=tuple(hashing.crops),  # of every type evaluated: each curve is that type's as primary
    )
    paths = list(truth)
    results = hash_images([p.read_bytes() for p in paths], spec)
    bad = [(p, r.error) for p, r in zip(paths, results, strict=True) if r.error]
    for path, error in bad:
        print(f"skipped {path}: {error.reason}: {error.message}", file=sys.stderr)
    kept = [(p, r) for p, r in zip(paths, results, strict=True) if not r.error]
    if len({truth[p] for p, _ in kept}) == len(kept):
        raise ConfigError("no two images share a group: there is nothing to find")
    groups = [truth[p] for p, _ in kept]
    distances, curves = {}, []
    for hash_type in types:
        variants = [r.variants.get(hash_type, [r.hashes[hash_type]]) for _, r in kept]
        words = np.array([[hex_to_words(h) for h in v] for v in variants], np.int64)
        crops = np.array(
            [[hex_to_words(h) for h in r.crops.get(hash_type, [])] for _, r in kept], np.int64
        ).reshape(len(kept), len(hashing.crops), words.shape[2])
        distances[hash_type] = evaluation.pair_distances(
            words.view(np.uint64), crops.view(np.uint64)
        )
        bits = REGISTRY[hash_type].width(hashing.hash_size)
        curves.append(evaluation.curve(hash_type, distances[hash_type], groups, bits))
    rules = evaluation.best_rules(distances, groups, args.fpr)
    table = evaluation.markdown(curves, rules, args.fpr)
    args.output.mkdir(parents=True, exist_ok=True)
    header = (
        f"# neardup evaluate {args.folder}\n\n{len(kept)} images in {len(set(groups))} groups"
        f"{f', {len(bad)} unreadable' if bad else ''}; dihedral {hashing.dihedral}, unletterbox "
        f"{hashing.unletterbox}, crops {hashing.crops or 'none'}.\n\n"
    )
    (args.output / "evaluation.md").write_text(header + table)
    if not args.no_plot:
        evaluation.plot(curves, args.output / "evaluation.png")
    print(header + table)
    return 0
