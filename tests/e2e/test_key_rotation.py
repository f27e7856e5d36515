"""Signing-key rotation by kid, end to end: the same data directory, the server restarted per ring.

A: one HS256 key            -> nothing to publish: the JWKS path answers 404
B: EdDSA ed-1 signs, HS256 hs-0 retired  -> hs-0's token still accepted
C: RS256 rs-2 signs, ed-1 retired as a bare public key -> ed-1's token accepted,
   hs-0's refused (removed)
D: rs-2 alone               -> ed-1's token refused, rs-2's accepted

Also: a key ring the server cannot use stops it with exit status 2 and a
message naming the variable.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from e2e.server import RunningServer, run_server

ADMIN_EMAIL, ADMIN_PASSWORD = "admin@kingdom.local", "admin password for e2e"
LOGIN = "mutation($input: LoginInput!) { login(input: $input) { accessToken } }"
VIEWER = "{ viewer { email } }"
HS_0 = {"kid": "hs-0", "alg": "HS256", "secret": "rotation-test-secret-0123456789abcdef"}
ED_1 = {"kid": "ed-1", "alg": "EdDSA", "private_key_file": "ed-1.pem"}
ED_1_RETIRED = {"kid": "ed-1", "alg": "EdDSA", "public_key_file": "ed-1.pub.pem"}
RS_2 = {"kid": "rs-2", "alg": "RS256", "private_key_file": "rs-2.pem"}


def write_keys(folder: Path) -> None:
    ed = Ed25519PrivateKey.generate()
    rs = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for name, key in (("ed-1", ed), ("rs-2", rs)):
        (folder / f"{name}.pem").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    (folder / "ed-1.pub.pem").write_bytes(
        ed.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def write_ring(folder: Path, active: str, *keys: dict[str, str]) -> Path:
    path = folder / "ring.json"
    path.write_text(json.dumps({"active": active, "keys": list(keys)}))
    return path


def login(server: RunningServer) -> str:
    response = httpx.post(
        f"{server.base_url}/graphql",
        json={
            "query": LOGIN,
            "variables": {"input": {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}},
        },
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["data"]["login"]["accessToken"]
    return token


def viewer(server: RunningServer, token: str) -> tuple[int, Any]:
    response = httpx.post(
        f"{server.base_url}/graphql",
        json={"query": VIEWER},
        headers={"Authorization": f"Bearer {token}"},
    )
    body = response.json()
    if response.status_code == 200:
        return 200, body["data"]["viewer"]["email"]
    return response.status_code, [e["extensions"]["code"] for e in body["errors"]]


def published(server: RunningServer) -> tuple[int, list[str]]:
    response = httpx.get(f"{server.base_url}/.well-known/jwks.json")
    kids = [key["kid"] for key in response.json()["keys"]] if response.status_code == 200 else []
    return response.status_code, kids


ACCEPTED = (200, ADMIN_EMAIL)
REFUSED = (401, ["UNAUTHENTICATED"])


def test_a_new_key_signs_old_keys_verify_until_removed(tmp_path: Path) -> None:
    keys, data = tmp_path / "keys", tmp_path / "data"
    keys.mkdir()
    write_keys(keys)
    env = {"KINGDOM_ADMIN_PASSWORD": ADMIN_PASSWORD}

    def serve(active: str, *ring: dict[str, str]) -> Any:
        return run_server(
            data, {**env, "KINGDOM_TOKEN_KEYS_FILE": str(write_ring(keys, active, *ring))}
        )

    with serve("hs-0", HS_0) as server:
        jwks_a = published(server)
        hs_token = login(server)
        a = viewer(server, hs_token)
    with serve("ed-1", ED_1, HS_0) as server:
        jwks_b = published(server)
        ed_token = login(server)
        b = viewer(server, hs_token), viewer(server, ed_token)
    with serve("rs-2", RS_2, ED_1_RETIRED) as server:
        jwks_c = published(server)
        rs_token = login(server)
        c = viewer(server, hs_token), viewer(server, ed_token), viewer(server, rs_token)
    with serve("rs-2", RS_2) as server:
        jwks_d = published(server)
        d = viewer(server, ed_token), viewer(server, rs_token)

    kids = [jwt.get_unverified_header(t)["kid"] for t in (hs_token, ed_token, rs_token)]
    assert kids == ["hs-0", "ed-1", "rs-2"]
    assert (jwks_a, a) == ((404, []), ACCEPTED)
    assert (jwks_b, b) == ((200, ["ed-1"]), (ACCEPTED, ACCEPTED))
    assert (jwks_c, c) == ((200, ["rs-2", "ed-1"]), (REFUSED, ACCEPTED, ACCEPTED))
    assert (jwks_d, d) == ((200, ["rs-2"]), (REFUSED, ACCEPTED))


@pytest.mark.parametrize(
    ("ring", "extra", "problem"),
    [
        (None, {"KINGDOM_TOKEN_SIGNING_KEY": HS_0["secret"]}, "not both"),
        ({"active": "ed-1", "keys": [{**ED_1, "private_key_file": "nope.pem"}]}, {}, "no such file"),
        ({"active": "ed-1", "keys": [ED_1_RETIRED, RS_2]}, {}, "verify-only"),
        ({"active": "ed-1", "keys": [{**ED_1, "private_key_file": "ed-1.pub.pem"}]}, {}, "holds a public key"),
        ({"active": "hs-0", "keys": [{**HS_0, "secret": "short"}]}, {}, "at least 32 bytes"),
    ],
)  # fmt: skip
def test_an_unusable_key_ring_stops_the_server_with_status_2(
    tmp_path: Path, ring: dict[str, Any] | None, extra: dict[str, str], problem: str
) -> None:
    write_keys(tmp_path)
    path = write_ring(tmp_path, "ed-1", ED_1) if ring is None else tmp_path / "ring.json"
    if ring is not None:
        path.write_text(json.dumps(ring))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
        "KINGDOM_DATA_DIR": str(tmp_path / "data"),
        "KINGDOM_TOKEN_KEYS_FILE": str(path),
        **extra,
    }

    done = subprocess.run(
        [sys.executable, "-m", "kingdom.entrypoints.server"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 2, done.stderr
    assert "kingdom: invalid setting KINGDOM_TOKEN_KEYS_FILE=" in done.stderr
    assert problem in done.stderr
    assert HS_0["secret"] not in done.stderr
