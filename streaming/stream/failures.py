"""Storage failures of the stream as NeardupErrors that name the path and its key.

A read-only or unwritable folder is found before Spark starts (`check_writable`). A disk that
fills up while a micro-batch registers surfaces later, as a py4j or Spark exception whose text
carries the operating system's error (Java's IOException "No space left on device" inside a task
failure, inside the foreachBatch failure, inside the query's). `storage_failure` reads that text:
the batch was not committed (Delta commits a batch in one file, after its data files), so the same
command resumes it once the cause is fixed.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

from streaming.errors import ExitCode, NeardupError

# The operating system's error texts (strerror), as Java and Python quote them, and Hadoop's own
# for a folder it could not create (its local filesystem gives no reason).
DISK_FULL = ("No space left on device", "Disk quota exceeded")
NOT_WRITABLE = (
    "Read-only file system",
    "Permission denied",
    "Operation not permitted",
    "Mkdirs failed to create",
)


def check_writable(paths: Mapping[str, str]) -> None:
    """Each local path of {key: path}, or the folder it would be created in, must take a new
    file. Object store URIs are left to their client."""
    for key, path in paths.items():
        local = local_path(path)
        if local is None:
            continue
        folder = next(p for p in (local, *local.parents) if p.exists())
        try:
            tempfile.TemporaryFile(dir=folder).close()
        except OSError as e:
            raise _error(key, local, e.strerror or str(e)) from e


def storage_failure(error: BaseException, paths: Mapping[str, str]) -> NeardupError | None:
    """The NeardupError of a failure to write one of {key: path} for lack of space or permission,
    or None when the error is something else."""
    text = "\n".join(str(e) for e in _chain(error))
    reason = next((r for r in (*DISK_FULL, *NOT_WRITABLE) if r in text), None)
    if reason is None:
        return None
    located: list[tuple[str, Path | None]] = [
        (key, local)
        for key, path in paths.items()
        if (local := local_path(path)) is not None and str(local) in text
    ]
    if not located and len(paths) == 1:  # the one path written, where the error names none
        ((key, path),) = paths.items()
        located = [(key, local_path(path))]
    key, local = located[0] if located else (" or ".join(paths), None)
    return _error(key, local, reason)


@contextmanager
def storage_errors(paths: Mapping[str, str]) -> Iterator[None]:
    """Raise storage_failure's NeardupError in place of an exception it recognizes."""
    try:
        yield
    except Exception as e:
        failure = storage_failure(e, paths)
        if failure is None:
            raise
        raise failure from e


def local_path(path: str) -> Path | None:
    """The absolute local path of a path or file: URI; None for another scheme (s3a://, ...)."""
    parsed = urlparse(path)
    if parsed.scheme not in ("", "file"):
        return None
    # Made absolute as Hadoop does, without resolving links, so that it matches Java's messages.
    return Path(os.path.abspath(parsed.path if parsed.scheme else path))


def _error(key: str, path: Path | None, reason: str) -> NeardupError:
    where = f"{path} ({key})" if path else key
    if reason in DISK_FULL:
        return NeardupError(
            f"{reason} writing to {where}; the batch was not committed\n"
            "free space there, then run the same command: it resumes the batch",
            ExitCode.DISK_FULL,
        )
    return NeardupError(
        f"cannot write to {where}: {reason}\nmake it writable, or set {key} to a folder that is",
        ExitCode.NOT_WRITABLE,
    )


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: BaseException | None = error
    while seen is not None:
        yield seen
        seen = seen.__cause__ or seen.__context__
