"""The token signing keys, and the cursor key derived from them.

Production passes either ``KINGDOM_TOKEN_KEYS_FILE`` (a key ring: rotation by
kid, HS256/EdDSA/RS256, loaded and checked by the settings) or
``KINGDOM_TOKEN_SIGNING_KEY`` (one HS256 secret). In development, without
either, a random secret is generated once and kept in the data directory
(owner-only), so tokens survive restarts without any configuration.

Cursor signing uses a key derived from the *active* signing key's private
material (HMAC-SHA256 with a fixed label), so there is no second secret to
manage and the two uses never share a key. For one HS256 secret this is the
key Kingdom has always used. Making another key active changes the cursor
key too: page cursors handed out before are refused (``BAD_USER_INPUT``) and
clients start paging again, which rotation (rare, planned) can afford.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from kingdom.adapters.security.tokens import HmacKey, KeySet, SigningKey
from kingdom.entrypoints.settings import Settings

KEY_FILE = "signing.key"


def signing_keys(settings: Settings) -> KeySet:
    """The ring from ``KINGDOM_TOKEN_KEYS_FILE``, or a ring of the one HS256 secret."""
    if settings.token_keys is not None:
        return settings.token_keys
    secret = signing_secret(settings)
    return KeySet.single(HmacKey(key_id(secret), secret))


def cursor_key(keys: KeySet) -> bytes:
    """The page-cursor HMAC key, derived from the active key's private material."""
    if keys.active is None:
        raise ValueError("the key set has no active key to derive the cursor key from")
    return derived_key(_private_material(keys.active), "cursors")


def _private_material(key: SigningKey) -> bytes:
    if isinstance(key, HmacKey):
        return key.signing_key
    # PKCS#8 DER is one fixed encoding of the private key: the same bytes in
    # every worker and after every restart.
    return key.signing_key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())


def signing_secret(settings: Settings) -> bytes:
    if settings.signing_key is not None:
        return settings.signing_key.encode()
    path = settings.data_dir / KEY_FILE
    if not path.exists():
        _create_key_file(path)
    secret = path.read_bytes().strip()
    if len(secret) < 32:
        raise ValueError(f"{path} holds a key shorter than 32 bytes; delete it to regenerate")
    return secret


def key_id(secret: bytes) -> str:
    """A stable, non-secret name for ``secret`` (the JWT ``kid``)."""
    return "hs-" + hashlib.sha256(b"kingdom-kid:" + secret).hexdigest()[:16]


def derived_key(secret: bytes, label: str) -> bytes:
    return hmac.new(secret, f"kingdom:{label}".encode(), hashlib.sha256).digest()


def _create_key_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another worker won the race: use its key
        return
    with os.fdopen(descriptor, "w") as file:
        file.write(secrets.token_urlsafe(48))
