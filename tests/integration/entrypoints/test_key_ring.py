"""The token key ring file: loading, every way it can be wrong, and the settings around it.

Real files in a temporary directory; keys made with cryptography.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from kingdom.adapters.security import Ed25519Key, HmacKey, KeySet, RsaKey
from kingdom.entrypoints import keys as keys_cli
from kingdom.entrypoints.key_ring import KeyRingError, load_key_ring
from kingdom.entrypoints.secrets import cursor_key, derived_key, key_id, signing_keys
from kingdom.entrypoints.settings import Settings, SettingsError

SECRET = "a-shared-secret-of-more-than-32-bytes!"
ED_PRIVATE = ed25519.Ed25519PrivateKey.generate()
RSA_PRIVATE = rsa.generate_private_key(public_exponent=65537, key_size=2048)


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


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    (tmp_path / "ed.pem").write_bytes(private_pem(ED_PRIVATE))
    (tmp_path / "ed.pub.pem").write_bytes(public_pem(ED_PRIVATE))
    (tmp_path / "rsa.pem").write_bytes(private_pem(RSA_PRIVATE))
    (tmp_path / "rsa.pub.pem").write_bytes(public_pem(RSA_PRIVATE))
    return tmp_path


def ring(folder: Path, document: Any) -> Path:
    path = folder / "ring.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


ED = {"kid": "ed-1", "alg": "EdDSA", "private_key_file": "ed.pem"}
ED_PUBLIC = {"kid": "ed-1", "alg": "EdDSA", "public_key_file": "ed.pub.pem"}
RS = {"kid": "rs-1", "alg": "RS256", "private_key_file": "rsa.pem"}
RS_PUBLIC = {"kid": "rs-1", "alg": "RS256", "public_key_file": "rsa.pub.pem"}
HS = {"kid": "hs-1", "alg": "HS256", "secret": SECRET}


def test_a_ring_of_every_kind_loads_with_the_active_key_signing(folder: Path) -> None:
    keys = load_key_ring(ring(folder, {"active": "rs-1", "keys": [RS, ED_PUBLIC, HS]}))

    assert keys.kids == ("rs-1", "ed-1", "hs-1")
    retired = keys.get("ed-1")
    assert isinstance(keys.active, RsaKey)
    assert keys.active.kid == "rs-1"
    assert isinstance(retired, Ed25519Key)
    assert not retired.can_sign
    assert isinstance(keys.get("hs-1"), HmacKey)
    assert [jwk["kid"] for jwk in keys.public_jwks()["keys"]] == ["rs-1", "ed-1"]


def test_relative_key_paths_follow_the_ring_not_the_working_directory(
    folder: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    absolute = {**RS_PUBLIC, "public_key_file": str(folder / "rsa.pub.pem")}
    keys = load_key_ring(ring(folder, {"active": "ed-1", "keys": [ED, absolute]}))
    assert keys.kids == ("ed-1", "rs-1")


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ("{not json", "not valid JSON (line 1"),
        (b"\xff\xfe{}", "not valid JSON"),
        ([], "expected a JSON object"),
        ({"active": "ed-1", "keys": [ED], "extra": 1}, "unknown field(s) extra"),
        ({"active": "ed-1"}, '"keys" must be a non-empty list'),
        ({"active": "ed-1", "keys": []}, '"keys" must be a non-empty list'),
        ({"active": "ed-1", "keys": ["ed.pem"]}, "keys[0]: expected an object"),
        ({"active": "ed-1", "keys": [{**ED, "private_keyfile": "x"}]}, "unknown field(s) private_keyfile"),
        ({"active": "ed-1", "keys": [{**ED, "kid": "../../etc/passwd"}]}, "kid must match"),
        ({"active": "ed-1", "keys": [{**ED, "kid": "x' OR '1'='1"}]}, "kid must match"),
        ({"active": "ed-1", "keys": [{**ED, "kid": 7}]}, "kid must match"),
        ({"active": "ed-1", "keys": [{**ED, "alg": "ES256"}]}, "alg must be one of HS256, EdDSA, RS256"),
        ({"active": "ed-1", "keys": [{**ED, "alg": "none"}]}, "alg must be one of"),
        ({"active": "ed-1", "keys": [{"kid": "ed-1", "alg": "EdDSA"}]}, "exactly one of private_key_file or public_key_file"),
        ({"active": "ed-1", "keys": [{**ED, "public_key_file": "ed.pub.pem"}]}, "exactly one of"),
        ({"active": "ed-1", "keys": [{**ED, "private_key_file": ""}]}, "must be a file path"),
        ({"active": "ed-1", "keys": [{**ED, "secret": SECRET}]}, "a secret is for HS256 keys"),
        ({"active": "ed-1", "keys": [{**ED, "private_key_file": "missing.pem"}]}, "no such file"),
        ({"active": "ed-1", "keys": [{**ED, "private_key_file": "ring.json"}]}, "cannot load the PEM key"),
        ({"active": "ed-1", "keys": [{**ED, "private_key_file": "rsa.pem"}]}, "not an Ed25519 key"),
        ({"active": "rs-1", "keys": [{**RS, "private_key_file": "ed.pem"}]}, "not an RSA key"),
        ({"active": "ed-1", "keys": [{**ED, "private_key_file": "ed.pub.pem"}]}, "holds a public key"),
        ({"active": "ed-1", "keys": [ED, {**RS_PUBLIC, "public_key_file": "rsa.pem"}]}, "holds a private key"),
        ({"active": "hs-1", "keys": [{**HS, "secret": "short"}]}, "at least 32 bytes, got 5"),
        ({"active": "hs-1", "keys": [{"kid": "hs-1", "alg": "HS256"}]}, "needs a secret"),
        ({"active": "hs-1", "keys": [{**HS, "secret": 12345}]}, "needs a secret"),
        ({"active": "hs-1", "keys": [{**HS, "private_key_file": "ed.pem"}]}, "takes a secret, not a key file"),
        ({"active": "ed-1", "keys": [ED, {**ED_PUBLIC}]}, "duplicate kid 'ed-1'"),
        ({"keys": [ED]}, '"active" must name'),
        ({"active": "ed-2", "keys": [ED]}, "the active kid 'ed-2' is not among the keys"),
        ({"active": "ed-1", "keys": [ED_PUBLIC, RS]}, "the active key 'ed-1' is verify-only"),
    ],
)  # fmt: skip
def test_every_bad_ring_is_refused_saying_what_is_wrong(
    folder: Path, document: Any, problem: str
) -> None:
    path = folder / "ring.json"
    if isinstance(document, bytes):
        path.write_bytes(document)
    else:
        ring(folder, document)

    with pytest.raises(KeyRingError) as raised:
        load_key_ring(path)

    assert problem in str(raised.value)
    assert SECRET not in str(raised.value)


def test_a_missing_ring_file_is_refused(folder: Path) -> None:
    with pytest.raises(KeyRingError, match="no such file"):
        load_key_ring(folder / "nope.json")


def test_a_short_secret_is_refused_without_quoting_it(folder: Path) -> None:
    short = "only-thirty-one-bytes-of-secret"
    with pytest.raises(KeyRingError) as raised:
        load_key_ring(ring(folder, {"active": "hs-1", "keys": [{**HS, "secret": short}]}))
    assert short not in str(raised.value)


# -- settings --------------------------------------------------------------------------------


def test_the_settings_load_the_ring_and_production_accepts_it(folder: Path) -> None:
    path = ring(folder, {"active": "ed-1", "keys": [ED, RS_PUBLIC]})

    settings = Settings.from_environ(
        {"KINGDOM_ENV": "production", "KINGDOM_TOKEN_KEYS_FILE": str(path)}
    )

    assert settings.token_keys_file == path
    assert settings.token_keys is not None
    assert settings.token_keys.kids == ("ed-1", "rs-1")
    assert settings.signing_key is None
    assert signing_keys(settings) is settings.token_keys


def test_a_bad_ring_is_a_settings_error_naming_the_variable(folder: Path) -> None:
    path = ring(folder, {"active": "ed-1", "keys": [{**ED, "private_key_file": "gone.pem"}]})
    with pytest.raises(SettingsError) as raised:
        Settings.from_environ({"KINGDOM_TOKEN_KEYS_FILE": str(path)})
    assert raised.value.name == "KINGDOM_TOKEN_KEYS_FILE"
    assert "keys[0] (kid 'ed-1'): private_key_file: no such file" in str(raised.value)


def test_a_ring_and_a_single_secret_together_are_refused(folder: Path) -> None:
    path = ring(folder, {"active": "ed-1", "keys": [ED]})
    with pytest.raises(SettingsError) as raised:
        Settings.from_environ(
            {"KINGDOM_TOKEN_KEYS_FILE": str(path), "KINGDOM_TOKEN_SIGNING_KEY": SECRET}
        )
    assert raised.value.name == "KINGDOM_TOKEN_KEYS_FILE"
    assert "not both" in str(raised.value)
    assert SECRET not in str(raised.value)


# -- the cursor key -------------------------------------------------------------------------------


def test_the_cursor_key_of_one_secret_is_the_one_kingdom_always_derived(tmp_path: Path) -> None:
    settings = Settings.from_environ(
        {"KINGDOM_TOKEN_SIGNING_KEY": SECRET, "KINGDOM_DATA_DIR": str(tmp_path)}
    )
    keys = signing_keys(settings)

    assert keys.kids == (key_id(SECRET.encode()),)
    assert cursor_key(keys) == derived_key(SECRET.encode(), "cursors")


def test_the_cursor_key_follows_the_active_key_and_is_stable(folder: Path) -> None:
    both = [ED, RS]
    ed_active = load_key_ring(ring(folder, {"active": "ed-1", "keys": both}))
    ed_again = load_key_ring(ring(folder, {"active": "ed-1", "keys": [ED, RS_PUBLIC]}))
    rs_active = load_key_ring(ring(folder, {"active": "rs-1", "keys": both}))

    keys = {cursor_key(ed_active), cursor_key(rs_active)}
    assert cursor_key(ed_active) == cursor_key(ed_again)  # same active key, same cursors
    assert len(keys) == 2
    assert all(len(key) == 32 for key in keys)
    raw = ED_PRIVATE.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    assert raw not in cursor_key(ed_active)
    with pytest.raises(ValueError, match="no active key"):
        cursor_key(KeySet([Ed25519Key("ed-1", ED_PRIVATE.public_key())]))


# -- the keys CLI -----------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["EdDSA", "RS256"])
def test_the_cli_generates_a_key_pair_the_ring_accepts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], algorithm: str
) -> None:
    out = tmp_path / "keys"
    code = keys_cli.main(
        ["generate", "--alg", algorithm, "--kid", "k2", "--out", str(out), "--bits", "2048"]
    )
    signing, retired = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    again = keys_cli.main(["generate", "--alg", algorithm, "--kid", "k2", "--out", str(out)])

    assert (code, again) == (0, 2)  # never overwrites a key
    assert os.stat(out / "k2.pem").st_mode & 0o077 == 0
    keys = load_key_ring(ring(tmp_path, {"active": "k2", "keys": [signing]}))
    public = load_key_ring(ring(tmp_path, {"active": "hs-1", "keys": [retired, HS]}))
    assert keys.public_jwks()["keys"] == [public.public_jwks()["keys"][0]]
    assert keys.public_jwks()["keys"][0]["alg"] == algorithm

    assert keys_cli.main(["check", str(tmp_path / "ring.json")]) == 0
    assert "k2\t" in capsys.readouterr().out


def test_the_cli_prints_an_hs256_entry_and_check_reports_bad_rings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert keys_cli.main(["generate", "--alg", "HS256", "--kid", "hs-9"]) == 0
    entry = json.loads(capsys.readouterr().out)
    keys = load_key_ring(ring(tmp_path, {"active": "hs-9", "keys": [entry]}))
    assert keys.public_jwks() == {"keys": []}
    assert len(entry["secret"]) >= 48

    assert keys_cli.main(["check", str(tmp_path / "missing.json")]) == 2
    assert "no such file" in capsys.readouterr().err
