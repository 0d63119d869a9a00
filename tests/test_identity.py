"""Unit tests for client identity: address resolution, normalization and hashing."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from typing import Any

import pytest

from videolikes.identity import ClientIdentity, ForwardedHeader, IPAddress
from videolikes.legacy_identity import LegacyIdentity, original_ip_hash

SECRET = b"test-secret"
CLIENT = "203.0.113.7"
PROXY1 = "10.0.0.1"
PROXY2 = "10.0.0.2"
TRUSTED = [ipaddress.ip_network("10.0.0.0/8")]


def scope(peer: Any = CLIENT, headers: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    client = None if peer is None else (peer, 54321)
    return {
        "type": "http",
        "client": client,
        "headers": [(n.lower().encode("latin-1"), v.encode("latin-1")) for n, v in headers or []],
    }


def identity(
    trusted: list[ipaddress.IPv4Network | ipaddress.IPv6Network] | None = None,
    prefix: int = 64,
    secret: bytes = SECRET,
    header: ForwardedHeader = "x-forwarded-for",
    legacy: LegacyIdentity | None = None,
) -> ClientIdentity:
    return ClientIdentity(
        secret=secret,
        trusted_proxies=trusted or [],
        forwarded_header=header,
        ipv6_prefix_length=prefix,
        legacy=legacy,
    )


def addr(text: str) -> IPAddress:
    return ipaddress.ip_address(text)


def expected_hash(normalized: str, secret: bytes = SECRET) -> str:
    return hmac.new(secret, normalized.encode(), hashlib.sha256).hexdigest()


def test_without_trusted_proxies_forwarding_headers_are_ignored() -> None:
    ident = identity()
    request = scope(CLIENT, [("X-Forwarded-For", "1.1.1.1"), ("X-Real-IP", "2.2.2.2")])
    assert ident.client_address(request) == addr(CLIENT)


def test_untrusted_peer_cannot_choose_identity_with_many_forwarded_values() -> None:
    ident = identity(TRUSTED)
    hashes = {
        ident.ip_hash(
            scope(
                CLIENT,
                [("X-Forwarded-For", f"198.51.{i // 256}.{i % 256}"), ("X-Real-IP", "1.2.3.4")],
            )
        )
        for i in range(10_000)
    }
    assert hashes == {expected_hash(CLIENT)}


def test_trusted_proxy_chain_resolves_to_client() -> None:
    ident = identity(TRUSTED)
    request = scope(PROXY1, [("X-Forwarded-For", f"{CLIENT}, {PROXY2}")])
    assert ident.client_address(request) == addr(CLIENT)


def test_rightmost_untrusted_entry_wins_over_spoofed_leftmost() -> None:
    ident = identity(TRUSTED)
    request = scope(PROXY1, [("X-Forwarded-For", f"6.6.6.6, {CLIENT}, {PROXY2}")])
    assert ident.client_address(request) == addr(CLIENT)


def test_multiple_forwarded_for_headers_are_read_as_one_list_in_order() -> None:
    ident = identity(TRUSTED)
    request = scope(
        PROXY1,
        [("X-Forwarded-For", "6.6.6.6, 7.7.7.7"), ("X-Forwarded-For", f"{CLIENT},{PROXY2}")],
    )
    assert ident.client_address(request) == addr(CLIENT)


def test_all_forwarded_entries_trusted_takes_leftmost() -> None:
    ident = identity(TRUSTED)
    request = scope(PROXY1, [("X-Forwarded-For", f"10.9.9.9, {PROXY2}")])
    assert ident.client_address(request) == addr("10.9.9.9")


def test_unparsable_forwarded_entry_stops_at_last_good_address() -> None:
    ident = identity(TRUSTED)
    request = scope(PROXY1, [("X-Forwarded-For", f"{CLIENT}, unknown, {PROXY2}")])
    assert ident.client_address(request) == addr(PROXY2)


def test_unparsable_rightmost_forwarded_entry_falls_back_to_peer() -> None:
    ident = identity(TRUSTED)
    request = scope(PROXY1, [("X-Forwarded-For", f"{CLIENT}, garbage"), ("X-Real-IP", CLIENT)])
    assert ident.client_address(request) == addr(PROXY1)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (f"  {CLIENT}  ", CLIENT),
        (f"{CLIENT}:8080", CLIENT),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("2001:db8::1", "2001:db8::1"),
        (f"::ffff:{CLIENT}", CLIENT),
    ],
)
def test_forwarded_entry_forms_are_tolerated(value: str, expected: str) -> None:
    ident = identity(TRUSTED)
    assert ident.client_address(scope(PROXY1, [("X-Forwarded-For", value)])) == addr(expected)


def test_real_ip_is_used_from_trusted_peer_when_it_is_the_configured_header() -> None:
    ident = identity(TRUSTED, header="x-real-ip")
    assert ident.client_address(scope(PROXY1, [("X-Real-IP", CLIENT)])) == addr(CLIENT)


def test_real_ip_is_ignored_from_untrusted_peer() -> None:
    ident = identity(TRUSTED, header="x-real-ip")
    assert ident.client_address(scope(CLIENT, [("X-Real-IP", "1.2.3.4")])) == addr(CLIENT)


def test_real_ip_is_ignored_while_forwarded_for_is_the_configured_header() -> None:
    ident = identity(TRUSTED)
    assert ident.client_address(scope(PROXY1, [("X-Real-IP", CLIENT)])) == addr(PROXY1)


def test_a_client_sent_forwarded_for_cannot_override_the_proxys_real_ip() -> None:
    # nginx passes a client's own X-Forwarded-For through unless told otherwise; behind a
    # proxy that sets X-Real-IP, that header must not be believed.
    ident = identity(TRUSTED, header="x-real-ip")
    request = scope(PROXY1, [("X-Forwarded-For", "1.2.3.4"), ("X-Real-IP", CLIENT)])
    assert ident.client_address(request) == addr(CLIENT)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (f"for={CLIENT}", CLIENT),
        (f'for="{CLIENT}:4711";proto=https;by=10.0.0.1', CLIENT),
        ('For="[2001:db8:cafe::17]:4711"', "2001:db8:cafe::17"),
        (f"for=1.2.3.4, for={CLIENT}, for={PROXY2}", CLIENT),
        (f"for=1.2.3.4, for=unknown, for={PROXY2}", PROXY2),
        (f"for=1.2.3.4, proto=http, for={CLIENT}", CLIENT),
        ("for=_hidden", PROXY1),
    ],
)
def test_forwarded_header_is_read_as_rfc_7239(value: str, expected: str) -> None:
    ident = identity(TRUSTED, header="forwarded")
    request = scope(PROXY1, [("Forwarded", value), ("X-Forwarded-For", "9.9.9.9")])
    assert ident.client_address(request) == addr(expected)


def test_legacy_key_is_the_rekeyed_sha256_of_address_and_salt() -> None:
    legacy = LegacyIdentity(secret=SECRET, salt="jefftube-salt")
    keys = identity(TRUSTED, legacy=legacy).keys(scope(PROXY1, [("X-Forwarded-For", CLIENT)]))
    original = hashlib.sha256(f"{CLIENT}jefftube-salt".encode()).hexdigest()
    assert original_ip_hash(CLIENT, "jefftube-salt") == original
    assert keys.legacy_hash == legacy.rekeyed(original)
    assert keys.legacy_hash is not None
    assert keys.legacy_hash.startswith("legacy:")
    assert len(keys.legacy_hash) <= 64
    assert original not in keys.legacy_hash
    assert keys.ip_hash == expected_hash(CLIENT)


def test_legacy_key_depends_on_the_secret() -> None:
    original = original_ip_hash(CLIENT, "jefftube-salt")
    first = LegacyIdentity(secret=b"one").rekeyed(original)
    assert first != LegacyIdentity(secret=b"two").rekeyed(original)


def test_without_legacy_lookup_keys_carry_no_legacy_hash() -> None:
    assert identity().keys(scope()).legacy_hash is None


def test_trusted_peer_without_headers_is_the_client() -> None:
    assert identity(TRUSTED).client_address(scope(PROXY1)) == addr(PROXY1)


def test_ipv4_mapped_peer_equals_plain_ipv4() -> None:
    ident = identity()
    mapped = scope(f"::ffff:{CLIENT}")
    assert ident.client_address(mapped) == addr(CLIENT)
    assert ident.ip_hash(mapped) == ident.ip_hash(scope(CLIENT))


def test_ipv4_mapped_peer_matches_ipv4_trusted_proxy() -> None:
    ident = identity(TRUSTED)
    request = scope(f"::ffff:{PROXY1}", [("X-Forwarded-For", CLIENT)])
    assert ident.client_address(request) == addr(CLIENT)


def test_ipv4_mapped_trusted_network_matches_ipv4_peer() -> None:
    ident = identity([ipaddress.ip_network("::ffff:10.0.0.0/104")])
    request = scope(PROXY1, [("X-Forwarded-For", CLIENT)])
    assert ident.client_address(request) == addr(CLIENT)


def test_ipv6_addresses_in_one_64_are_one_client() -> None:
    ident = identity()
    a = ident.ip_hash(scope("2001:db8:1:2::1"))
    b = ident.ip_hash(scope("2001:db8:1:2:ffff:ffff:ffff:ffff"))
    assert a == b
    assert ident.normalized(addr("2001:db8:1:2::1")) == "2001:db8:1:2::/64"


def test_ipv6_addresses_in_different_64s_are_two_clients() -> None:
    ident = identity()
    assert ident.ip_hash(scope("2001:db8:1:2::1")) != ident.ip_hash(scope("2001:db8:1:3::1"))


def test_ipv6_prefix_length_is_configurable() -> None:
    ident = identity(prefix=56)
    assert ident.normalized(addr("2001:db8:1:2ff::1")) == "2001:db8:1:200::/56"
    assert ident.ip_hash(scope("2001:db8:1:2ff::1")) == ident.ip_hash(scope("2001:db8:1:200::9"))
    assert ident.ip_hash(scope("2001:db8:1:2ff::1")) != ident.ip_hash(scope("2001:db8:1:300::1"))


def test_ipv4_is_normalized_to_dotted_string() -> None:
    assert identity().normalized(addr(CLIENT)) == CLIENT


def test_invalid_ipv6_prefix_length_is_rejected() -> None:
    with pytest.raises(ValueError, match="ipv6_prefix_length"):
        identity(prefix=129)


def test_empty_secret_is_rejected() -> None:
    with pytest.raises(ValueError, match="secret"):
        ClientIdentity(secret=b"")


@pytest.mark.parametrize("client", [None, (), ("not-an-ip", 1), (None, 1), (b"1.2.3.4", 1), "x"])
def test_missing_or_unparsable_client_is_the_shared_anonymous_identity(client: Any) -> None:
    ident = identity(TRUSTED)
    request: dict[str, Any] = {"type": "http", "client": client, "headers": []}
    assert ident.client_address(request) == addr("0.0.0.0")
    assert ident.ip_hash(request) == expected_hash("0.0.0.0")


def test_scope_without_client_key_is_the_shared_anonymous_identity() -> None:
    assert identity().client_address({"type": "http", "headers": []}) == addr("0.0.0.0")


@pytest.mark.parametrize(
    "value",
    [
        "",
        ",",
        " , ,",
        "unknown",
        "[::1",
        "[::1]x",
        "[::1]:port",
        "1.2.3.4:",
        "1.2.3.4:http",
        "999.1.1.1",
        "01.2.3.4",
        "::ffff:zz",
        "\x00\xff\x7f",
        "a" * 10_000,
        ",".join(["10.0.0.3"] * 1_000),
        "fe80::1%eth0",
    ],
)
def test_garbage_header_values_never_raise(value: str) -> None:
    ident = identity(TRUSTED)
    for header in ("X-Forwarded-For", "X-Real-IP", "Forwarded"):
        request = scope(PROXY1, [(header, value)])
        ident.client_address(request)
        assert re.fullmatch(r"[0-9a-f]{64}", ident.ip_hash(request))


def test_non_utf8_header_bytes_never_raise() -> None:
    ident = identity(TRUSTED)
    request: dict[str, Any] = {
        "type": "http",
        "client": (PROXY1, 1),
        "headers": [(b"x-forwarded-for", b"\xff\xfe\x80"), (b"x-real-ip", b"\xc3\x28")],
    }
    assert ident.client_address(request) == addr(PROXY1)


def test_hash_is_64_lowercase_hex_hmac_sha256_of_normalized_address() -> None:
    value = identity().ip_hash(scope(CLIENT))
    assert re.fullmatch(r"[0-9a-f]{64}", value)
    assert value == expected_hash(CLIENT)


def test_hash_differs_with_a_different_secret() -> None:
    request = scope(CLIENT)
    assert identity().ip_hash(request) != identity(secret=b"other-secret").ip_hash(request)


def test_hash_does_not_contain_the_raw_address() -> None:
    ident = identity()
    for peer in (CLIENT, "2001:db8:1:2::1"):
        value = ident.ip_hash(scope(peer))
        assert peer not in value
        assert peer.replace(".", "").replace(":", "") not in value


def test_repr_does_not_reveal_the_secret() -> None:
    assert "test-secret" not in repr(identity(TRUSTED))
