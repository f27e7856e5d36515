"""``./pants run packages/entrypoints:keys -- ...``: make and check token signing keys.

``generate --alg EdDSA --kid 2025-06 --out DIR`` writes ``DIR/2025-06.pem``
(the private key, owner-only) and ``DIR/2025-06.pub.pem`` and prints the
key ring entries for it: one to sign with, one to keep it as a retired,
verify-only key. ``--alg HS256`` prints an entry with a fresh random secret
instead (nothing is written). ``check RING.json`` loads a ring exactly as
the server would and prints its keys and the JWKS it would publish.

The keys come from cryptography (Ed25519, RSA) and :mod:`secrets` (HS256).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from kingdom.adapters.security.tokens import KID_PATTERN, Ed25519Key, HmacKey, RsaKey
from kingdom.entrypoints.key_ring import ALGORITHMS, KeyRingError, load_key_ring

HS256_SECRET_BYTES = 48
"""384 random bits, well past HS256's 256-bit minimum."""


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    try:
        if arguments.command == "generate":
            return _generate(arguments.alg, arguments.kid, arguments.out, arguments.bits)
        return _check(arguments.ring)
    except (KeyRingError, ValueError, OSError) as error:
        print(f"kingdom-keys: {error}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kingdom-keys", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    generate = commands.add_parser("generate", help="make a new key and print its ring entries")
    generate.add_argument("--alg", choices=ALGORITHMS, required=True)
    generate.add_argument("--kid", required=True, help=f"key id, {KID_PATTERN.pattern}")
    generate.add_argument("--out", type=Path, default=Path("."), help="where to write PEM files")
    generate.add_argument("--bits", type=int, default=3072, help="RSA modulus size (>= 2048)")
    check = commands.add_parser("check", help="load a key ring as the server would")
    check.add_argument("ring", type=Path)
    return parser


def _generate(algorithm: str, kid: str, out: Path, bits: int) -> int:
    if algorithm == "HS256":
        key = HmacKey(kid, secrets.token_urlsafe(HS256_SECRET_BYTES).encode())
        _print_entry({"kid": key.kid, "alg": "HS256", "secret": key.signing_key.decode()})
        return 0
    pair = Ed25519Key.generate(kid) if algorithm == "EdDSA" else RsaKey.generate(kid, bits)
    out.mkdir(parents=True, exist_ok=True)
    private = out / f"{kid}.pem"
    public = out / f"{kid}.pub.pem"
    _write(
        private,
        pair.signing_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()),
        0o600,
    )
    _write(
        public,
        pair.public_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo),
        0o644,
    )
    print(f"wrote {private} (private, keep it secret) and {public}", file=sys.stderr)
    print("ring entry to sign with (make it the active key):", file=sys.stderr)
    _print_entry({"kid": kid, "alg": algorithm, "private_key_file": str(private)})
    print("ring entry once retired (verifies only):", file=sys.stderr)
    _print_entry({"kid": kid, "alg": algorithm, "public_key_file": str(public)})
    return 0


def _write(path: Path, data: bytes, mode: int) -> None:
    # O_EXCL: never overwrite a key that may still be in use.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)


def _check(ring: Path) -> int:
    keys = load_key_ring(ring)
    for key in keys:
        role = "active" if keys.active is key else "retired"
        print(f"{key.kid}\t{key.algorithm}\t{role}\t{'signs' if key.can_sign else 'verify-only'}")
    print(json.dumps(keys.public_jwks(), indent=2))
    return 0


def _print_entry(entry: dict[str, str]) -> None:
    print(json.dumps(entry))


if __name__ == "__main__":
    sys.exit(main())
