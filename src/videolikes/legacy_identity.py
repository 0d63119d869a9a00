"""The original service's client hashes, and the keys adoption turns them into.

The original stored `users.ip_hash` as the hex SHA-256 of the client address followed by a
fixed public salt. Anyone holding the table can recover every IPv4 address from that by trying
all four billion, so adoption re-keys each stored hash `h` to `legacy:` + HMAC(secret, h):
without the secret it reveals nothing. A returning visitor who has no user of videolikes' own
is found by that key, and is moved to its own hash on its first write.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

# Marks a re-keyed hash; a videolikes hash is 64 hex digits, so the two never collide.
LEGACY_PREFIX = "legacy:"
ORIGINAL_SALT = "jefftube-salt"


def original_ip_hash(address: str, salt: str) -> str:
    """What the original stored for a client at `address`."""
    return hashlib.sha256((address + salt).encode()).hexdigest()


class LegacyIdentity:
    """Re-keys the original's hashes with the server secret."""

    def __init__(self, *, secret: bytes, salt: str = ORIGINAL_SALT) -> None:
        if not secret:
            raise ValueError("secret must not be empty")
        self._mac = hmac.new(secret, digestmod=hashlib.sha256)
        self._salt = salt

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def rekeyed(self, original_hash: str) -> str:
        """The key adoption stores in place of the original's hash (50 characters)."""
        mac = self._mac.copy()
        mac.update(original_hash.encode())
        return LEGACY_PREFIX + base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()

    def key(self, address: str) -> str:
        """The re-keyed hash the original's user for `address` is stored under."""
        return self.rekeyed(original_ip_hash(address, self._salt))
