"""`neardup hash PATH...`: hashes as JSON lines, without Spark (it never imports pyspark)."""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from streaming.config import Config
from streaming.hashing import HashSpec, hash_image
from streaming.hashing.types import HASH_TYPES

# The BLAS and OpenMP pools of numpy and OpenCV: one thread per worker process (bench/stream.py
# measured four workers with their own pools at a quarter of the speed on two cores).
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "hash",
        help="print the hashes of image files as JSON lines (no Spark)",
        description=(
            'One JSON line per file, in the order given: {"path": ..., "<type>": "<hex>", ...} in '
            'imagehash\'s hex format, or {"path": ..., "error": {"code": ..., "message": ...}}. '
            "Directories are walked. The exit status is 0 even when some files are bad. With "
            "stdout redirected and stderr a terminal, a progress bar shows on stderr."
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
    parser.add_argument(
        "--jobs",
        type=_positive,
        default=os.cpu_count() or 1,
        metavar="N",
        help="worker processes hashing in parallel (default: every core, here %(default)s)",
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


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def run(args: argparse.Namespace, config: Config) -> int:
    from tqdm import tqdm

    spec = HashSpec(
        types=args.types or tuple(config.hashing.types),
        hash_size=args.hash_size or config.hashing.hash_size,
        exact=config.hashing.exact if args.exact is None else args.exact,
        max_pixels=config.sources.max_pixels,
        grey=config.hashing.grey,
    )
    paths = list(_files(args.paths))
    # A bar only where it cannot mix with the lines: stdout redirected, stderr a terminal.
    quiet = sys.stdout.isatty() or not sys.stderr.isatty()
    lines = hash_files(paths, spec, args.jobs)
    for line in tqdm(lines, total=len(paths), unit="image", disable=quiet):
        print(json.dumps(line), flush=True)
    return 0


def hash_files(paths: list[Path], spec: HashSpec, jobs: int) -> Iterator[dict[str, Any]]:
    """The JSON line of each path, in order, hashed by `jobs` processes (this one when 1)."""
    hash_one = partial(hash_file, spec=spec)
    jobs = min(jobs, len(paths))
    if jobs <= 1:
        yield from map(hash_one, paths)
        return
    # Spawned, not forked: a fork would inherit this process's thread pools (see THREAD_VARIABLES).
    context = multiprocessing.get_context("spawn")
    with _one_thread_each(), ProcessPoolExecutor(jobs, mp_context=context) as pool:
        yield from pool.map(hash_one, paths, chunksize=max(1, min(16, len(paths) // (4 * jobs))))


def hash_file(path: Path, spec: HashSpec) -> dict[str, Any]:
    line: dict[str, Any] = {"path": str(path)}
    try:
        data = path.read_bytes()
    except OSError as e:
        line["error"] = {"code": "missing", "message": f"cannot read {path}: {e.strerror}"}
        return line
    result = hash_image(data, spec)
    if result.error:
        line["error"] = {"code": result.error.reason, "message": result.error.message}
    else:
        line.update(result.hashes)
        line.update(result.extras)
    return line


@contextmanager
def _one_thread_each() -> Iterator[None]:
    """THREAD_VARIABLES set to 1 for the processes spawned meanwhile, as they were after."""
    saved = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    os.environ.update(dict.fromkeys(THREAD_VARIABLES, "1"))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _files(paths: Iterable[str]) -> Iterator[Path]:
    for name in paths:
        path = Path(name)
        yield from (sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path])
