"""The SSRF guard's decisions (pure) and its lookups of literal and local names."""

from __future__ import annotations

import ipaddress

import pytest

from variet.servers.search.errors import FetchBlocked
from variet.servers.search.guard import AddressPolicy

REFUSED = [
    "127.0.0.1",
    "127.8.9.10",
    "::1",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.178.1",
    "169.254.169.254",
    "fe80::1",
    "fc00::1",
    "100.64.0.1",
    "0.0.0.0",
    "::",
    "224.0.0.1",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "240.0.0.1",
]
ALLOWED = ["93.184.215.14", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("address", REFUSED)
def test_the_default_policy_refuses_non_global_addresses(address: str) -> None:
    assert not AddressPolicy().allows(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ALLOWED)
def test_the_default_policy_allows_public_addresses(address: str) -> None:
    assert AddressPolicy().allows(ipaddress.ip_address(address))


def test_allow_private_allows_everything() -> None:
    policy = AddressPolicy.build(allow_private=True)
    assert all(policy.allows(ipaddress.ip_address(a)) for a in REFUSED)


def test_allowed_networks_open_only_those_addresses() -> None:
    policy = AddressPolicy.build(allow_private=False, allowed_networks=["192.168.1.20", "10.8.0.0/16"])
    assert policy.allows(ipaddress.ip_address("192.168.1.20"))
    assert policy.allows(ipaddress.ip_address("10.8.200.1"))
    assert not policy.allows(ipaddress.ip_address("192.168.1.21"))
    assert not policy.allows(ipaddress.ip_address("127.0.0.1"))


@pytest.mark.anyio
async def test_a_name_that_resolves_to_loopback_is_refused() -> None:
    with pytest.raises(FetchBlocked, match=r"refusing to fetch from localhost \("):
        await AddressPolicy().resolve("localhost", 80)


@pytest.mark.anyio
async def test_a_literal_address_is_checked_without_a_lookup() -> None:
    policy = AddressPolicy.build(allow_private=False, allowed_networks=["127.0.0.1"])
    assert await policy.resolve("127.0.0.1", 80) == ipaddress.ip_address("127.0.0.1")
    with pytest.raises(FetchBlocked):
        await policy.resolve("[::1]", 80)
