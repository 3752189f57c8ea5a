"""Reading files and objects (S3, GCS, Azure) through obstore, the Rust object_store bindings:
one GET per image, retried by obstore itself (timeouts, 5xx, throttling), errors mapped to
dead-letter reasons."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import obstore
from obstore.exceptions import PermissionDeniedError, UnauthenticatedError

from streaming.errors import Reason, Rejected
from streaming.sources.policy import Location
from streaming.storage import first_line

if TYPE_CHECKING:
    from obstore.store import ObjectStore


async def read_object(store: ObjectStore, location: Location, max_bytes: int) -> bytes:
    """The bytes of a file or object, refused before its body is read when it is larger than
    max_bytes (the store states the size)."""
    try:
        result = await obstore.get_async(store, location.path)
        size = result.meta["size"]
        if size > max_bytes:
            raise Rejected(
                Reason.TOO_MANY_BYTES,
                f"{location.uri} has {size} bytes, over sources.max_bytes = {max_bytes}",
            )
        return bytes(await result.bytes_async())
    except FileNotFoundError:
        if location.kind == "file" and os.path.isdir(location.path):
            raise Rejected(Reason.NOT_A_FILE, f"{location.uri} is not a regular file") from None
        raise Rejected(Reason.MISSING_FILE, f"no such file or object: {location.uri}") from None
    except (PermissionDeniedError, UnauthenticatedError) as e:
        raise Rejected(Reason.FORBIDDEN, f"{location.uri}: {first_line(e)}") from None
    except Rejected:
        raise
    except Exception as e:  # obstore's GenericError and I/O errors, after its own retries
        message = f"cannot read {location.uri}: {first_line(e)}"
        raise Rejected(Reason.FETCH_FAILED, message) from None
