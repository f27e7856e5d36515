"""Who may scrape ``/metrics``: IP addresses and networks, matched against the direct peer."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable


class PeerAllowList:
    """IP addresses and networks (``127.0.0.1``, ``10.0.0.0/8``, ``::1``) allowed in.

    The peer is the address the connection comes from as the ASGI server
    reports it (``scope["client"]``), never a header the client sent: behind
    the proxies in ``KINGDOM_TRUSTED_PROXIES`` uvicorn reports the client the
    proxy forwarded for, so a proxy in this list does not open the metrics to
    everyone behind it. An IPv4 peer seen as an IPv4-mapped IPv6 address
    (``::ffff:127.0.0.1``, on a dual-stack socket) is matched as IPv4.
    """

    def __init__(self, entries: Iterable[str]) -> None:
        self._networks = tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)

    def __bool__(self) -> bool:
        return bool(self._networks)

    def allows(self, host: str | None) -> bool:
        """Whether ``host`` (an IP address as text; ``None`` when unknown) is in the list."""
        if host is None:
            return False
        try:
            address = ipaddress.ip_address(host)
        except ValueError:  # a Unix socket's path, a test client's made-up name
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self._networks)
