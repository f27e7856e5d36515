"""JWT access tokens with the real PyJWT and cryptography: issuing, verifying, rotating keys.

Hostile tokens are crafted with PyJWT itself and the *real* keys, so each
rejection is due to the one property under test, not to a bad signature.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed448, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from kingdom.adapters.security import (
    DEFAULT_LEEWAY,
    DEFAULT_LIFETIME,
    Ed25519Key,
    HmacKey,
    JwtTokenIssuer,
    JwtTokenVerifier,
    KeySet,
    SigningKey,
    VerifiedToken,
)
from kingdom.domain.access import Permission, Policy, PolicyContext, compile_policies
from kingdom.domain.shared import ErrorCode, Unauthenticated
from kingdom.services.fakes import FakeClock
from kingdom.services.ports import TokenIssuer

ISSUER = "https://kingdom.example"
AUDIENCE = "kingdom-api"
USER = "user-0001"
HMAC_SECRET = b"0123456789abcdef0123456789abcdef"  # exactly 32 bytes
CONTEXT = compile_policies(
    [Policy.of("users", Permission.READ), Policy.of("accounts", Permission.ALL, "acc-1")]
)

ED_PRIVATE = Ed25519PrivateKey.generate()
ED_KEY = Ed25519Key("ed-1", ED_PRIVATE)
HS_KEY = HmacKey("hs-1", HMAC_SECRET)


@pytest.fixture()
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture()
def keys() -> KeySet:
    return KeySet([ED_KEY, HS_KEY], active="ed-1")


@pytest.fixture()
def issuer(keys: KeySet, clock: FakeClock) -> JwtTokenIssuer:
    return JwtTokenIssuer(keys, issuer=ISSUER, audience=AUDIENCE, clock=clock)


@pytest.fixture()
def verifier(keys: KeySet, clock: FakeClock) -> JwtTokenVerifier:
    return JwtTokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE, clock=clock)


def claims_at(clock: FakeClock, **overrides: Any) -> dict[str, Any]:
    """Claims a real token would carry now; ``None`` drops a claim."""
    now = int(clock.now().timestamp())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": USER,
        "iat": now,
        "nbf": now,
        "exp": now + 900,
        "jti": "crafted-token-id-0001",
        "typ": "access",
        "pol": CONTEXT.encode(),
        "tv": 1,
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def craft(
    claims: dict[str, Any],
    *,
    key: Any = ED_PRIVATE,
    algorithm: str = "EdDSA",
    headers: dict[str, Any] | None = None,
) -> str:
    """A token signed with PyJWT directly (the real key unless told otherwise)."""
    return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": "ed-1", **(headers or {})})


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_by_hand(header: dict[str, Any], claims: dict[str, Any]) -> str:
    """An EdDSA token with the real key and a header PyJWT would refuse to write."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64(ED_PRIVATE.sign(signing_input.encode()))}"


def rejected(verifier: JwtTokenVerifier, token: str) -> Unauthenticated:
    with pytest.raises(Unauthenticated) as caught:
        verifier.verify(token)
    assert caught.value.code is ErrorCode.UNAUTHENTICATED
    return caught.value


# -- the happy path -----------------------------------------------------------------


def test_the_issuer_implements_the_port(issuer: JwtTokenIssuer) -> None:
    assert isinstance(issuer, TokenIssuer)


def test_an_issued_token_carries_every_claim(issuer: JwtTokenIssuer, clock: FakeClock) -> None:
    issued = issuer.issue(USER, CONTEXT, 7)
    now = int(clock.now().timestamp())

    header = jwt.get_unverified_header(issued.token)
    claims = jwt.decode(issued.token, options={"verify_signature": False})

    assert header == {"alg": "EdDSA", "kid": "ed-1", "typ": "JWT"}
    assert set(claims) == {"iss", "aud", "sub", "iat", "nbf", "exp", "jti", "typ", "pol", "tv"}
    assert claims["iss"] == ISSUER
    assert claims["aud"] == AUDIENCE
    assert claims["sub"] == USER
    assert claims["iat"] == claims["nbf"] == now
    assert claims["exp"] == now + int(DEFAULT_LIFETIME.total_seconds())
    assert claims["typ"] == "access"
    assert claims["pol"] == CONTEXT.encode()
    assert claims["tv"] == 7
    assert len(base64.urlsafe_b64decode(claims["jti"] + "==")) >= 16  # >= 128 bits
    assert issued.expires_at == clock.now() + DEFAULT_LIFETIME
    assert issued.token not in repr(issued)


def test_a_valid_token_is_accepted(
    issuer: JwtTokenIssuer, verifier: JwtTokenVerifier, clock: FakeClock
) -> None:
    issued = issuer.issue(USER, CONTEXT, 7)
    token_id = jwt.decode(issued.token, options={"verify_signature": False})["jti"]

    verified = verifier.verify(issued.token)

    assert verified == VerifiedToken(
        user_id=USER,
        context=CONTEXT,
        token_version=7,
        expires_at=issued.expires_at,
        token_id=token_id,
    )


def test_token_ids_are_unique(issuer: JwtTokenIssuer, verifier: JwtTokenVerifier) -> None:
    ids = {verifier.verify(issuer.issue(USER, CONTEXT, 1).token).token_id for _ in range(200)}
    assert len(ids) == 200


def test_hs256_tokens_round_trip(clock: FakeClock) -> None:
    keys = KeySet.single(HS_KEY)
    token = JwtTokenIssuer(keys, issuer=ISSUER, audience=AUDIENCE, clock=clock).issue(
        USER, PolicyContext.empty(), 0
    )
    assert jwt.get_unverified_header(token.token)["alg"] == "HS256"
    verifier = JwtTokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE, clock=clock)
    assert verifier.verify(token.token).context == PolicyContext.empty()


def test_the_lifetime_is_a_parameter(keys: KeySet, clock: FakeClock) -> None:
    issuer = JwtTokenIssuer(
        keys, issuer=ISSUER, audience=AUDIENCE, clock=clock, lifetime=timedelta(minutes=2)
    )
    assert issuer.issue(USER, CONTEXT, 1).expires_at == clock.now() + timedelta(minutes=2)
    with pytest.raises(ValueError, match="lifetime"):
        JwtTokenIssuer(keys, issuer=ISSUER, audience=AUDIENCE, clock=clock, lifetime=timedelta(0))


def test_an_issuer_needs_an_active_key(clock: FakeClock) -> None:
    verify_only = KeySet([ED_KEY.public()])
    with pytest.raises(ValueError, match="no active key"):
        JwtTokenIssuer(verify_only, issuer=ISSUER, audience=AUDIENCE, clock=clock)


def test_a_verify_only_key_set_verifies(issuer: JwtTokenIssuer, clock: FakeClock) -> None:
    verifier = JwtTokenVerifier(
        KeySet([ED_KEY.public()]), issuer=ISSUER, audience=AUDIENCE, clock=clock
    )
    assert verifier.verify(issuer.issue(USER, CONTEXT, 1).token).user_id == USER


# -- time ----------------------------------------------------------------------------


def test_an_expired_token_is_rejected_once_past_the_leeway(
    issuer: JwtTokenIssuer, verifier: JwtTokenVerifier, clock: FakeClock
) -> None:
    token = issuer.issue(USER, CONTEXT, 1).token
    clock.advance(DEFAULT_LIFETIME + DEFAULT_LEEWAY - timedelta(seconds=1))
    assert verifier.verify(token).user_id == USER  # expired, but within the leeway
    clock.advance(timedelta(seconds=1))
    assert "expired" in rejected(verifier, token).message


def test_the_leeway_is_a_parameter(issuer: JwtTokenIssuer, keys: KeySet, clock: FakeClock) -> None:
    strict = JwtTokenVerifier(
        keys, issuer=ISSUER, audience=AUDIENCE, clock=clock, leeway=timedelta(0)
    )
    token = issuer.issue(USER, CONTEXT, 1).token
    clock.advance(DEFAULT_LIFETIME)
    rejected(strict, token)
    with pytest.raises(ValueError, match="leeway"):
        JwtTokenVerifier(
            keys, issuer=ISSUER, audience=AUDIENCE, clock=clock, leeway=timedelta(hours=1)
        )


def test_a_token_not_yet_valid_is_rejected(verifier: JwtTokenVerifier, clock: FakeClock) -> None:
    now = int(clock.now().timestamp())
    assert verifier.verify(craft(claims_at(clock, nbf=now + 20))).user_id == USER  # skew
    assert "nbf" in rejected(verifier, craft(claims_at(clock, nbf=now + 60))).message


def test_a_token_issued_in_the_future_is_rejected(
    verifier: JwtTokenVerifier, clock: FakeClock
) -> None:
    now = int(clock.now().timestamp())
    assert "iat" in rejected(verifier, craft(claims_at(clock, iat=now + 3600))).message


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
@pytest.mark.parametrize("value", ["1704067200", True, 10**30, 10**400, [1], {"t": 1}])
def test_malformed_times_are_rejected(
    verifier: JwtTokenVerifier, clock: FakeClock, claim: str, value: object
) -> None:
    rejected(verifier, craft(claims_at(clock, **{claim: value})))


# -- forged, tampered and confused tokens --------------------------------------------


def test_alg_none_is_rejected(verifier: JwtTokenVerifier, clock: FakeClock) -> None:
    unsigned = jwt.encode(claims_at(clock), "", algorithm="none", headers={"kid": "ed-1"})
    rejected(verifier, unsigned)
    # Also with an (ignored) signature segment, and with alg spelled otherwise.
    rejected(verifier, unsigned + "c2ln")
    header = b64(json.dumps({"alg": "None", "kid": "ed-1"}).encode())
    rejected(verifier, f"{header}.{b64(json.dumps(claims_at(clock)).encode())}.")


def test_hs256_signed_with_the_ed25519_public_key_is_rejected(
    verifier: JwtTokenVerifier, clock: FakeClock
) -> None:
    public = ED_PRIVATE.public_key()
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # The raw bytes PyJWT will sign with; the PEM it refuses to, so sign by hand.
    rejected(verifier, craft(claims_at(clock), key=raw, algorithm="HS256"))
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "ed-1"}).encode())
    payload = b64(json.dumps(claims_at(clock)).encode())
    signature = hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    rejected(verifier, f"{header}.{payload}.{b64(signature)}")


# PyJWT warns that a 32-byte secret is short for HS512: that is the forger's problem.
@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_the_algorithm_is_pinned_to_the_key_of_the_kid(
    verifier: JwtTokenVerifier, clock: FakeClock
) -> None:
    claims = claims_at(clock)
    # The HMAC key's kid, but EdDSA; and the right secret with another HMAC algorithm.
    rejected(verifier, craft(claims, headers={"kid": "hs-1"}))
    rejected(verifier, craft(claims, key=HMAC_SECRET, algorithm="HS512", headers={"kid": "hs-1"}))
    # And the right HMAC secret under the EdDSA key's kid.
    rejected(verifier, craft(claims, key=HMAC_SECRET, algorithm="HS256"))
    # The control: the same claims, properly signed, pass.
    assert verifier.verify(
        craft(claims, key=HMAC_SECRET, algorithm="HS256", headers={"kid": "hs-1"})
    )


def test_a_tampered_payload_is_rejected(issuer: JwtTokenIssuer, verifier: JwtTokenVerifier) -> None:
    header, payload, signature = issuer.issue(USER, PolicyContext.empty(), 1).token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["pol"] = CONTEXT.encode()  # grant oneself more
    forged = f"{header}.{b64(json.dumps(claims).encode())}.{signature}"
    assert "Signature" in rejected(verifier, forged).message


def test_a_tampered_signature_is_rejected(
    issuer: JwtTokenIssuer, verifier: JwtTokenVerifier
) -> None:
    header, payload, signature = issuer.issue(USER, CONTEXT, 1).token.split(".")
    flipped = ("B" if signature[0] == "A" else "A") + signature[1:]
    rejected(verifier, f"{header}.{payload}.{flipped}")
    rejected(verifier, f"{header}.{payload}.")
    rejected(verifier, f"{header}.{payload}")


def test_a_token_signed_by_another_key_with_a_known_kid_is_rejected(
    verifier: JwtTokenVerifier, clock: FakeClock
) -> None:
    impostor = Ed25519PrivateKey.generate()
    rejected(verifier, craft(claims_at(clock), key=impostor))


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf", "aud", "iss", "sub", "jti"])
def test_a_missing_registered_claim_is_rejected(
    verifier: JwtTokenVerifier, clock: FakeClock, claim: str
) -> None:
    rejected(verifier, craft(claims_at(clock, **{claim: None})))


@pytest.mark.parametrize(
    "audience",
    ["other-api", "kingdom-api ", "Kingdom-api", "", [AUDIENCE], [AUDIENCE, "other-api"], 1],
)
def test_a_wrong_audience_is_rejected(
    verifier: JwtTokenVerifier, clock: FakeClock, audience: object
) -> None:
    rejected(verifier, craft(claims_at(clock, aud=audience)))


@pytest.mark.parametrize(
    "issuer_claim",
    [
        "https://evil.example",
        ISSUER + "/",  # trailing slash
        ISSUER.upper(),  # other case
        "https://KINGDOM.example",
        "http://kingdom.example",
        ISSUER + ".evil.example",
        " " + ISSUER,
        "",
        [ISSUER],
    ],
)
def test_a_wrong_or_look_alike_issuer_is_rejected(
    verifier: JwtTokenVerifier, clock: FakeClock, issuer_claim: object
) -> None:
    claims = claims_at(clock, iss=issuer_claim)
    # PyJWT will not write a non-string issuer.
    header = {"alg": "EdDSA", "typ": "JWT", "kid": "ed-1"}
    rejected(
        verifier, craft(claims) if isinstance(issuer_claim, str) else sign_by_hand(header, claims)
    )


@pytest.mark.parametrize("subject", ["", 42, ["user-0001"]])
def test_a_malformed_subject_is_rejected(
    verifier: JwtTokenVerifier, clock: FakeClock, subject: object
) -> None:
    rejected(verifier, craft(claims_at(clock, sub=subject)))


# -- headers and key ids ---------------------------------------------------------------


def test_an_unknown_kid_is_rejected(verifier: JwtTokenVerifier, clock: FakeClock) -> None:
    assert (
        "unknown key id"
        in rejected(verifier, craft(claims_at(clock), headers={"kid": "ed-2"})).message
    )


@pytest.mark.parametrize(
    "kid",
    ["../ed-1", "../../etc/passwd", "ed-1'", 'ed-1"', "ed-1' OR '1'='1", "ed 1", "ed-1\x00", "ed-1\n",
     "ed.1", "", "é", "x" * 65, 1, None, ["ed-1"]],
)  # fmt: skip
def test_a_malformed_kid_is_rejected_before_any_lookup(
    clock: FakeClock, kid: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = KeySet([ED_KEY])
    lookups: list[object] = []
    original = KeySet.get

    def spy(self: KeySet, kid: str) -> SigningKey | None:
        lookups.append(kid)
        return original(self, kid)

    monkeypatch.setattr(KeySet, "get", spy)
    verifier = JwtTokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE, clock=clock)

    rejected(verifier, sign_by_hand({"alg": "EdDSA", "typ": "JWT", "kid": kid}, claims_at(clock)))
    assert lookups == []
    # The control: the same hand-made token with the right kid passes, after a lookup.
    verifier.verify(sign_by_hand({"alg": "EdDSA", "typ": "JWT", "kid": "ed-1"}, claims_at(clock)))
    assert lookups == ["ed-1"]


def test_a_token_without_kid_is_rejected(verifier: JwtTokenVerifier, clock: FakeClock) -> None:
    token = jwt.encode(claims_at(clock), ED_PRIVATE, algorithm="EdDSA")
    assert "key id" in rejected(verifier, token).message


@pytest.mark.parametrize(
    "header",
    [
        {"jku": "https://evil.example/jwks.json"},
        {"x5u": "https://evil.example/cert.pem"},
        {"jwk": {"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}},
        {"x5c": ["MIIB"]},
        {"crit": ["exp"]},
        {"crit": ["kingdom-extension"], "kingdom-extension": True},
        {"crit": ["b64"], "b64": True},
    ],
)
def test_key_pointing_and_critical_headers_are_rejected(
    verifier: JwtTokenVerifier, clock: FakeClock, header: dict[str, Any]
) -> None:
    # Signed with the real key: only the header is wrong.
    assert "header" in rejected(verifier, craft(claims_at(clock), headers=header)).message


# -- Kingdom's own claims ------------------------------------------------------------------


@pytest.mark.parametrize("typ", ["refresh", "Access", "id", "", None, 1])
def test_only_access_tokens_pass(verifier: JwtTokenVerifier, clock: FakeClock, typ: object) -> None:
    assert "access" in rejected(verifier, craft(claims_at(clock, typ=typ))).message


@pytest.mark.parametrize(
    "pol",
    [
        None,  # missing
        "admin",
        {"v": 3, "p": {}},  # a version this code does not know
        {"v": 1, "p": {"accounts": {"@own": 15}}},  # version 1 had no "@own"
        {"v": 1},
        {"v": 1, "p": {"users": {"*": 999}}},
        {"v": 1, "p": {"users": {"*": "ALL"}}},
        {"v": 1, "p": [], "extra": True},
    ],
)
def test_a_bad_policy_claim_is_rejected(
    verifier: JwtTokenVerifier, clock: FakeClock, pol: object
) -> None:
    assert "policy" in rejected(verifier, craft(claims_at(clock, pol=pol))).message


def test_a_token_issued_before_ownership_existed_still_verifies(
    verifier: JwtTokenVerifier, clock: FakeClock
) -> None:
    # Version 1 of the policy claim (no "@own"): tokens alive at the upgrade stay valid.
    token = verifier.verify(craft(claims_at(clock, pol={"v": 1, "p": {"users": {"*": 1}}})))
    assert token.context == compile_policies([Policy.of("users", Permission.READ)])


def test_own_grants_travel_in_the_token(issuer: JwtTokenIssuer, verifier: JwtTokenVerifier) -> None:
    context = compile_policies([Policy.of("accounts", Permission.ALL, "@own")])
    assert verifier.verify(issuer.issue(USER, context, 0).token).context == context


@pytest.mark.parametrize("tv", [None, "1", True, -1, 1.5])
def test_a_bad_token_version_is_rejected(
    verifier: JwtTokenVerifier, clock: FakeClock, tv: object
) -> None:
    assert "version" in rejected(verifier, craft(claims_at(clock, tv=tv))).message


def test_the_token_version_is_reported_not_judged(
    issuer: JwtTokenIssuer, verifier: JwtTokenVerifier
) -> None:
    # Comparing it with the user's current version is the caller's job.
    assert verifier.verify(issuer.issue(USER, CONTEXT, 0).token).token_version == 0
    assert verifier.verify(issuer.issue(USER, CONTEXT, 42).token).token_version == 42


# -- garbage -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    ["", "abc", "a.b", "a.b.c", "...", "e30.e30.", "e30.e30.e30", "W10.e30.", "bnVsbA.e30.",
     "\x00", "ey" * 20000],
)  # fmt: skip
def test_garbage_is_rejected(verifier: JwtTokenVerifier, token: str) -> None:
    rejected(verifier, token)


def test_an_oversized_token_is_rejected_before_parsing(
    verifier: JwtTokenVerifier, clock: FakeClock
) -> None:
    huge = craft(claims_at(clock, padding="x" * 20000))
    assert "too long" in rejected(verifier, huge).message


@given(st.text(max_size=300) | st.from_regex(r"[A-Za-z0-9_\-]{0,60}(\.[A-Za-z0-9_\-=]{0,60}){2}"))
def test_arbitrary_input_only_ever_raises_unauthenticated(token: str) -> None:
    verifier = JwtTokenVerifier(
        KeySet([ED_KEY, HS_KEY]), issuer=ISSUER, audience=AUDIENCE, clock=FakeClock()
    )
    with pytest.raises(Unauthenticated):
        verifier.verify(token)


# -- keys and rotation -------------------------------------------------------------------


def test_a_retired_key_verifies_until_removed(clock: FakeClock) -> None:
    first = KeySet.single(Ed25519Key.generate("2024-01"))
    old_token = JwtTokenIssuer(first, issuer=ISSUER, audience=AUDIENCE, clock=clock).issue(
        USER, CONTEXT, 1
    )

    rotated = first.rotate(Ed25519Key.generate("2024-02"))
    new_token = JwtTokenIssuer(rotated, issuer=ISSUER, audience=AUDIENCE, clock=clock).issue(
        USER, CONTEXT, 1
    )
    assert jwt.get_unverified_header(new_token.token)["kid"] == "2024-02"
    assert rotated.active is not None
    assert rotated.active.kid == "2024-02"

    during = JwtTokenVerifier(rotated, issuer=ISSUER, audience=AUDIENCE, clock=clock)
    assert during.verify(old_token.token).user_id == USER
    assert during.verify(new_token.token).user_id == USER

    after = JwtTokenVerifier(
        rotated.remove("2024-01"), issuer=ISSUER, audience=AUDIENCE, clock=clock
    )
    assert "unknown key id" in rejected(after, old_token.token).message
    assert after.verify(new_token.token).user_id == USER


def test_key_set_rules() -> None:
    keys = KeySet([ED_KEY, HS_KEY], active="ed-1")
    with pytest.raises(ValueError, match="active"):
        keys.remove("ed-1")
    with pytest.raises(ValueError, match="no key"):
        keys.remove("nope")
    with pytest.raises(ValueError, match="duplicate"):
        KeySet([ED_KEY, Ed25519Key.generate("ed-1")])
    with pytest.raises(ValueError, match="not in the set"):
        KeySet([ED_KEY], active="hs-1")
    with pytest.raises(ValueError, match="cannot sign"):
        KeySet([ED_KEY.public()], active="ed-1")
    with pytest.raises(ValueError, match="at least one"):
        KeySet([])
    assert keys.activate("hs-1").active is HS_KEY
    assert keys.kids == ("ed-1", "hs-1")
    assert "hs-1" in keys
    assert len(keys) == 2


@pytest.mark.parametrize("length", [0, 1, 16, 31])
def test_a_short_hmac_secret_is_refused(length: int) -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        HmacKey("hs", b"k" * length)


def test_hmac_secrets_that_are_really_keys_are_refused() -> None:
    pem = ED_PRIVATE.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(ValueError, match="HS256"):
        HmacKey("hs", pem)
    with pytest.raises(TypeError):
        HmacKey("hs", "a string secret of 32 characters!")  # type: ignore[arg-type]
    assert "0123" not in repr(HS_KEY)


@pytest.mark.parametrize("kid", ["../x", "a b", "", "x" * 65, "ünï"])
def test_keys_refuse_malformed_kids(kid: str) -> None:
    with pytest.raises(ValueError, match="key id"):
        HmacKey(kid, HMAC_SECRET)
    with pytest.raises(ValueError, match="key id"):
        Ed25519Key.generate(kid)


def test_ed25519_keys_load_from_pem_or_objects(clock: FakeClock) -> None:
    private_pem = ED_PRIVATE.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = ED_PRIVATE.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signer = Ed25519Key("ed-1", private_pem.decode())
    checker = Ed25519Key("ed-1", public_pem)
    assert signer.can_sign
    assert not checker.can_sign
    assert signer.public_jwk() == checker.public_jwk() == ED_KEY.public_jwk()
    with pytest.raises(ValueError, match="cannot sign"):
        _ = checker.signing_key

    token = JwtTokenIssuer(KeySet.single(signer), issuer=ISSUER, audience=AUDIENCE, clock=clock)
    verifier = JwtTokenVerifier(KeySet([checker]), issuer=ISSUER, audience=AUDIENCE, clock=clock)
    assert verifier.verify(token.issue(USER, CONTEXT, 1).token).context == CONTEXT


def test_other_key_types_are_refused() -> None:
    rsa_pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    encrypted = ED_PRIVATE.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"),
    )
    for material in (rsa_pem, encrypted, b"not a pem", "-----BEGIN PUBLIC KEY-----\nAA==\n"):
        with pytest.raises(ValueError, match="PEM|Ed25519"):
            Ed25519Key("k", material)
    with pytest.raises(ValueError, match="not an Ed25519 key"):
        Ed25519Key("k", ed448.Ed448PrivateKey.generate())  # type: ignore[arg-type]


def test_public_jwks_lists_the_eddsa_public_keys_only() -> None:
    retired = Ed25519Key.generate("ed-0").public()
    keys = KeySet([retired, ED_KEY, HS_KEY], active="ed-1")

    jwks = keys.public_jwks()

    raw = ED_PRIVATE.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    assert [jwk["kid"] for jwk in jwks["keys"]] == ["ed-0", "ed-1"]
    assert jwks["keys"][1] == {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": b64(raw),
        "kid": "ed-1",
        "alg": "EdDSA",
        "use": "sig",
    }
    text = json.dumps(jwks)
    assert '"d"' not in text
    assert b64(HMAC_SECRET) not in text
    assert "hs-1" not in text


def test_a_third_party_can_verify_with_the_published_jwks(
    issuer: JwtTokenIssuer, keys: KeySet
) -> None:
    token = issuer.issue(USER, CONTEXT, 1).token
    jwk_set = jwt.PyJWKSet.from_dict(keys.public_jwks())
    kid = jwt.get_unverified_header(token)["kid"]
    claims = jwt.decode(
        token,
        jwk_set[kid].key,
        algorithms=["EdDSA"],
        audience=AUDIENCE,
        issuer=ISSUER,
        options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
    )
    assert claims["sub"] == USER
    assert datetime.fromtimestamp(claims["exp"], UTC) == datetime(2024, 1, 1, 0, 15, tzinfo=UTC)
