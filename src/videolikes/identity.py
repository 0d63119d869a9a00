"""Client identity for anonymous visitors: which address a request comes from, and its hash."""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from starlette.types import Scope

from videolikes.legacy_identity import LegacyIdentity

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
ForwardedHeader = Literal["x-forwarded-for", "x-real-ip", "forwarded"]

__all__ = ["ClientIdentity", "ClientKeys", "ForwardedHeader", "IPAddress", "IPNetwork"]

# One shared identity for requests whose peer cannot be determined, so they still work
# (and share a single rate-limit bucket) instead of failing.
ANONYMOUS_ADDRESS = ipaddress.IPv4Address("0.0.0.0")  # noqa: S104

_HASH_CACHE_SIZE = 4096
_PARSE_CACHE_SIZE = 4096
_MAX_ADDRESS_LENGTH = 100
_IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


@dataclass(frozen=True, slots=True)
class ClientKeys:
    """How a client's user row is found: by `ip_hash`, else (an adopted database) by the key
    the original service's hash of this client was re-keyed to."""

    ip_hash: str
    legacy_hash: str | None = None


def _canonical(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.scope_id is not None:
            # A zone index ("%eth0") is local to the host and must not split one client in two.
            return ipaddress.IPv6Address(int(address))
    return address


def _canonical_network(network: IPNetwork) -> IPNetwork:
    if (
        isinstance(network, ipaddress.IPv6Network)
        and network.prefixlen >= _IPV4_MAPPED.prefixlen
        and network.subnet_of(_IPV4_MAPPED)
    ):
        # Addresses are compared after unmapping, so a mapped proxy range must be unmapped too.
        mapped = network.network_address.ipv4_mapped
        assert mapped is not None
        return ipaddress.IPv4Network((mapped, network.prefixlen - _IPV4_MAPPED.prefixlen))
    return network


def _parse_address(value: str) -> IPAddress | None:
    """Parse one address as proxies write it: bare, `v4:port`, `[v6]` or `[v6]:port`."""
    text = value.strip()
    # Checked before the cache so that oversized header junk can never fill it.
    if len(text) > _MAX_ADDRESS_LENGTH:
        return None
    return _parse_stripped(text)


@functools.lru_cache(maxsize=_PARSE_CACHE_SIZE)
def _parse_stripped(text: str) -> IPAddress | None:
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return None
        text = host
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
        if not port.isdigit():
            return None
        text = host
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    return _canonical(address)


class ClientIdentity:
    """Resolves the client address of an ASGI request and hashes it with a server secret."""

    def __init__(
        self,
        *,
        secret: bytes,
        trusted_proxies: Sequence[IPNetwork] = (),
        forwarded_header: ForwardedHeader = "x-forwarded-for",
        ipv6_prefix_length: int = 64,
        legacy: LegacyIdentity | None = None,
    ) -> None:
        if not secret:
            raise ValueError("secret must not be empty")
        if not 0 <= ipv6_prefix_length <= 128:
            raise ValueError("ipv6_prefix_length must be between 0 and 128")
        networks = [_canonical_network(network) for network in trusted_proxies]
        self._trusted_v4: tuple[ipaddress.IPv4Network, ...] = tuple(
            n for n in networks if isinstance(n, ipaddress.IPv4Network)
        )
        self._trusted_v6: tuple[ipaddress.IPv6Network, ...] = tuple(
            n for n in networks if isinstance(n, ipaddress.IPv6Network)
        )
        self._forwarded_header = forwarded_header.encode("ascii")
        self._read_forwarded = (
            _forwarded_entries if forwarded_header == "forwarded" else _comma_separated
        )
        self._ipv6_prefix_length = ipv6_prefix_length
        self._ipv6_mask = ((1 << ipv6_prefix_length) - 1) << (128 - ipv6_prefix_length)
        self._mac = hmac.new(secret, digestmod=hashlib.sha256)
        # Per instance rather than module-wide, so that two secrets never share cached hashes.
        self._hash_address: Callable[[IPAddress], str] = functools.lru_cache(
            maxsize=_HASH_CACHE_SIZE
        )(self._compute_hash)
        self._legacy = legacy
        self._keys_of_address: Callable[[IPAddress], ClientKeys] = functools.lru_cache(
            maxsize=_HASH_CACHE_SIZE
        )(self._compute_keys)

    def __repr__(self) -> str:
        proxies = len(self._trusted_v4) + len(self._trusted_v6)
        return (
            f"{type(self).__name__}(trusted_proxies={proxies},"
            f" ipv6_prefix_length={self._ipv6_prefix_length})"
        )

    def client_address(self, scope: Scope) -> IPAddress:
        """The client's address: the TCP peer, or what a trusted proxy in front of it reports.

        Only the one configured forwarding header is read: a proxy passes any other header a
        client sends through unchanged, so believing a second one would let clients choose.
        """
        peer = self._peer(scope)
        if not self._is_trusted(peer):
            return peer
        headers: Iterable[tuple[bytes, bytes]] = scope.get("headers") or ()
        entries: list[str] = []
        for name, value in headers:
            if name.lower() == self._forwarded_header:
                entries.extend(self._read_forwarded(value.decode("latin-1")))
        entries = [entry for entry in entries if entry.strip()]
        if not entries:
            return peer
        return self._from_forwarded_entries(entries, peer)

    def normalized(self, address: IPAddress) -> str:
        """IPv4 as dotted quad; IPv6 as its prefix network, since one subscriber owns a prefix."""
        address = _canonical(address)
        if isinstance(address, ipaddress.IPv4Address):
            return str(address)
        network = ipaddress.IPv6Network((int(address) & self._ipv6_mask, self._ipv6_prefix_length))
        return str(network)

    def ip_hash(self, scope: Scope) -> str:
        """Lower-case hex HMAC-SHA256 of the normalized client address."""
        return self._hash_address(self.client_address(scope))

    def keys(self, scope: Scope) -> ClientKeys:
        """The keys that find this client's user row."""
        return self._keys_of_address(self.client_address(scope))

    def _compute_keys(self, address: IPAddress) -> ClientKeys:
        legacy = None if self._legacy is None else self._legacy.key(str(address))
        return ClientKeys(self._hash_address(address), legacy)

    def _compute_hash(self, address: IPAddress) -> str:
        mac = self._mac.copy()
        mac.update(self.normalized(address).encode("ascii"))
        return mac.hexdigest()

    def _peer(self, scope: Scope) -> IPAddress:
        client = scope.get("client")
        try:
            host = client[0] if client else None
        except (TypeError, IndexError, KeyError):
            return ANONYMOUS_ADDRESS
        if not isinstance(host, str):
            return ANONYMOUS_ADDRESS
        return _parse_address(host) or ANONYMOUS_ADDRESS

    def _is_trusted(self, address: IPAddress) -> bool:
        if isinstance(address, ipaddress.IPv4Address):
            return any(address in network for network in self._trusted_v4)
        return any(address in network for network in self._trusted_v6)

    def _from_forwarded_entries(self, entries: list[str], peer: IPAddress) -> IPAddress:
        # Only entries appended by our own proxies can be believed, so walk from the right and
        # stop at the first one that is not a proxy of ours: everything left of it is hearsay.
        last_good = peer
        for entry in reversed(entries):
            address = _parse_address(entry)
            if address is None:
                return last_good
            if not self._is_trusted(address):
                return address
            last_good = address
        return last_good


def _comma_separated(value: str) -> list[str]:
    return value.split(",")


def _forwarded_entries(value: str) -> list[str]:
    """The `for=` address of each element of an RFC 7239 `Forwarded` header, in order.

    An element without one yields an empty entry, which is skipped like an empty
    X-Forwarded-For entry; an obfuscated or `unknown` node yields itself, which does not
    parse as an address and so stops the walk as any unparsable entry does.
    """
    entries = []
    for element in value.split(","):
        node = ""
        for pair in element.split(";"):
            key, _, raw = pair.partition("=")
            if key.strip().lower() == "for":
                node = raw.strip().strip('"')
        entries.append(node)
    return entries
