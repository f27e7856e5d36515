"""Access-token rejection matrix and the JWKS, against a real server with an asymmetric key ring.

The server signs with an EdDSA key (``ed-1``, active) and still verifies an
RS256 key (``rs-1``, retired). This module holds both private keys, so each
hostile token is made with PyJWT and the *real* keys from the claims of a real
login: a refusal is due to the one property under test, and the accepted
controls prove the crafting itself is sound. Every refusal must be HTTP 401
with ``extensions.code == "UNAUTHENTICATED"``.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import HMACAlgorithm
from jwt.utils import base64url_decode, base64url_encode

from e2e.server import RunningServer, run_server
from kingdom.adapters.security import Ed25519Key
from kingdom.domain.access import Permission, Policy, compile_policies
from kingdom.entrypoints.graphql.global_ids import decode

ISSUER, AUDIENCE = "kingdom", "kingdom-api"
ADMIN_EMAIL, ADMIN_PASSWORD = "admin@kingdom.local", "admin password for e2e"
PASSWORD = "correct horse battery"
LEEWAY = 30  # the verifier's default, seconds
ED_PRIVATE = Ed25519PrivateKey.generate()
RSA_PRIVATE = rsa.generate_private_key(public_exponent=65537, key_size=2048)
VIEWER = "{ viewer { id email } }"
LOGIN = """
mutation($input: LoginInput!) { login(input: $input) { accessToken refreshToken } }
"""
REGISTER = "mutation($input: RegisterUserInput!) { registerUser(input: $input) { userId } }"
CHANGE_PASSWORD = (
    "mutation($input: ChangePasswordInput!) { changePassword(input: $input) { userId } }"
)


def private_pem(key: Any) -> bytes:
    data: bytes = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return data


def public_pem(key: Any) -> bytes:
    data: bytes = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return data


def write_ring(folder: Path) -> Path:
    (folder / "ed-1.pem").write_bytes(private_pem(ED_PRIVATE))
    (folder / "rs-1.pem").write_bytes(private_pem(RSA_PRIVATE))
    ring = {
        "active": "ed-1",
        "keys": [
            {"kid": "ed-1", "alg": "EdDSA", "private_key_file": "ed-1.pem"},
            {"kid": "rs-1", "alg": "RS256", "private_key_file": "rs-1.pem"},
        ],
    }
    path = folder / "ring.json"
    path.write_text(json.dumps(ring))
    return path


@dataclass
class Answer:
    status: int
    body: dict[str, Any]

    @property
    def codes(self) -> list[str]:
        return [e.get("extensions", {}).get("code") for e in self.body.get("errors") or []]


@dataclass
class Api:
    http: httpx.Client

    def execute(
        self, query: str, variables: Mapping[str, Any] | None = None, token: str | None = None
    ) -> Answer:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        response = self.http.post(
            "/graphql", json={"query": query, "variables": dict(variables or {})}, headers=headers
        )
        return Answer(response.status_code, response.json())

    def ok(self, query: str, variables: Mapping[str, Any], token: str | None = None) -> Any:
        answer = self.execute(query, variables, token)
        assert (answer.status, answer.codes) == (200, []), answer.body
        return answer.body["data"]

    def register(self) -> tuple[str, str]:
        email = f"holder-{uuid.uuid4().hex[:8]}@example.org"
        user = {"email": email, "displayName": "Holder", "password": PASSWORD}
        return self.ok(REGISTER, {"input": user})["registerUser"]["userId"], email

    def login(self, email: str, password: str = PASSWORD) -> str:
        return self.session(email, password)[0]

    def session(self, email: str, password: str = PASSWORD) -> tuple[str, str]:
        """A login's access and refresh tokens."""
        data = self.ok(LOGIN, {"input": {"email": email, "password": password}})["login"]
        return data["accessToken"], data["refreshToken"]


@pytest.fixture(scope="module")
def server(
    backend: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    ring = write_ring(tmp_path_factory.mktemp("keys"))
    env = {
        "KINGDOM_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "KINGDOM_TOKEN_KEYS_FILE": str(ring),
        **backend,
    }
    with run_server(tmp_path_factory.mktemp("data"), env) as running:
        yield running


@pytest.fixture(scope="module")
def api(server: RunningServer) -> Iterator[Api]:
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        yield Api(http)


@dataclass
class Holder:
    """A real user, a token the server issued to it, and that token's claims."""

    api: Api
    user_id: str
    email: str
    token: str
    claims: dict[str, Any]

    def fresh(self, **changes: Any) -> dict[str, Any]:
        """The holder's claims, valid now, with ``changes``; a ``None`` change drops the claim."""
        now = int(time.time())
        claims = {**self.claims, "iat": now, "nbf": now, "exp": now + 300, **changes}
        claims["jti"] = changes.get("jti", uuid.uuid4().hex)
        return {name: value for name, value in claims.items() if value is not None}


@pytest.fixture(scope="module")
def holder(api: Api) -> Holder:
    user_id, email = api.register()
    token = api.login(email)
    # Verified with the public key, as any other service would.
    claims = jwt.decode(
        token, ED_PRIVATE.public_key(), algorithms=["EdDSA"], audience=AUDIENCE, issuer=ISSUER
    )
    return Holder(api, user_id, email, token, claims)


# -- crafting -------------------------------------------------------------------------------

Craft = Callable[[Holder], str]


def signed(
    claims: Mapping[str, Any],
    key: Any = ED_PRIVATE,
    algorithm: str = "EdDSA",
    headers: Mapping[str, Any] | None = None,
) -> str:
    """A JWS made by PyJWT with ``key``; the header names ``ed-1`` unless ``headers`` say else."""
    return jwt.encode(
        dict(claims), key, algorithm=algorithm, headers={"kid": "ed-1", **(headers or {})}
    )


def with_header(**header: Any) -> Craft:
    """Valid claims signed by the active key, under a header with ``header`` added."""
    return lambda h: signed(h.fresh(), headers=header)


def segment(data: Mapping[str, Any]) -> str:
    return base64url_encode(json.dumps(dict(data)).encode()).decode()


def hs256_with(secret: bytes, claims: Mapping[str, Any], kid: str) -> str:
    """HS256 keyed with ``secret`` (a public key), through PyJWT's HMAC primitive.

    PyJWT refuses PEM text as an HMAC secret in ``jwt.encode``, which is exactly
    what an attacker would not do: the primitive is called directly.
    """
    signing_input = f"{segment({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{segment(claims)}"
    signature = HMACAlgorithm(HMACAlgorithm.SHA256).sign(signing_input.encode(), secret)
    return f"{signing_input}.{base64url_encode(signature).decode()}"


def tampered_payload(holder: Holder) -> str:
    head, _, signature = holder.token.split(".")
    everything = [Policy.of(name, Permission.ALL) for name in ("accounts", "roles", "users")]
    elevated = {**holder.claims, "pol": compile_policies(everything).encode()}
    return f"{head}.{segment(elevated)}.{signature}"


def tampered_signature(holder: Holder) -> str:
    head, payload, signature = holder.token.split(".")
    # The first character: all six of its bits are signature bits (the last may be padding).
    flipped = ("B" if signature[0] == "A" else "A") + signature[1:]
    assert base64url_decode(flipped) != base64url_decode(signature)
    return f"{head}.{payload}.{flipped}"


def stale_token_version(holder: Holder) -> str:
    """A token that worked (and so sits in the verified-token cache), then a password change."""
    api = holder.api
    _, email = api.register()
    old = api.login(email)
    assert api.execute(VIEWER, token=old).status == 200
    api.ok(
        CHANGE_PASSWORD,
        {"input": {"currentPassword": PASSWORD, "newPassword": "a brand new long secret"}},
        token=old,
    )
    return old


def ed_public_raw() -> bytes:
    return ED_PRIVATE.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def ago(seconds: int) -> int:
    return int(time.time()) - seconds


ACCEPTED: dict[str, Craft] = {
    "control: the token the server issued": lambda h: h.token,
    "control: crafted, signed by the active EdDSA key": lambda h: signed(h.fresh()),
    "control: signed by the retired RS256 key": lambda h: signed(
        h.fresh(), RSA_PRIVATE, "RS256", {"kid": "rs-1"}
    ),
    "exp past by less than the leeway": lambda h: signed(h.fresh(exp=ago(LEEWAY - 20))),
    "nbf ahead by less than the leeway": lambda h: signed(h.fresh(nbf=ago(-(LEEWAY - 20)))),
}
REFUSED: dict[str, Craft] = {
    # Algorithm confusion.
    "alg none": lambda h: jwt.encode(h.fresh(), "", algorithm="none", headers={"kid": "ed-1"}),
    "alg none, spelled None": lambda h: f"{segment({'alg': 'None', 'kid': 'ed-1'})}."
    f"{segment(h.fresh())}.",
    "HS256 keyed with the EdDSA public key (raw)": lambda h: signed(
        h.fresh(), ed_public_raw(), "HS256"
    ),
    "HS256 keyed with the EdDSA public key (PEM)": lambda h: hs256_with(
        public_pem(ED_PRIVATE), h.fresh(), "ed-1"
    ),
    "HS256 keyed with the RS256 public key (PEM)": lambda h: hs256_with(
        public_pem(RSA_PRIVATE), h.fresh(), "rs-1"
    ),
    "RS256 key under the EdDSA kid": lambda h: signed(h.fresh(), RSA_PRIVATE, "RS256"),
    # Integrity.
    "tampered payload": tampered_payload,
    "tampered signature": tampered_signature,
    "signature stripped": lambda h: h.token.rsplit(".", 1)[0] + ".",
    "another key under the active kid": lambda h: signed(h.fresh(), Ed25519PrivateKey.generate()),
    # Time.
    "exp past beyond the leeway": lambda h: signed(
        h.fresh(iat=ago(3600), nbf=ago(3600), exp=ago(LEEWAY + 60))
    ),
    "nbf ahead beyond the leeway": lambda h: signed(h.fresh(nbf=ago(-(LEEWAY + 60)))),
    # Registered claims.
    **{
        f"missing {claim}": (lambda claim: lambda h: signed(h.fresh(**{claim: None})))(claim)
        for claim in ("exp", "iat", "aud", "iss", "nbf", "sub", "jti")
    },
    "wrong aud": lambda h: signed(h.fresh(aud="another-api")),
    "aud as a list": lambda h: signed(h.fresh(aud=[AUDIENCE, "another-api"])),
    **{
        f"iss {issuer!r}": (lambda issuer: lambda h: signed(h.fresh(iss=issuer)))(issuer)
        for issuer in ("not-kingdom", "kingdom ", " kingdom", "kingdom.evil", "KINGDOM", "kingdom/")
    },
    # Key ids and headers.
    "unknown kid": with_header(kid="ed-2"),
    "kid ../../etc/passwd": with_header(kid="../../etc/passwd"),
    "kid x' OR '1'='1": with_header(kid="x' OR '1'='1"),
    "no kid": lambda h: jwt.encode(h.fresh(), ED_PRIVATE, algorithm="EdDSA"),
    "jku header": with_header(jku="https://evil.example/jwks.json"),
    "x5u header": with_header(x5u="https://evil.example/cert.pem"),
    "jwk header": with_header(jwk=Ed25519Key.generate("ed-1").public_jwk()),
    "unknown crit": with_header(crit=["kingdom-ext"], **{"kingdom-ext": True}),
    # Other kinds of token.
    "a JWT with typ refresh": lambda h: signed(h.fresh(typ="refresh")),
    "a real, unused refresh token": lambda h: h.api.session(h.email)[1],
    "an opaque <id>.<secret> string": lambda h: f"{uuid.uuid4()}.{secrets.token_urlsafe(32)}",
    # Revocation.
    "stale token_version (password changed)": stale_token_version,
}


@pytest.mark.parametrize(
    ("craft", "accepted"),
    [pytest.param(craft, True, id=name) for name, craft in ACCEPTED.items()]
    + [pytest.param(craft, False, id=name) for name, craft in REFUSED.items()],
)
def test_token_matrix(holder: Holder, craft: Craft, accepted: bool) -> None:
    answer = holder.api.execute(VIEWER, token=craft(holder))

    if accepted:
        assert answer.status == 200, answer.body
        assert answer.body["data"] == {"viewer": {"id": holder.user_id, "email": holder.email}}
    else:
        assert (answer.status, answer.codes) == (401, ["UNAUTHENTICATED"]), answer.body
        assert answer.body.get("data") is None


# -- the JWKS ---------------------------------------------------------------------------------


def test_the_jwks_lets_another_service_verify_tokens_with_no_secret(
    server: RunningServer, holder: Holder
) -> None:
    response = httpx.get(f"{server.base_url}/.well-known/jwks.json")
    document = response.json()
    # As another service would: PyJWT's client fetches the JWKS and picks the key by kid.
    client = jwt.PyJWKClient(f"{server.base_url}/.well-known/jwks.json", cache_keys=False)
    signing_key = client.get_signing_key_from_jwt(holder.token)
    claims = jwt.decode(
        holder.token,
        signing_key.key,
        algorithms=[signing_key.algorithm_name],
        audience=AUDIENCE,
        issuer=ISSUER,
    )

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "public, max-age=300"
    assert [(k["kid"], k["kty"], k["alg"], k["use"]) for k in document["keys"]] == [
        ("ed-1", "OKP", "EdDSA", "sig"),
        ("rs-1", "RSA", "RS256", "sig"),
    ]
    assert all(not {"d", "p", "q", "dp", "dq", "qi", "k"} & set(k) for k in document["keys"])
    assert (signing_key.key_id, signing_key.algorithm_name) == ("ed-1", "EdDSA")
    assert claims == holder.claims
    assert claims["sub"] == decode(holder.user_id)[1]
