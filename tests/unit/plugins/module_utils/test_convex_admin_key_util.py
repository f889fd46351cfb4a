# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The admin-key algorithm, against fixed vectors and against the stand-in's independent code."""
from __future__ import annotations

import hashlib
import hmac
import os

import pytest

from ansible_collections.joelclaw.macmini.plugins.module_utils import _convex_admin_key as ak

import convex_standin

# crates/keybroker/dev/secret.txt (reference 3.4) and the self-consistency vector there.
DEV_SECRET = "4361726e697461732c206c69746572616c6c79206d65616e696e6720226c6974"
DEV_VECTOR = "carnitas|01000000000000000000000000193c1d1d0ffdb38a78c50cfd2c3a4f7b118dbc819ff70f5f"


def test_derived_key_matches_reference_vector():
    assert ak.derive_key(bytes.fromhex(DEV_SECRET)).hex() == "a7526e1715ea4effa55636bee910d731"


def test_kbkdf_is_counter_before_label_without_length():
    secret = os.urandom(32)
    manual = hmac.new(secret, b"\x00\x00\x00\x01admin key", hashlib.sha256).digest()[:16]
    assert ak.derive_key(secret) == manual


def test_payload_bytes_match_reference():
    assert ak.encode_payload(1700000000).hex() == "1080e2cfaa061800"


def test_key_matches_reference_vector_exactly():
    key = ak.issue_admin_key("carnitas", DEV_SECRET, issued_s=1700000000, nonce=bytes(12))
    assert key == DEV_VECTOR
    assert len(key.split("|")[1]) == 74


def test_random_nonce_keys_differ_but_both_decode():
    one, two = (ak.issue_admin_key("joelclaw", DEV_SECRET) for _index in range(2))
    assert one != two
    for key in (one, two):
        fields = ak.decode_admin_key(key, DEV_SECRET)
        assert fields["prefix"] == "joelclaw" and fields["member_id"] == 0 and not fields["system"]


def test_wrong_secret_and_tampering_are_rejected():
    key = ak.issue_admin_key("joelclaw", DEV_SECRET)
    with pytest.raises(ak.AdminKeyError, match="does not decrypt"):
        ak.decode_admin_key(key, "00" * 32)
    flipped = key[:-1] + ("0" if key[-1] != "0" else "1")
    assert not ak.key_is_valid_for(flipped, "joelclaw", DEV_SECRET)
    assert not ak.key_is_valid_for(key, "other", DEV_SECRET)
    assert ak.key_is_valid_for(key, "joelclaw", DEV_SECRET)


def test_legacy_reference_key_is_not_taken_for_a_new_format_key():
    legacy = ("carnitas|01ec1dc4339bc4a2c653e70016b1e1dea952bcfd707a0cd49c1bddcdfcd4d4a79bb2d6bdfa2f1493a1937cdb71e984c4a7")
    assert not ak.key_is_valid_for(legacy, "carnitas", DEV_SECRET)


@pytest.mark.parametrize("secret, fragment", [
    ("ab" * 31, "62 characters"),
    ("zz" * 32, "non-hex"),
    ("", "0 characters"),
])
def test_secret_must_be_64_hex(secret, fragment):
    with pytest.raises(ak.AdminKeyError) as exc:
        ak.parse_secret(secret)
    assert fragment in str(exc.value) and "64 hex" in str(exc.value)
    if secret:
        assert secret not in str(exc.value)


def test_secret_with_trailing_newline_is_accepted():
    assert ak.parse_secret(DEV_SECRET + "\n") == bytes.fromhex(DEV_SECRET)


@pytest.mark.parametrize("name", ["", "a|b", "has space", "-lead"])
def test_bad_instance_names_are_refused(name):
    with pytest.raises(ak.AdminKeyError):
        ak.check_instance_name(name)


def test_standin_verifies_module_keys_with_its_own_code():
    key = ak.issue_admin_key("joelclaw", DEV_SECRET)
    assert convex_standin.key_is_admin(key, "joelclaw", bytes.fromhex(DEV_SECRET))
    assert not convex_standin.key_is_admin(key, "joelclaw", bytes(32))
    assert not convex_standin.key_is_admin(key.replace("joelclaw|", "other|"), "joelclaw", bytes.fromhex(DEV_SECRET))
    standin_key = convex_standin.make_admin_key("joelclaw", DEV_SECRET)
    assert ak.key_is_valid_for(standin_key, "joelclaw", DEV_SECRET)


# RFC 8452 Appendix C.1 (AEAD_AES_128_GCM_SIV): key, nonce, plaintext, aad -> result.
RFC8452 = [
    ("01000000000000000000000000000000", "030000000000000000000000", "", "", "dc20e2d83f25705bb49e439eca56de25"),
    ("01000000000000000000000000000000", "030000000000000000000000", "0100000000000000", "",
     "b5d839330ac7b786578782fff6013b815b287c22493a364c"),
]


@pytest.mark.parametrize("key, nonce, plaintext, aad, expected", RFC8452)
def test_standin_pure_python_gcm_siv_matches_rfc8452(key, nonce, plaintext, aad, expected):
    cipher = convex_standin.PurePythonAESGCMSIV(bytes.fromhex(key))
    sealed = cipher.encrypt(bytes.fromhex(nonce), bytes.fromhex(plaintext), bytes.fromhex(aad))
    assert sealed.hex() == expected
    assert cipher.decrypt(bytes.fromhex(nonce), sealed, bytes.fromhex(aad)).hex() == plaintext


def test_standin_pure_python_gcm_siv_matches_cryptography_on_key_sized_payloads():
    from cryptography.hazmat.primitives.ciphers.aead import AESGCMSIV
    for size in (0, 8, 9, 16, 33):
        key, nonce, data = os.urandom(16), os.urandom(12), os.urandom(size)
        ours = convex_standin.PurePythonAESGCMSIV(key).encrypt(nonce, data, b"\x01")
        assert ours == AESGCMSIV(key).encrypt(nonce, data, b"\x01")
        with pytest.raises(ValueError):
            convex_standin.PurePythonAESGCMSIV(key).decrypt(nonce, ours[:-1] + bytes([ours[-1] ^ 1]), b"\x01")
