"""The SSRF guard's address rules (no network beyond loopback name resolution)."""

from __future__ import annotations

import ipaddress

import pytest

from claybridge.core.ssrf import (
    BlockedAddress,
    check_addresses,
    check_url,
    parse_networks,
    refusal,
)
from claybridge.errors import InvalidField


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.9", "private"),
        ("192.168.1.1", "private"),
        ("fd12::1", "private"),
        ("169.254.169.254", "metadata"),
        ("169.254.10.1", "link-local"),
        ("fe80::1", "link-local"),
        ("100.64.0.1", "CGNAT"),
        ("0.0.0.0", "unspecified"),  # noqa: S104 - an address under test, not a bind
        ("224.0.0.1", "multicast"),
        ("::ffff:127.0.0.1", "embeds"),
        ("::ffff:10.0.0.1", "embeds"),
        ("fd00:ec2::254", "metadata"),
    ],
)
def test_refused_addresses(address: str, kind: str) -> None:
    """Loopback, private, link-local, metadata, CGNAT and embedded forms are refused."""
    reason = refusal(ipaddress.ip_address(address))
    assert reason is not None
    assert kind in reason


@pytest.mark.parametrize("address", ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    """Public unicast addresses are allowed."""
    assert refusal(ipaddress.ip_address(address)) is None


def test_allow_list_reopens_a_network() -> None:
    """An allowed CIDR lets its addresses through, and only those."""
    allow = parse_networks("127.0.0.1/32, 10.0.0.0/8")
    assert refusal(ipaddress.ip_address("127.0.0.1"), allow) is None
    assert refusal(ipaddress.ip_address("10.9.9.9"), allow) is None
    assert refusal(ipaddress.ip_address("127.0.0.2"), allow) is not None


def test_bad_allow_entry_is_named() -> None:
    """A malformed CIDR in the allow list is refused with the entry quoted."""
    with pytest.raises(ValueError, match="'nope'"):
        parse_networks("127.0.0.1/32,nope")


def test_any_refused_address_blocks_the_host() -> None:
    """One bad address among several (DNS round robin) is enough to refuse."""
    with pytest.raises(BlockedAddress, match="loopback"):
        check_addresses("mixed.test", ["93.184.216.34", "127.0.0.1"], ())


def test_check_url_refuses_loopback_and_bad_schemes() -> None:
    """check_url refuses non-http schemes, hostless URLs and blocked hosts with a code."""
    with pytest.raises(InvalidField) as bad_scheme:
        check_url("ftp://example.com/x", ())
    assert bad_scheme.value.code == "invalid_url"
    with pytest.raises(InvalidField) as blocked:
        check_url("http://127.0.0.1:9/hook", ())
    assert blocked.value.code == "blocked_url"
    with pytest.raises(InvalidField) as named:
        check_url("http://localhost:9/hook", ())
    assert named.value.code == "blocked_url"
    assert check_url(" http://127.0.0.1:9/hook ", parse_networks("127.0.0.0/8")).startswith("http")
