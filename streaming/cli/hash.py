"""`neardup hash PATH...`: hashes as JSON lines, without Spark (it never imports pyspark)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from streaming.config import HASH_TYPES, Config


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "hash",
        help="print the hashes of image files as JSON lines (no Spark)",
        description=(
            'One JSON line per file: {"path": ..., "<type>": "<hex>", ...} in imagehash\'s hex '
            'format, or {"path": ..., "error": {"code": ..., "message": ...}}. Directories are '
            "walked. The exit status is 0 even when some files are bad."
        ),
    )
    parser.add_argument("paths", nargs="+", metavar="PATH")
    parser.add_argument(
        "--types",
        type=_types,
        help=f"comma-separated, of: {', '.join(HASH_TYPES)} (default: hashing.types)",
    )
    parser.add_argument("--hash-size", type=int, choices=(8, 16), help="default: hashing.hash_size")
    parser.add_argument(
        "--exact", action="store_true", default=None, help="bit for bit as imagehash (slower)"
    )
    parser.set_defaults(func=run)


def _types(text: str) -> tuple[str, ...]:
    types = tuple(t.strip() for t in text.split(",") if t.strip())
    unknown = [t for t in types if t not in HASH_TYPES]
    if unknown or not types:
        raise argparse.ArgumentTypeError(
            f"unknown hash type(s) {unknown}; known: {', '.join(HASH_TYPES)}"
        )
    return types


def run(args: argparse.Namespace, config: Config) -> int:
    from streaming.hashing import HashSpec, hash_image

    spec = HashSpec(
        types=args.types or tuple(config.hashing.types),
        hash_size=args.hash_size or config.hashing.hash_size,
        exact=config.hashing.exact if args.exact is None else args.exact,
        max_pixels=config.sources.max_pixels,
        grey=config.hashing.grey,
    )
    for path in _files(args.paths):
        line: dict = {"path": str(path)}
        try:
            data = path.read_bytes()
        except OSError as e:
            line["error"] = {"code": "missing", "message": f"cannot read {path}: {e.strerror}"}
        else:
            result = hash_image(data, spec)
            if result.error:
                line["error"] = {"code": result.error.reason, "message": result.error.message}
            else:
                line.update(result.hashes)
                if result.pdq_quality is not None:
                    line["pdq_quality"] = result.pdq_quality
        print(json.dumps(line), flush=True)
    return 0


def _files(paths: list[str]):
    for name in paths:
        path = Path(name)
        yield from (sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path])
