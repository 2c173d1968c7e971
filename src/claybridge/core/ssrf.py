"""The SSRF guard: outbound requests go only to public addresses, unless allowed.

A destination URL is checked twice: when it is saved (its host must resolve, and to
public addresses only) and on every connection (DNS may have changed since: rebinding).
:class:`GuardedResolver` is the resolver of the worker's aiohttp connector: every name is
resolved there and checked, and aiohttp connects to the checked addresses only (keeping
the original host for the ``Host`` header and TLS), so the name is never resolved a
second time by someone else. IP literals skip resolvers, so :func:`check_literal`
checks them before each request.

Refused: loopback, private (RFC 1918, ULA), link-local (which holds the cloud metadata
address 169.254.169.254), shared/CGNAT, multicast, reserved and unspecified addresses,
and IPv6 forms that embed a refused IPv4 address. ``CLAYBRIDGE_ALLOW_NETWORKS`` (CIDRs)
re-allows specific networks, e.g. ``127.0.0.1/32`` for a receiver on the same machine.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from claybridge.errors import InvalidField

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

METADATA = (ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"))
_SHARED = ipaddress.ip_network("100.64.0.0/10")


class BlockedAddress(Exception):
    """The destination resolves to an address outbound requests may not reach."""


def parse_networks(value: str | Iterable[str] | None) -> tuple[Network, ...]:
    """``"127.0.0.1/32, ::1/128"`` → networks; raises ``ValueError`` naming a bad entry."""
    if not value:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    nets: list[Network] = []
    for item in items:
        text = item.strip()
        if not text:
            continue
        try:
            nets.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ValueError(f"{text!r} is not a network in CIDR form (10.0.0.0/8)") from None
    return tuple(nets)


def refusal(address: IPAddress, allow: Sequence[Network] = ()) -> str | None:
    """Why ``address`` may not be reached, or ``None`` when it may."""
    if any(address in net for net in allow if net.version == address.version):
        return None
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address.teredo:
            embedded = address.teredo[1]
        if embedded is not None:
            reason = refusal(embedded, allow)
            return f"{address} embeds {embedded}: {reason}" if reason else None
    if address in METADATA:
        return f"{address} is a cloud metadata address"
    checks = (
        ("loopback", address.is_loopback),
        ("unspecified", address.is_unspecified),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("shared (CGNAT)", isinstance(address, ipaddress.IPv4Address) and address in _SHARED),
    )
    for name, hit in checks:
        if hit:
            return f"{address} is a {name} address"
    return None


def check_addresses(host: str, addresses: Iterable[str], allow: Sequence[Network]) -> None:
    """Raise :class:`BlockedAddress` if any of ``addresses`` is refused."""
    found = False
    for text in addresses:
        found = True
        address = ipaddress.ip_address(text.split("%", 1)[0])
        reason = refusal(address, allow)
        if reason:
            raise BlockedAddress(
                f"{host} resolves to {reason}; outbound requests only go to public "
                "addresses (CLAYBRIDGE_ALLOW_NETWORKS can allow a network)"
            )
    if not found:
        raise BlockedAddress(f"{host} does not resolve")


def _literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (blocking; for checks when a URL is saved)."""
    literal = _literal(host)
    if literal is not None:
        return [literal]
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


# The last label of a host in the forms inet_aton reads as an address (decimal, octal
# with a leading 0, hex with 0x): such a host is an IPv4 address to resolvers (the
# WHATWG URL rule) whatever else it looks like.
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$", re.IGNORECASE)


def _legacy_ipv4(host: str) -> bool:
    """Whether ``host`` is an IPv4 address in a form other than dotted decimal
    (``127.1``, ``2130706433``, ``0x7f.0.0.1``): the resolver at save time reads it as
    an address, the sender's URL parser does not, so it could never be delivered to."""
    last = host.rstrip(".").rsplit(".", 1)[-1]
    if not _NUMERIC_LABEL.match(last):
        return False
    try:
        ipaddress.IPv4Address(host.rstrip("."))
    except ValueError:
        return True
    return False


def check_url(url: str, allow: Sequence[Network], *, field: str = "url") -> str:
    """Validate a destination URL when it is saved; returns it stripped.

    Raises :class:`InvalidField` (400 ``invalid_url``) for a non-http(s) URL, one without
    a host, a host that does not resolve, or one that resolves to a refused address.
    """
    text = url.strip()
    try:
        parts = urlsplit(text)
        hostname = parts.hostname
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:  # a bracket left open, a port that is not a number
        raise InvalidField(
            f"{field} is not a valid URL ({exc})", field=field, code="invalid_url"
        ) from None
    if parts.scheme not in ("http", "https") or not hostname:
        raise InvalidField(
            f"{field} must be an http:// or https:// URL with a host",
            field=field,
            code="invalid_url",
        )
    if _legacy_ipv4(hostname):
        raise InvalidField(
            f"{field}: {hostname} is a shorthand IPv4 address; write it in dotted "
            "decimal (for example 127.0.0.1)",
            field=field,
            code="invalid_url",
        )
    try:
        addresses = resolve(hostname, port)
    except (OSError, UnicodeError):
        raise InvalidField(
            f"{field}: {hostname} does not resolve", field=field, code="invalid_url"
        ) from None
    try:
        check_addresses(hostname, addresses, allow)
    except BlockedAddress as exc:
        raise InvalidField(f"{field}: {exc}", field=field, code="blocked_url") from None
    return text


class GuardedResolver(AbstractResolver):
    """An aiohttp resolver that refuses hosts resolving to a refused address.

    aiohttp connects to exactly the addresses its resolver returns (and sends the URL's
    host as ``Host`` and TLS server name), so checking here checks what is connected to.
    """

    def __init__(self, allow: Sequence[Network] = ()) -> None:
        self.allow = tuple(allow)

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, family=family
        )
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        check_addresses(host, addresses, self.allow)
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
            for address in addresses
        ]

    async def close(self) -> None:
        return None


def check_literal(host: str, allow: Sequence[Network]) -> None:
    """Refuse a URL whose host is an IP literal in a refused range (aiohttp connects to
    literals without asking the resolver)."""
    literal = _literal(host)
    if literal is not None:
        check_addresses(host, [literal], allow)


def guarded_session(allow: Sequence[Network] = (), *, limit: int = 100) -> aiohttp.ClientSession:
    """An aiohttp session whose every connection passes the guard; call inside a loop."""
    connector = aiohttp.TCPConnector(
        resolver=GuardedResolver(allow), limit=limit, limit_per_host=0, ttl_dns_cache=10
    )
    return aiohttp.ClientSession(connector=connector, auto_decompress=True)
