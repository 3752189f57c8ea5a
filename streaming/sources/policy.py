"""What an image reference may point at: allowed roots, http(s) hosts and network addresses.

Decisions only, no network: a reference becomes a Location or a Rejected with its dead-letter
reason. The one I/O is resolving a local path (symlinks and `..`), so the root check sees where
the bytes really are.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urljoin, urlsplit

from streaming.config import SourcesConfig
from streaming.errors import Reason, Rejected
from streaming.storage import scheme as scheme_of

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Kind = Literal["file", "object", "http"]

# Object-store schemes, each under the name its store is opened with (s3a:// is S3 too).
OBJECT_SCHEMES = {"s3": "s3", "s3a": "s3", "gs": "gs", "az": "az", "abfs": "abfs", "abfss": "abfss"}
HTTP_SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Location:
    """Where an admitted reference's bytes are: a store ("file:///", "s3://bucket", an http
    origin) and the path in it (a file path, an object key, or the whole URL for http)."""

    kind: Kind
    store: str
    path: str
    uri: str  # the reference as the message gave it, for dead-letter messages

    @property
    def host(self) -> str:
        return urlsplit(self.path).hostname or ""


@dataclass(frozen=True)
class UriRoot:
    """An allowed URI prefix: a scheme, an authority and a path that ends at a `/`."""

    scheme: str
    authority: str
    path: str

    @classmethod
    def parse(cls, text: str) -> UriRoot:
        scheme, authority, path = _split(text)
        return cls(scheme, authority, path.rstrip("/") + "/")

    def admits(self, scheme: str, authority: str, path: str) -> bool:
        return (scheme, authority) == (self.scheme, self.authority) and (
            path + "/" == self.path or path.startswith(self.path)
        )


@dataclass(frozen=True)
class Policy:
    """The resolved limits of config.sources; build it once per task, not per image."""

    file_roots: tuple[Path, ...]
    uri_roots: tuple[UriRoot, ...]
    http_hosts: frozenset[str]
    allowed_networks: tuple[IPNetwork, ...]
    max_bytes: int

    @classmethod
    def from_config(cls, config: SourcesConfig) -> Policy:
        is_uri = [scheme_of(root) not in ("", "file") for root in config.allowed_roots]
        return cls(
            file_roots=tuple(
                Path(_file_path(root)).resolve()
                for root, uri in zip(config.allowed_roots, is_uri, strict=True)
                if not uri
            ),
            uri_roots=tuple(
                UriRoot.parse(root)
                for root, uri in zip(config.allowed_roots, is_uri, strict=True)
                if uri
            ),
            http_hosts=frozenset(host.lower() for host in config.http_allowlist),
            allowed_networks=tuple(ipaddress.ip_network(n) for n in config.allowed_networks),
            max_bytes=config.max_bytes,
        )

    def decode(self, content: str) -> bytes:
        """Inline base64 content, within max_bytes."""
        if len(content) > self.max_bytes * 4 // 3 + 4:
            raise Rejected(
                Reason.TOO_MANY_BYTES,
                f"inline content exceeds sources.max_bytes = {self.max_bytes}",
            )
        try:
            return base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError) as e:
            raise Rejected(Reason.BAD_BASE64, f"content is not valid base64: {e}") from None

    def locate(self, uri: str) -> Location:
        """The Location of a reference inside the allowed roots, or why it is refused."""
        scheme = scheme_of(uri)
        if scheme in ("", "file"):
            return self._locate_file(uri)
        if scheme not in OBJECT_SCHEMES and scheme not in HTTP_SCHEMES:
            raise Rejected(
                Reason.DISALLOWED_SCHEME,
                f"URI scheme {scheme!r} is not allowed (paths, file, s3, gs, az, abfss, http(s))",
            )
        scheme, authority, path = _split(uri)
        if _has_dot_segments(path):
            raise Rejected(Reason.OUTSIDE_ROOTS, f"{uri} has . or .. segments")
        if scheme in HTTP_SCHEMES:
            return self._locate_http(uri, scheme, authority, path)
        if not any(root.admits(scheme, authority, path) for root in self.uri_roots):
            raise Rejected(
                Reason.OUTSIDE_ROOTS, f"{uri} is outside the allowed roots (sources.allowed_roots)"
            )
        return Location("object", f"{scheme}://{authority}", path.lstrip("/"), uri)

    def redirect(self, location: Location, target: str | None) -> Location:
        """Where a redirect of an http Location leads, if that is inside the allowed roots."""
        if not target:
            raise Rejected(Reason.FETCH_FAILED, f"{location.uri}: a redirect without a Location")
        url = urljoin(location.path, target)
        try:
            found = self.locate(url)
        except Rejected as e:
            raise Rejected(e.reason, f"{location.uri} redirects to {url}: {e.message}") from None
        if found.kind != "http":
            raise Rejected(
                Reason.DISALLOWED_SCHEME, f"{location.uri} redirects to {url}, not an http(s) URL"
            )
        return Location("http", found.store, found.path, location.uri)

    def check_address(self, host: str, address: str) -> None:
        """Refuse a host that resolved to a loopback, link-local, private, multicast or other
        non-global address (a cloud's metadata service, the machine's own daemons), unless the
        operator allowed its network."""
        ip: IPAddress = ipaddress.ip_address(address.split("%")[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if any(ip in network for network in self.allowed_networks):
            return
        if not ip.is_global or ip.is_multicast:
            raise Rejected(
                Reason.DISALLOWED_ADDRESS,
                f"host {host!r} resolves to {ip}, a non-public address "
                "(allow its network in sources.allowed_networks)",
            )

    def check_literal(self, location: Location) -> None:
        """check_address for a URL whose host is an IP address (no resolver is asked)."""
        host = location.host
        try:
            ipaddress.ip_address(host.split("%")[0])
        except ValueError:
            return
        self.check_address(host, host)

    def _locate_file(self, uri: str) -> Location:
        path_text = _file_path(uri)
        # resolve() follows symlinks and removes `..`, so the check below sees where the bytes
        # really are.
        real = Path(path_text).resolve()
        if not any(real == root or real.is_relative_to(root) for root in self.file_roots):
            raise Rejected(
                Reason.OUTSIDE_ROOTS,
                f"{path_text} resolves to {real}, outside the allowed roots "
                "(sources.allowed_roots)",
            )
        return Location("file", "file:///", str(real), uri)

    def _locate_http(self, uri: str, scheme: str, authority: str, path: str) -> Location:
        host = urlsplit(uri).hostname or ""
        roots = [root for root in self.uri_roots if root.scheme in HTTP_SCHEMES]
        if host not in self.http_hosts:
            if not any(urlsplit(f"{r.scheme}://{r.authority}").hostname == host for r in roots):
                raise Rejected(
                    Reason.DISALLOWED_HOST,
                    f"host {host!r} is in neither sources.http_allowlist nor sources.allowed_roots",
                )
            if not any(root.admits(scheme, authority, path) for root in roots):
                raise Rejected(
                    Reason.OUTSIDE_ROOTS,
                    f"{uri} is outside the allowed roots (sources.allowed_roots)",
                )
        return Location("http", f"{scheme}://{authority}", uri, uri)


def _file_path(uri: str) -> str:
    return unquote(urlsplit(uri).path) if scheme_of(uri) == "file" else uri


def _split(uri: str) -> tuple[str, str, str]:
    """(scheme, authority, path) in one spelling: s3a as s3, the host lower-case, a default
    port dropped, the path percent-decoded."""
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    scheme = OBJECT_SCHEMES.get(scheme, scheme)
    authority = parts.netloc.rsplit("@", 1)[-1].lower() if scheme in HTTP_SCHEMES else parts.netloc
    if scheme in HTTP_SCHEMES and parts.port == DEFAULT_PORTS[scheme]:
        authority = authority.rsplit(":", 1)[0]
    return scheme, authority, unquote(parts.path) or "/"


def _has_dot_segments(path: str) -> bool:
    return any(segment in (".", "..") for segment in path.split("/"))
