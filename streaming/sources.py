"""From an image reference to its bytes, within the limits of config.sources; no Spark, no Kafka.

A reference is a path or file:// URI that must resolve (symlinks and `..` included) under an allowed
root, an http(s) URL on an allowlisted host, or inline base64 content. Every refusal is a
Rejected with a dead-letter reason, never an exception of another kind.
"""

from __future__ import annotations

import base64
import binascii
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from streaming.config import SourcesConfig
from streaming.errors import Reason, Rejected

HTTP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Sources:
    """The resolved limits; build it once per task, not per image."""

    roots: tuple[Path, ...]
    http_allowlist: frozenset[str]
    max_bytes: int

    @classmethod
    def from_config(cls, config: SourcesConfig) -> Sources:
        return cls(
            roots=tuple(Path(root).resolve() for root in config.allowed_roots),
            http_allowlist=frozenset(host.lower() for host in config.http_allowlist),
            max_bytes=config.max_bytes,
        )

    def read(self, uri: str | None, content: str | None) -> bytes:
        """The image bytes of a reference (exactly one of uri and content is set)."""
        if content is not None:
            return self._decode_content(content)
        assert uri is not None
        parts = urlsplit(uri)
        scheme = parts.scheme.lower()
        if scheme in ("", "file") or (len(scheme) == 1 and os.name == "nt"):
            return self._read_file(unquote(parts.path) if scheme == "file" else uri)
        if scheme in ("http", "https"):
            return self._fetch_http(uri, (parts.hostname or "").lower())
        raise Rejected(
            Reason.DISALLOWED_SCHEME,
            f"URI scheme {scheme!r} is not allowed (file paths and http(s) only)",
        )

    def _decode_content(self, content: str) -> bytes:
        if len(content) > self.max_bytes * 4 // 3 + 4:
            raise Rejected(
                Reason.TOO_MANY_BYTES,
                f"inline content exceeds sources.max_bytes = {self.max_bytes}",
            )
        try:
            return base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError) as e:
            raise Rejected(Reason.BAD_BASE64, f"content is not valid base64: {e}") from None

    def _read_file(self, path_text: str) -> bytes:
        path = Path(path_text)
        # resolve() follows symlinks and removes `..`, so the check below sees where the bytes
        # really are.
        real = path.resolve()
        if not any(real == root or real.is_relative_to(root) for root in self.roots):
            raise Rejected(
                Reason.OUTSIDE_ROOTS,
                f"{path_text} resolves to {real}, outside the allowed roots "
                "(sources.allowed_roots)",
            )
        try:
            size = real.stat().st_size
        except FileNotFoundError:
            raise Rejected(Reason.MISSING_FILE, f"no such file: {path_text}") from None
        except OSError as e:
            raise Rejected(Reason.FETCH_FAILED, f"cannot stat {path_text}: {e.strerror}") from None
        if not real.is_file():
            raise Rejected(Reason.NOT_A_FILE, f"{path_text} is not a regular file")
        if size > self.max_bytes:
            raise Rejected(
                Reason.TOO_MANY_BYTES,
                f"{path_text} has {size} bytes, over sources.max_bytes = {self.max_bytes}",
            )
        try:
            return real.read_bytes()
        except OSError as e:
            raise Rejected(Reason.FETCH_FAILED, f"cannot read {path_text}: {e.strerror}") from None

    def _fetch_http(self, url: str, host: str) -> bytes:
        if host not in self.http_allowlist:
            raise Rejected(
                Reason.DISALLOWED_HOST, f"host {host!r} is not in sources.http_allowlist"
            )
        try:
            with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as response:
                data = response.read(self.max_bytes + 1)
        except (urllib.error.URLError, OSError, ValueError) as e:
            raise Rejected(Reason.FETCH_FAILED, f"cannot fetch {url}: {e}") from None
        if len(data) > self.max_bytes:
            raise Rejected(
                Reason.TOO_MANY_BYTES,
                f"{url} has more than sources.max_bytes = {self.max_bytes} bytes",
            )
        return data
