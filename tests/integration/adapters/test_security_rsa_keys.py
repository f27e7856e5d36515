"""RS256 keys with the real cryptography and PyJWT: loading, signing, verifying, publishing.

RSA key generation is slow-ish, so the module makes its keys once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import HMACAlgorithm
from jwt.utils import base64url_decode, base64url_encode

from kingdom.adapters.security import (
    Ed25519Key,
    HmacKey,
    JwtTokenIssuer,
    JwtTokenVerifier,
    KeySet,
    RsaKey,
)
from kingdom.domain.access import Permission, Policy, compile_policies
from kingdom.domain.shared import Unauthenticated
from kingdom.services.fakes import FakeClock

ISSUER, AUDIENCE, USER = "kingdom", "kingdom-api", "user-0001"
CONTEXT = compile_policies([Policy.of("users", Permission.READ)])
RSA_PRIVATE = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RS_KEY = RsaKey("rs-1", RSA_PRIVATE)


def pem(key: Any) -> bytes:
    if isinstance(key, rsa.RSAPrivateKey):
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    data: bytes = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return data


def b64(data: bytes) -> str:
    return base64url_encode(data).decode()


@pytest.fixture()
def clock() -> FakeClock:
    return FakeClock()


def test_rs256_tokens_round_trip_through_a_public_only_key(clock: FakeClock) -> None:
    issued = JwtTokenIssuer(
        KeySet.single(RsaKey("rs-1", pem(RSA_PRIVATE).decode())),
        issuer=ISSUER,
        audience=AUDIENCE,
        clock=clock,
    ).issue(USER, CONTEXT, 3)
    checker = RsaKey("rs-1", pem(RSA_PRIVATE.public_key()))
    verifier = JwtTokenVerifier(KeySet([checker]), issuer=ISSUER, audience=AUDIENCE, clock=clock)

    verified = verifier.verify(issued.token)

    assert jwt.get_unverified_header(issued.token) == {"alg": "RS256", "kid": "rs-1", "typ": "JWT"}
    assert (verified.user_id, verified.token_version, verified.context) == (USER, 3, CONTEXT)
    assert not checker.can_sign
    assert repr(checker) == "RsaKey(kid='rs-1', public)"
    with pytest.raises(ValueError, match="cannot sign"):
        _ = checker.signing_key


def test_the_public_jwk_has_n_and_e_and_no_private_member() -> None:
    jwk = RS_KEY.public_jwk()
    numbers = RSA_PRIVATE.public_key().public_numbers()

    assert set(jwk) == {"kty", "n", "e", "kid", "alg", "use"}
    assert (jwk["kty"], jwk["kid"], jwk["alg"], jwk["use"]) == ("RSA", "rs-1", "RS256", "sig")
    assert int.from_bytes(base64url_decode(jwk["n"]), "big") == numbers.n
    assert jwk["e"] == "AQAB"  # 65537
    assert jwk == RS_KEY.public().public_jwk()
    # PyJWT reads it back into the same public key.
    assert jwt.PyJWK.from_dict(jwk).key.public_numbers() == numbers


def test_the_jwks_holds_the_asymmetric_keys_active_and_retired_never_a_secret() -> None:
    secret = b"s" * 40
    keys = KeySet(
        [Ed25519Key.generate("ed-0").public(), RS_KEY, HmacKey("hs-1", secret)], active="rs-1"
    )
    text = json.dumps(keys.public_jwks())

    assert [jwk["kid"] for jwk in keys.public_jwks()["keys"]] == ["ed-0", "rs-1"]
    assert "hs-1" not in text
    assert b64(secret) not in text
    assert '"d"' not in text
    assert KeySet.single(HmacKey("hs-1", secret)).public_jwks() == {"keys": []}


@pytest.mark.parametrize("bits", [1024, 1536])
def test_rsa_keys_under_2048_bits_are_refused(bits: int) -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    with pytest.raises(ValueError, match="at least 2048"):
        RsaKey("rs-small", small)
    with pytest.raises(ValueError, match="at least 2048"):
        RsaKey("rs-small", pem(small.public_key()))


def test_other_material_is_refused() -> None:
    ed_pem = pem(Ed25519Key.generate("ed").signing_key.public_key())
    encrypted = RSA_PRIVATE.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"),
    )
    for material in (ed_pem, encrypted, b"not a pem"):
        with pytest.raises(ValueError, match="PEM|RSA"):
            RsaKey("rs", material)
    with pytest.raises(ValueError, match="key id"):
        RsaKey("../rs", RSA_PRIVATE)


def test_hs256_signed_with_the_rsa_public_key_is_refused(clock: FakeClock) -> None:
    """The classic confusion: the public PEM used as an HMAC secret under the RSA kid."""
    verifier = JwtTokenVerifier(KeySet([RS_KEY]), issuer=ISSUER, audience=AUDIENCE, clock=clock)
    now = int(clock.now().timestamp())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": USER, "iat": now, "nbf": now,
              "exp": now + 60, "jti": "j", "typ": "access", "pol": CONTEXT.encode(), "tv": 1}  # fmt: skip
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rs-1"}).encode())
    payload = b64(json.dumps(claims).encode())
    signing_input = f"{header}.{payload}".encode()
    # PyJWT's HMAC primitive, bypassing its own refusal to use a PEM as a secret.
    signature = HMACAlgorithm(HMACAlgorithm.SHA256).sign(
        signing_input, pem(RSA_PRIVATE.public_key())
    )
    assert (
        signature == hmac.new(pem(RSA_PRIVATE.public_key()), signing_input, hashlib.sha256).digest()
    )

    with pytest.raises(Unauthenticated):
        verifier.verify(f"{header}.{payload}.{b64(signature)}")
    # The control: the same claims signed with the RSA key pass.
    assert (
        verifier.verify(jwt.encode(claims, RSA_PRIVATE, "RS256", {"kid": "rs-1"})).user_id == USER
    )
