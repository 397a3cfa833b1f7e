"""Which network addresses `fetch_page` may connect to (the SSRF guard).

By default only globally routable unicast addresses are allowed: loopback, private (RFC 1918, ULA),
link-local (including cloud metadata at 169.254.169.254), carrier-grade NAT, multicast, reserved and
unspecified addresses are refused. `allow_private` lifts the rule; `allowed_networks` lifts it for
chosen addresses only (a LAN wiki, say). Names are looked up with the system resolver unless a `Resolver`
is given (tests route an "outside" name to a loopback server that way, with the rules unchanged).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

import anyio

from variet.servers.search.errors import FetchBlocked, FetchFailed

__all__ = ["AddressPolicy", "IPAddress", "Resolver"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]
"""Looks up a host name: its addresses as text; raises `OSError` when it has none."""


async def _system_resolver(host: str, port: int) -> list[str]:
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True)
class AddressPolicy:
    """The guard's rule; `allows` is a pure decision, `resolve` adds the DNS lookup."""

    allow_private: bool = False
    allowed_networks: tuple[_Network, ...] = ()
    resolver: Resolver = field(default=_system_resolver, compare=False, repr=False)

    @classmethod
    def build(cls, *, allow_private: bool, allowed_networks: Iterable[str] = (),
              resolver: Resolver | None = None) -> AddressPolicy:
        """From settings; `allowed_networks` items are addresses or CIDR networks."""
        networks = tuple(ipaddress.ip_network(n, strict=False) for n in allowed_networks)
        return cls(allow_private, networks, resolver or _system_resolver)

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
                found = await self.resolver(host, port)
            except OSError as exc:
                raise FetchFailed(f"cannot resolve host {host!r}: {exc.strerror or exc}") from exc
            addresses = list(dict.fromkeys(ipaddress.ip_address(a) for a in found))
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
