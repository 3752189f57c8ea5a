"""`neardup dedup DIR`: every near-duplicate pair in a folder, as a Spark batch job."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from streaming.config import Config
from streaming.hashing.types import BANDABLE_TYPES


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "dedup",
        help="find the near-duplicate pairs of a folder (Spark batch)",
        description=(
            "Hash every image under DIR (recursively) and find every pair within the threshold with"
            " the stream's index lookup (index.lookup): exactly the pairs a brute-force comparison "
            "of the same hashes finds. As the stream, it applies hashing.unletterbox, "
            "hashing.dihedral (a pair met through a flip or turn says which) and hashing.crops (a "
            "pair met through a central crop says crop20 or uncrop20). Each pair is a JSON line "
            '{"a", "b", "distance", "transform"}, a < b and b = transform(a).'
        ),
    )
    parser.add_argument("dir", metavar="DIR")
    parser.add_argument(
        "--hash", choices=BANDABLE_TYPES, help="hash to compare (default: hashing.primary)"
    )
    parser.add_argument(
        "--threshold", type=int, help="maximum Hamming distance (default: hashing.threshold)"
    )
    parser.add_argument(
        "--output", type=Path, help="write the pairs as JSON lines here (default: stdout)"
    )
    parser.add_argument(
        "--report", type=Path, help="write an HTML page of the duplicate groups here"
    )
    parser.add_argument(
        "--review",
        action="store_true",
        help=(
            "then open the review page over the clusters (on review.host:review.port): choose the "
            "image to keep in each (suggested: the highest resolution, then the sharpest)"
        ),
    )
    parser.add_argument(
        "--remove-list",
        type=Path,
        default=Path("remove.txt"),
        metavar="FILE",
        help="with --review: the files to remove, rewritten at every choice (default: remove.txt)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, config: Config) -> int:
    primary = args.hash or config.hashing.primary
    config = config.replace(
        **{
            "hashing.primary": primary,
            "hashing.types": [primary],
            "hashing.threshold": config.hashing.threshold
            if args.threshold is None
            else args.threshold,
        }
    )
    from streaming.batch.dedup import find_pairs
    from streaming.batch.report import write_report
    from streaming.local.spark import spark_session

    spark = spark_session(config)
    pairs, failed = find_pairs(spark, config, args.dir)
    out = args.output.open("w") if args.output else sys.stdout
    for pair in pairs:
        out.write(json.dumps(pair._asdict()) + "\n")
    if args.output:
        out.close()
    if args.report:
        write_report(
            pairs,
            args.report,
            f"Near-duplicates in {args.dir} ({primary} <= {config.hashing.threshold})",
        )
    print(
        f"{len(pairs)} near-duplicate pairs; {len(failed)} files could not be hashed",
        file=sys.stderr,
    )
    for path, code, message in failed:
        print(f"  {path}: {code} ({message})", file=sys.stderr)
    if args.review:
        spark.stop()  # the page needs no JVM: give its memory back
        review(config, args.dir, [(p.a, p.b, p.distance) for p in pairs], args.remove_list)
    return 0


def review(config: Config, folder: str, pairs: list[tuple[str, str, int]], output: Path) -> None:
    """Serve the clusters page; thumbnails come from the folder and nowhere else."""
    from streaming.review.app import clusters_app
    from streaming.review.clusters import clusters
    from streaming.review.security import access_token
    from streaming.review.serve import serve
    from streaming.sources import Fetcher

    config = config.replace(**{"sources.allowed_roots": [str(Path(folder).resolve())]})
    with Fetcher(config) as fetcher:
        found = clusters(pairs, fetcher, config.sources.max_pixels)
    token = access_token(config.review.token, config.review.host)
    title = f"Near-duplicates in {folder}"
    serve(clusters_app(config, found, output.resolve(), title, token), config, token)
