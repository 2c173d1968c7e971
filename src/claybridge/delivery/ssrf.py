"""The SSRF guard: outbound requests go only to public addresses, unless allowed.

A destination URL is checked twice: when it is saved (its host must resolve, and to
public addresses only) and on every connection (DNS may have changed since: rebinding).
:class:`GuardedTransport` resolves the host itself, checks every address, and connects
to the checked address, keeping the original host for the ``Host`` header and TLS SNI,
so the name is never resolved a second time by someone else.

Refused: loopback, private (RFC 1918, ULA), link-local (which holds the cloud metadata
address 169.254.169.254), shared/CGNAT, multicast, reserved and unspecified addresses,
and IPv6 forms that embed a refused IPv4 address. ``CLAYBRIDGE_ALLOW_NETWORKS`` (CIDRs)
re-allows specific networks, e.g. ``127.0.0.1/32`` for a receiver on the same machine.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

import httpx

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


async def resolve_async(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, without blocking the event loop."""
    literal = _literal(host)
    if literal is not None:
        return [literal]
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def check_url(url: str, allow: Sequence[Network], *, field: str = "url") -> str:
    """Validate a destination URL when it is saved; returns it stripped.

    Raises :class:`InvalidField` (400 ``invalid_url``) for a non-http(s) URL, one without
    a host, a host that does not resolve, or one that resolves to a refused address.
    """
    text = url.strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidField(
            f"{field} must be an http:// or https:// URL with a host",
            field=field,
            code="invalid_url",
        )
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise InvalidField(
            f"{field} has an invalid port", field=field, code="invalid_url"
        ) from None
    try:
        addresses = resolve(parts.hostname, port)
    except OSError:
        raise InvalidField(
            f"{field}: {parts.hostname} does not resolve", field=field, code="invalid_url"
        ) from None
    try:
        check_addresses(parts.hostname, addresses, allow)
    except BlockedAddress as exc:
        raise InvalidField(f"{field}: {exc}", field=field, code="blocked_url") from None
    return text


class BlockedConnect(httpx.ConnectError):
    """A connection refused by the guard: a permanent failure, not a network blip."""


class GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport that checks, then pins, the address of every request.

    The request goes to the first checked address; ``Host`` stays the URL's host and TLS
    verifies the certificate against it (``sni_hostname``).
    """

    def __init__(self, allow: Sequence[Network] = (), **transport_options: object) -> None:
        self.allow = tuple(allow)
        self._inner = httpx.AsyncHTTPTransport(**transport_options)  # type: ignore[arg-type]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        port = request.url.port or (443 if request.url.scheme == "https" else 80)
        try:
            addresses = await resolve_async(host, port)
        except OSError as exc:
            raise httpx.ConnectError(f"{host} does not resolve: {exc}", request=request) from None
        try:
            check_addresses(host, addresses, self.allow)
        except BlockedAddress as exc:
            raise BlockedConnect(str(exc), request=request) from None
        pinned = addresses[0]
        if pinned != host:
            request.url = request.url.copy_with(host=pinned)
            if request.url.scheme == "https":
                request.extensions = {**request.extensions, "sni_hostname": host}
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()
