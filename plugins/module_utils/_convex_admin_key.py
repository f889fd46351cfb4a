# -*- coding: utf-8 -*-
# Copyright: joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to joelclaw.macmini: this module_util may change without notice.
# Use the convex_admin_key module instead of importing it.
"""Convex admin keys: the backend's own algorithm, in Python.

Layout (shared reference convex-selfhost.md section 3.2):

* key  = KBKDF-CTR-HMAC-SHA256(secret, fixed=b"admin key", 16 bytes), the
  32-bit big-endian counter before the fixed info, no separator, no length;
* payload = protobuf AdminKey {issued_s = 2 (varint), member_id = 3 (varint)};
* box  = AES-128-GCM-SIV(key, nonce = 12 random bytes, aad = b"\\x01");
* admin key = "<instance name>|" + hex(0x01 || nonce || ciphertext || tag).
"""

from __future__ import annotations

import os
import re
import time
import traceback

CRYPTOGRAPHY_IMPORT_ERROR = None
try:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.kbkdf import CounterLocation, KBKDFHMAC, Mode
except ImportError:
    CRYPTOGRAPHY_IMPORT_ERROR = traceback.format_exc()

AESGCMSIV_IMPORT_ERROR = None
try:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCMSIV
except ImportError:
    AESGCMSIV = None
    AESGCMSIV_IMPORT_ERROR = traceback.format_exc()

ADMIN_KEY_VERSION = 1
NONCE_LEN = 12
TAG_LEN = 16
KDF_LABEL = b"admin key"
SECRET_RE = re.compile(r"^[0-9a-fA-F]{64}\Z")
# What INSTANCE_NAME may look like (it names a Postgres database too): no '|', no spaces.
INSTANCE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*\Z")


class AdminKeyError(ValueError):
    """A secret, a name or a key is unusable. Messages never contain secret material."""


def crypto_missing():
    """Return (library, traceback) when the cipher is unavailable, else None."""
    if CRYPTOGRAPHY_IMPORT_ERROR:
        return "cryptography", CRYPTOGRAPHY_IMPORT_ERROR
    if AESGCMSIV is None:
        return "cryptography>=42 (AESGCMSIV)", AESGCMSIV_IMPORT_ERROR
    return None


def parse_secret(secret_hex):
    """Return the 32 secret bytes; refuse anything but 64 hex characters."""
    if not isinstance(secret_hex, str):
        raise AdminKeyError("instance_secret must be a string of 64 hex characters")
    value = secret_hex.strip()
    if not SECRET_RE.match(value):
        raise AdminKeyError(
            "instance_secret must be exactly 64 hex characters (32 bytes, as made by "
            "`openssl rand -hex 32`); the value given has %d characters%s. Use the backend's "
            "INSTANCE_SECRET unchanged." % (len(value), "" if re.match(r"^[0-9a-fA-F]*$", value) else " and non-hex characters"))
    return bytes.fromhex(value)


def check_instance_name(name):
    if not isinstance(name, str) or not INSTANCE_NAME_RE.match(name):
        raise AdminKeyError(
            "instance_name %r is not a valid Convex INSTANCE_NAME: expected letters, digits, '-' "
            "or '_' (it prefixes every admin key before '|')." % (name,))
    return name


def derive_key(secret):
    """The 16-byte AES key the backend derives for Purpose::ADMIN_KEY."""
    kdf = KBKDFHMAC(
        algorithm=hashes.SHA256(), mode=Mode.CounterMode, length=16, rlen=4, llen=None,
        location=CounterLocation.BeforeFixed, label=None, context=None, fixed=KDF_LABEL)
    return kdf.derive(secret)


def _varint(number):
    out = bytearray()
    while True:
        byte, number = number & 0x7F, number >> 7
        out.append(byte | (0x80 if number else 0))
        if not number:
            return bytes(out)


def _read_varint(data, pos):
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise AdminKeyError("admin key payload is truncated")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return result, pos


def encode_payload(issued_s, member_id=0, system=False, read_only=False):
    """Serialise convex_keys.AdminKey the way prost does (proto3, oneof always written)."""
    out = b"\x10" + _varint(int(issued_s))
    out += b"\x22\x00" if system else b"\x18" + _varint(int(member_id))
    if read_only:
        out += b"\x28\x01"
    return out


def decode_payload(data):
    """Parse convex_keys.AdminKey into a dict; unknown fields are skipped."""
    fields = {"instance_name": None, "issued_s": 0, "member_id": None, "system": False, "is_read_only": False}
    pos = 0
    while pos < len(data):
        tag, pos = _read_varint(data, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _read_varint(data, pos)
            if number == 2:
                fields["issued_s"] = value
            elif number == 3:
                fields["member_id"] = value
            elif number == 5:
                fields["is_read_only"] = bool(value)
        elif wire == 2:
            length, pos = _read_varint(data, pos)
            chunk = data[pos:pos + length]
            if len(chunk) != length:
                raise AdminKeyError("admin key payload is truncated")
            pos += length
            if number == 1:
                fields["instance_name"] = chunk.decode("utf-8", "replace")
            elif number == 4:
                fields["system"] = True
        else:
            raise AdminKeyError("admin key payload has an unsupported wire type")
    return fields


def issue_admin_key(instance_name, secret_hex, issued_s=None, nonce=None, member_id=0):
    """A new admin key for instance_name, exactly as `generate_key` would print it."""
    check_instance_name(instance_name)
    secret = parse_secret(secret_hex)
    if nonce is None:
        nonce = os.urandom(NONCE_LEN)
    if len(nonce) != NONCE_LEN:
        raise AdminKeyError("nonce must be %d bytes" % NONCE_LEN)
    payload = encode_payload(int(time.time()) if issued_s is None else issued_s, member_id=member_id)
    version = bytes([ADMIN_KEY_VERSION])
    sealed = AESGCMSIV(derive_key(secret)).encrypt(nonce, payload, version)
    return "%s|%s" % (instance_name, (version + nonce + sealed).hex())


def split_admin_key(admin_key):
    """('name', 'hex') from 'name|hex' (an optional 'prod:' style prefix is dropped)."""
    if not isinstance(admin_key, str) or "|" not in admin_key:
        raise AdminKeyError("the admin key is not in the form '<instance name>|<hex>'")
    name, _sep, encoded = admin_key.strip().partition("|")
    if ":" in name:
        name = name.split(":", 1)[1]
    return name, encoded


def decode_admin_key(admin_key, secret_hex):
    """Decrypt an AES-GCM-SIV admin key with the instance secret.

    Returns the payload fields plus 'instance_name' (the key's prefix); raises
    AdminKeyError when the key does not decrypt under this secret.
    """
    name, encoded = split_admin_key(admin_key)
    secret = parse_secret(secret_hex)
    try:
        raw = bytes.fromhex(encoded)
    except ValueError:
        raise AdminKeyError("the admin key's part after '|' is not hex")
    if len(raw) < 1 + NONCE_LEN + TAG_LEN or raw[0] != ADMIN_KEY_VERSION:
        raise AdminKeyError("the admin key is not a version-1 AES-GCM-SIV key")
    nonce, sealed = raw[1:1 + NONCE_LEN], raw[1 + NONCE_LEN:]
    try:
        payload = AESGCMSIV(derive_key(secret)).decrypt(nonce, sealed, raw[:1])
    except InvalidTag:
        raise AdminKeyError("the admin key does not decrypt under this INSTANCE_SECRET")
    fields = decode_payload(payload)
    fields["prefix"] = name
    return fields


def key_is_valid_for(admin_key, instance_name, secret_hex):
    """True when the key carries instance_name and decrypts under secret_hex as an admin key."""
    try:
        fields = decode_admin_key(admin_key, secret_hex)
    except AdminKeyError:
        return False
    return (fields["prefix"] == instance_name and fields["member_id"] is not None
            and not fields["system"] and not fields["is_read_only"])
