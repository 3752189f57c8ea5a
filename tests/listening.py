"""The addresses a process listens on, read by psutil: the local runtime must keep to loopback."""

from __future__ import annotations

import ipaddress

import psutil


def listening(pid: int) -> set[str]:
    """The IP addresses that pid's TCP sockets listen on."""
    connections = psutil.Process(pid).net_connections(kind="tcp")
    return {c.laddr.ip for c in connections if c.status == psutil.CONN_LISTEN}


def beyond_loopback(pid: int) -> set[str]:
    """What pid listens on besides the loopback address (::ffff:127.0.0.1 is loopback)."""
    beyond = set()
    for ip in listening(pid):
        address = ipaddress.ip_address(ip)
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if not address.is_loopback:
            beyond.add(ip)
    return beyond
