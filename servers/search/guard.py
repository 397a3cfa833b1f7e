"""Which network addresses `fetch_page` may connect to (the SSRF guard).

By default only globally routable unicast addresses are allowed: loopback, private (RFC 1918, ULA),
link-local (including cloud metadata at 169.254.169.254), carrier-grade NAT, multicast, reserved and
unspecified addresses are refused. `allow_private` lifts the rule; `allowed_networks` lifts it for
chosen addresses only (a LAN wiki, say).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

import anyio

from variet.servers.search.errors import FetchBlocked, FetchFailed

__all__ = ["AddressPolicy", "IPAddress"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class AddressPolicy:
    """The guard's rule; `allows` is a pure decision, `resolve` adds the DNS lookup."""

    allow_private: bool = False
    allowed_networks: tuple[_Network, ...] = ()

    @classmethod
    def build(cls, *, allow_private: bool, allowed_networks: Iterable[str] = ()) -> AddressPolicy:
        """From settings; `allowed_networks` items are addresses or CIDR networks."""
        return cls(allow_private, tuple(ipaddress.ip_network(n, strict=False) for n in allowed_networks))

    @property
    def allows_everything(self) -> bool:
        return self.allow_private

    def allows(self, address: IPAddress) -> bool:
        """True when a connection to `address` is allowed."""
        if self.allow_private:
            return True
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(address in network for network in self.allowed_networks):
            return True
        return address.is_global and not address.is_multicast

    async def resolve(self, host: str, port: int) -> IPAddress:
        """The address to connect to for `host`; raises `FetchBlocked` if any address it has is refused.

        Checking every address (not just the first) stops a name that mixes public and private answers.
        """
        try:
            literal: IPAddress | None = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            literal = None
        if literal is not None:
            addresses = [literal]
        else:
            try:
                infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except OSError as exc:
                raise FetchFailed(f"cannot resolve host {host!r}: {exc.strerror or exc}") from exc
            addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
            if not addresses:
                raise FetchFailed(f"host {host!r} has no address")
        refused = [a for a in addresses if not self.allows(a)]
        if refused:
            shown = host if literal is not None else f"{host} ({', '.join(map(str, refused))})"
            raise FetchBlocked(
                f"refusing to fetch from {shown}: private, loopback and link-local addresses are "
                "blocked; a user can allow them with `[search] allow_private_fetch = true` or "
                "`fetch_allowed_networks`"
            )
        return addresses[0]
