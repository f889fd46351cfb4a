# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""convex_auth_keys: load or generate the Convex Auth RS256 key, never rotate by accident."""
from __future__ import annotations

import base64
import json
import os
import stat

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives import hashes

from ansible_collections.joelclaw.macmini.plugins.modules import convex_auth_keys


def run(run_module, args, check_mode=False, diff=False, no_log=True):
    return run_module(convex_auth_keys, dict(args, _ansible_no_log=no_log), check_mode=check_mode, diff=diff)


def pem_of(key, fmt=serialization.PrivateFormat.PKCS8, encryption=None):
    return key.private_bytes(serialization.Encoding.PEM, fmt, encryption or serialization.NoEncryption()).decode()


def b64url_int(value):
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")


def key_from_env(jwt_private_key):
    """What jose's importPKCS8 sees: the JWT_PRIVATE_KEY value with spaces turned back into lines."""
    body = jwt_private_key[len("-----BEGIN PRIVATE KEY----- "):-len(" -----END PRIVATE KEY-----")]
    pem = "-----BEGIN PRIVATE KEY-----\n%s\n-----END PRIVATE KEY-----\n" % body.replace(" ", "\n")
    return serialization.load_pem_private_key(pem.encode(), password=None)


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_generates_a_key_file_0600_in_the_upstream_formats(run_module, tmp_path):
    path = tmp_path / "state" / "jwt.pem"
    result = run(run_module, {"path": str(path)})
    assert result["changed"] is True and result["source"] == "generated" and result["key_size"] == 2048
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    value = result["jwt_private_key"]
    assert value.startswith("-----BEGIN PRIVATE KEY----- ") and value.endswith(" -----END PRIVATE KEY-----")
    assert "\n" not in value
    key = key_from_env(value)
    assert pem_of(key) == path.read_text()
    # JWKS exactly as JSON.stringify({keys: [{use: "sig", ...exportJWK(publicKey)}]}) prints it.
    assert result["jwks"].startswith('{"keys":[{"use":"sig","kty":"RSA","n":"') and " " not in result["jwks"]
    jwk = json.loads(result["jwks"])["keys"][0]
    assert list(jwk) == ["use", "kty", "n", "e"]
    numbers = key.public_key().public_numbers()
    assert b64url_int(jwk["n"]) == numbers.n and jwk["e"] == "AQAB"


def test_the_jwks_verifies_what_the_private_key_signs(run_module, tmp_path):
    result = run(run_module, {"path": str(tmp_path / "jwt.pem")})
    key = key_from_env(result["jwt_private_key"])
    jwk = json.loads(result["jwks"])["keys"][0]
    public = rsa.RSAPublicNumbers(b64url_int(jwk["e"]), b64url_int(jwk["n"])).public_key()
    signature = key.sign(b"header.payload", padding.PKCS1v15(), hashes.SHA256())
    public.verify(signature, b"header.payload", padding.PKCS1v15(), hashes.SHA256())


def test_a_rerun_reads_the_same_key_and_changes_nothing(run_module, tmp_path):
    path = str(tmp_path / "jwt.pem")
    first = run(run_module, {"path": path})
    second = run(run_module, {"path": path})
    assert second["changed"] is False and second["source"] == "file"
    assert second["jwt_private_key"] == first["jwt_private_key"] and second["jwks"] == first["jwks"]
    assert second["fingerprint"] == first["fingerprint"]


def test_rotate_makes_a_new_key_only_when_asked(run_module, tmp_path):
    path = str(tmp_path / "jwt.pem")
    first = run(run_module, {"path": path})
    rotated = run(run_module, {"path": path, "rotate": True}, diff=True)
    assert rotated["changed"] is True and rotated["source"] == "rotated"
    assert rotated["fingerprint"] != first["fingerprint"] and rotated["jwks"] != first["jwks"]
    assert first["fingerprint"] in rotated["diff"]["before"] and rotated["fingerprint"] in rotated["diff"]["after"]
    again = run(run_module, {"path": path})
    assert again["changed"] is False and again["fingerprint"] == rotated["fingerprint"]


def test_check_mode_predicts_generation_and_rotation_without_writing(run_module, tmp_path):
    path = tmp_path / "jwt.pem"
    predicted = run(run_module, {"path": str(path)}, check_mode=True)
    assert predicted["changed"] is True and predicted["source"] == "generated" and not path.exists()
    real = run(run_module, {"path": str(path)})
    before = path.read_text()
    rotation = run(run_module, {"path": str(path), "rotate": True}, check_mode=True)
    assert rotation["changed"] is True and rotation["fingerprint"] != real["fingerprint"]
    assert path.read_text() == before
    unchanged = run(run_module, {"path": str(path)}, check_mode=True)
    assert unchanged["changed"] is False and unchanged["fingerprint"] == real["fingerprint"]


def test_a_wide_mode_is_narrowed_to_0600_and_the_key_kept(run_module, tmp_path):
    path = tmp_path / "jwt.pem"
    first = run(run_module, {"path": str(path)})
    os.chmod(path, 0o644)
    checked = run(run_module, {"path": str(path)}, check_mode=True)
    assert checked["changed"] is True and stat.S_IMODE(os.stat(path).st_mode) == 0o644
    fixed = run(run_module, {"path": str(path)}, diff=True)
    assert fixed["changed"] is True and fixed["fingerprint"] == first["fingerprint"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and fixed["diff"]["before"] == "mode 0644\n"


@pytest.mark.parametrize("form", ["pem", "env"])
def test_a_vaulted_key_is_taken_as_is_in_either_form(run_module, rsa_key, form):
    pem = pem_of(rsa_key)
    given = pem if form == "pem" else pem.rstrip().replace("\n", " ")
    result = run(run_module, {"private_key": given})
    assert result["changed"] is False and result["source"] == "private_key"
    # Returned unmasked (the task is no_log), identical to the upstream form of this key.
    assert result["jwt_private_key"] == pem.rstrip().replace("\n", " ")
    assert b64url_int(json.loads(result["jwks"])["keys"][0]["n"]) == rsa_key.public_key().public_numbers().n


def test_refuses_to_run_unless_the_task_is_no_log(run_module, tmp_path):
    path = tmp_path / "jwt.pem"
    result = run(run_module, {"path": str(path)}, no_log=False)
    assert result["failed"] is True and "no_log: true" in result["msg"]
    assert "jwt_private_key" not in result and not path.exists()


def bad_keys():
    ec_key = ec.generate_private_key(ec.SECP256R1())
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    good = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {
        "ec": (pem_of(ec_key), "needs an RSA key"),
        "pkcs1": (pem_of(good, serialization.PrivateFormat.TraditionalOpenSSL), "PKCS#1"),
        "encrypted": (pem_of(good, encryption=serialization.BestAvailableEncryption(b"pw")), "encrypted"),
        "small": (pem_of(small), "1024-bit"),
        "public": (good.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo).decode(),
                   "'PUBLIC KEY'"),
        "garbage": ("not a key at all", "is not a PEM"),
        "bad_base64": ("-----BEGIN PRIVATE KEY-----\n@@@@\n-----END PRIVATE KEY-----\n", "not base64"),
    }


BAD = bad_keys()


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_bad_vaulted_key_is_refused_clearly(run_module, name):
    text, expected = BAD[name]
    result = run(run_module, {"private_key": text})
    assert result["failed"] is True and expected in result["msg"] and "private_key" in result["msg"]
    assert "jwt_private_key" not in result
    for line in text.splitlines()[1:-1]:
        assert line not in result["msg"]


@pytest.mark.parametrize("name", ["ec", "pkcs1"])
def test_a_bad_key_file_is_refused_and_left_alone(run_module, tmp_path, name):
    path = tmp_path / "jwt.pem"
    path.write_text(BAD[name][0])
    result = run(run_module, {"path": str(path)})
    assert result["failed"] is True and BAD[name][1] in result["msg"] and str(path) in result["msg"]
    assert path.read_text() == BAD[name][0]


def test_a_bad_key_file_can_be_replaced_by_rotating(run_module, tmp_path):
    path = tmp_path / "jwt.pem"
    path.write_text(BAD["ec"][0])
    result = run(run_module, {"path": str(path), "rotate": True})
    assert result["failed"] is True and "needs an RSA key" in result["msg"]


def test_rotate_with_a_vaulted_key_is_refused(run_module, rsa_key):
    result = run(run_module, {"private_key": pem_of(rsa_key), "rotate": True})
    assert result["failed"] is True and "rotate=true needs path" in result["msg"]


def test_path_and_private_key_are_exclusive(run_module, tmp_path, rsa_key):
    result = run(run_module, {"path": str(tmp_path / "k.pem"), "private_key": pem_of(rsa_key)})
    assert result["failed"] is True and "mutually exclusive" in result["msg"]
