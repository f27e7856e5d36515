"""The token key ring file (``KINGDOM_TOKEN_KEYS_FILE``): which keys sign and verify, by kid.

A JSON document::

    {
      "active": "2025-06",
      "keys": [
        {"kid": "2025-06", "alg": "EdDSA", "private_key_file": "2025-06.pem"},
        {"kid": "2025-01", "alg": "RS256", "public_key_file": "2025-01.pub.pem"},
        {"kid": "legacy", "alg": "HS256", "secret": "<32+ random bytes>"}
      ]
    }

The ``active`` key signs new tokens and must hold private material (a
``private_key_file`` or an HS256 ``secret``); every other key is *retired*:
it still verifies the tokens it signed until it is taken out of the file.
A retired asymmetric key needs only its ``public_key_file``. Relative paths
are relative to the ring file's directory. PEM files are unencrypted PKCS#8
(private) or SubjectPublicKeyInfo (public), as ``openssl genpkey`` and
``./pants run packages/entrypoints:keys -- generate`` write them.

Anything wrong raises :class:`KeyRingError` saying what and where, never
quoting a secret; the settings turn it into an exit status 2.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from kingdom.adapters.security.tokens import (
    KID_PATTERN,
    Ed25519Key,
    HmacKey,
    KeySet,
    RsaKey,
    SigningKey,
)

MAX_FILE_BYTES: Final = 1024 * 1024
"""A ring or PEM file larger than this is a mistake (a log, a disk image), not a key."""

ASYMMETRIC: Final[Mapping[str, type[Ed25519Key] | type[RsaKey]]] = {
    "EdDSA": Ed25519Key,
    "RS256": RsaKey,
}
ALGORITHMS: Final = ("HS256", *ASYMMETRIC)
_FIELDS: Final = frozenset({"kid", "alg", "secret", "private_key_file", "public_key_file"})


class KeyRingError(ValueError):
    """The key ring file cannot be used; the message says why (and holds no secret)."""


def load_key_ring(path: Path) -> KeySet:
    """Read and check the ring at ``path``: every key loads, the active one can sign."""
    document = _parse(_read(path))
    if not isinstance(document, dict):
        raise KeyRingError('expected a JSON object {"active": ..., "keys": [...]}')
    unknown = set(document) - {"active", "keys"}
    if unknown:
        raise KeyRingError(f"unknown field(s) {', '.join(sorted(unknown))}")
    entries = document.get("keys")
    if not isinstance(entries, list) or not entries:
        raise KeyRingError('"keys" must be a non-empty list')
    keys: dict[str, SigningKey] = {}
    for index, entry in enumerate(entries):
        key = _key(entry, f"keys[{index}]", path.parent)
        if key.kid in keys:
            raise KeyRingError(f"keys[{index}]: duplicate kid {key.kid!r}")
        keys[key.kid] = key
    active = document.get("active")
    if not isinstance(active, str) or not active:
        raise KeyRingError('"active" must name the kid of the key that signs')
    if active not in keys:
        raise KeyRingError(f"the active kid {active!r} is not among the keys")
    if not keys[active].can_sign:
        raise KeyRingError(
            f"the active key {active!r} is verify-only (public_key_file): "
            "the key that signs needs its private_key_file"
        )
    return KeySet(keys.values(), active=active)


def _key(entry: Any, where: str, base: Path) -> SigningKey:
    if not isinstance(entry, dict):
        raise KeyRingError(f"{where}: expected an object with kid and alg")
    unknown = set(entry) - _FIELDS
    if unknown:
        raise KeyRingError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    kid = entry.get("kid")
    if not isinstance(kid, str) or not KID_PATTERN.fullmatch(kid):
        raise KeyRingError(f"{where}: kid must match {KID_PATTERN.pattern}, got {kid!r}")
    where = f"{where} (kid {kid!r})"
    algorithm = entry.get("alg")
    if algorithm == "HS256":
        return _hmac_key(kid, entry, where)
    if not isinstance(algorithm, str) or algorithm not in ASYMMETRIC:
        raise KeyRingError(
            f"{where}: alg must be one of {', '.join(ALGORITHMS)}, got {algorithm!r}"
        )
    if "secret" in entry:
        raise KeyRingError(f"{where}: a secret is for HS256 keys; {algorithm} takes a key file")
    files = [name for name in ("private_key_file", "public_key_file") if name in entry]
    if len(files) != 1:
        raise KeyRingError(f"{where}: give exactly one of private_key_file or public_key_file")
    [field] = files
    name = entry[field]
    if not isinstance(name, str) or not name:
        raise KeyRingError(f"{where}: {field} must be a file path")
    try:
        pem = _read(base / name)
    except KeyRingError as error:
        raise KeyRingError(f"{where}: {field}: {error}") from None
    kind = ASYMMETRIC[algorithm]
    try:
        key = kind(kid, pem)
    except ValueError as error:
        raise KeyRingError(f"{where}: {field} {str(base / name)!r}: {error}") from None
    if field == "private_key_file" and not key.can_sign:
        raise KeyRingError(f"{where}: private_key_file {str(base / name)!r} holds a public key")
    if field == "public_key_file" and key.can_sign:
        # Harmless to us, but a private key filed as public is one copied where it should not be.
        raise KeyRingError(f"{where}: public_key_file {str(base / name)!r} holds a private key")
    return key


def _hmac_key(kid: str, entry: Mapping[str, Any], where: str) -> HmacKey:
    if "private_key_file" in entry or "public_key_file" in entry:
        raise KeyRingError(f"{where}: an HS256 key takes a secret, not a key file")
    secret = entry.get("secret")
    if not isinstance(secret, str):
        raise KeyRingError(f"{where}: an HS256 key needs a secret (a string of 32+ bytes)")
    try:
        return HmacKey(kid, secret.encode())
    except ValueError as error:  # its message gives lengths, never the secret
        raise KeyRingError(f"{where}: {error}") from None


def _read(path: Path) -> bytes:
    try:
        with path.open("rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise KeyRingError(f"no such file {str(path)!r}") from None
    except OSError as error:
        raise KeyRingError(f"cannot read {str(path)!r}: {error.strerror}") from None
    if len(data) > MAX_FILE_BYTES:
        raise KeyRingError(f"{str(path)!r} is larger than {MAX_FILE_BYTES} bytes")
    return data


def _parse(data: bytes) -> Any:
    # Positions only, never the text around them: it may be a secret.
    try:
        return json.loads(data)
    except json.JSONDecodeError as error:
        raise KeyRingError(f"not valid JSON (line {error.lineno}, column {error.colno})") from None
    except UnicodeDecodeError:
        raise KeyRingError("not valid JSON (not UTF-8 text)") from None
